// Structural checks of PNG and JPEG bytes made before stb_image sees them: what stb_image 2.27
// (Debian's libstb) would otherwise turn into an out-of-bounds write, a huge allocation, an
// assertion failure or a read of uninitialised tables (each found by tests/fuzz), and the size a
// header declares, for the limits of image.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace gb::data {

struct ImageBytesCheck {
  std::string problem;            // "" when the bytes pass; else the cause, for a DataError
  int64_t width = 0, height = 0;  // as the header declares them (0: not found)
};

// requires: bytes start with the PNG signature. Refused: a chunk longer than the rest of the file
// (stb_image allocates an IDAT's declared length before reading it); an empty IDAT before any
// image data (stb_image then reads into a null buffer). Sizes from IHDR.
ImageBytesCheck check_png_bytes(const uint8_t* bytes, size_t size);

// requires: bytes start with FF D8 FF. Refused: a Huffman table (every FF C4 read as a DHT
// segment) of more than 256 codes or incomplete (beyond the reserved all-ones code); a scan that
// uses a Huffman table no DHT before it defined; more than kMaxJpegPixelsPerByte pixels per byte
// of file (stb_image decodes truncated data as zeros, so a few hundred bytes could otherwise
// stand for 2^26 pixels). Sizes from the frame header (SOFn).
ImageBytesCheck check_jpeg_bytes(const uint8_t* bytes, size_t size);

// The most pixels a JPEG may declare per byte of file: twice what the most compact legal coding
// of a flat image needs (one bit per 8x8 block and component in a progressive DC scan).
inline constexpr int64_t kMaxJpegPixelsPerByte = 1024;

}  // namespace gb::data
