/* stb_image compiled into the fuzz build (GLASSBOX_FUZZ only), PNG and JPEG only, so that the
   decoder itself carries coverage and sanitizer instrumentation; these definitions take the place
   of the system libstb's for every fuzz executable. The normal build uses libstb. */
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#include <stb/stb_image.h>
