// CRC-32C (Castagnoli): the checksum of checkpoint tensors and of TensorBoard's record framing.
// Hardware CRC32 instructions (SSE4.2) when the build targets them, else a byte table; both give
// the same values. No shapes here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gb {

// CRC-32C (polynomial 0x82F63B78 reflected, initial ~0, final xor ~0), as iSCSI and TFRecord use
// it: crc32c("123456789") == 0xE3069283, crc32c("") == 0.
uint32_t crc32c(const void* data, size_t size);
inline uint32_t crc32c(std::string_view bytes) { return crc32c(bytes.data(), bytes.size()); }

// The CRC-32C of the concatenation a + b, given crc = crc32c(a): crc32c_extend(crc32c(a), b) ==
// crc32c(a + b), and crc32c_extend(0, b) == crc32c(b).
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);

}  // namespace gb
