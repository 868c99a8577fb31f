// CRC-32C: the SSE4.2 crc32 instruction 8 bytes at a time where the build has it, else the
// byte-at-a-time table of the reflected polynomial (see checksum.h).
#include "runtime/checksum.h"

#include <array>
#include <cstring>

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

namespace gb {
namespace {

#if !defined(__SSE4_2__)
constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();
#endif

// The running (not yet inverted) CRC `c` advanced over `size` bytes.
uint32_t advance(uint32_t c, const uint8_t* p, size_t size) {
#if defined(__SSE4_2__)
  uint64_t c64 = c;
  for (; size >= 8; size -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c64 = _mm_crc32_u64(c64, word);
  }
  c = static_cast<uint32_t>(c64);
  for (; size > 0; --size, ++p) c = _mm_crc32_u8(c, *p);
#else
  for (; size > 0; --size, ++p) c = kCrc32cTable[(c ^ *p) & 0xFFu] ^ (c >> 8);
#endif
  return c;
}

}  // namespace

uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size) {
  return advance(crc ^ 0xFFFFFFFFu, static_cast<const uint8_t*>(data), size) ^ 0xFFFFFFFFu;
}

uint32_t crc32c(const void* data, size_t size) { return crc32c_extend(0, data, size); }

}  // namespace gb
