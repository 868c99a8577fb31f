// PNG chunk walk and JPEG marker walk of image_checks.h.
#include "data/image_checks.h"

#include <algorithm>

namespace gb::data {
namespace {

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

unsigned be16(const uint8_t* p) { return (unsigned{p[0]} << 8) | p[1]; }

// True if the 16 code counts of a JPEG Huffman table (`counts[i]` codes of i + 1 bits) make a
// code stb_image decodes safely: at most 256 codes, and complete (every bit string starts with a
// code) or complete but for the all-ones code of the longest length, which the JPEG standard
// reserves. libjpeg's tables and the standard's example tables are always of this form.
bool huffman_counts_ok(const int counts[16]) {
  int codes = 0, longest = 0;
  int64_t space = 0;  // the code space used, in units of 2^-16
  for (int i = 0; i < 16; ++i) {
    codes += counts[i];
    space += int64_t{counts[i]} << (15 - i);
    if (counts[i] > 0) longest = i + 1;
  }
  if (codes == 0) return true;  // decodes nothing: every symbol is an error
  const int64_t full = int64_t{1} << 16;
  return codes <= 256 && (space == full || space == full - (int64_t{1} << (16 - longest)));
}

// Walks the tables of the DHT segment whose length field is at `at`, as stb_image reads them
// (zeros past the end of the file); calls define(class, id) for each. False on a bad table.
template <class Define>
bool walk_dht(const uint8_t* b, size_t size, size_t at, Define define) {
  int64_t left = int64_t{be16(b + at)} - 2;
  size_t p = at + 2;
  while (left > 0 && p < size) {
    int counts[16], codes = 0;
    for (size_t i = 0; i < 16; ++i) {
      counts[i] = p + 1 + i < size ? b[p + 1 + i] : 0;
      codes += counts[i];
    }
    if (!huffman_counts_ok(counts)) return false;
    define(b[p] >> 4, b[p] & 15);
    p += 17 + static_cast<size_t>(codes);
    left -= 17 + codes;
  }
  return true;
}

bool is_sof(uint8_t m) { return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc; }

// The Huffman tables a scan header (SOS payload at `s`, `n` bytes) uses are defined.
bool scan_tables_defined(const uint8_t* s, size_t n, const bool dc[4], const bool ac[4]) {
  if (n < 1) return true;  // stb_image refuses it
  const size_t comps = s[0];
  if (n < 4 + 2 * comps) return true;
  const unsigned ss = s[1 + 2 * comps], se = s[2 + 2 * comps], ah = s[3 + 2 * comps] >> 4;
  const bool needs_dc = ss == 0 && ah == 0;  // DC first pass (or a sequential scan)
  const bool needs_ac = se > 0;              // AC coefficients (sequential, or progressive AC)
  for (size_t i = 0; i < comps; ++i) {
    const unsigned td = s[2 + 2 * i] >> 4, ta = s[2 + 2 * i] & 15;
    if (needs_dc && (td > 3 || !dc[td])) return false;
    if (needs_ac && (ta > 3 || !ac[ta])) return false;
  }
  return true;
}

}  // namespace

ImageBytesCheck check_png_bytes(const uint8_t* b, size_t size) {
  ImageBytesCheck out;
  if (size >= 24 && std::equal(b + 12, b + 16, "IHDR")) {
    out.width = be32(b + 16);
    out.height = be32(b + 20);
  }
  bool data = false;  // an IDAT with bytes seen
  for (size_t at = 8; at + 8 <= size; at += 12 + be32(b + at)) {
    const uint32_t length = be32(b + at);
    if (length > size - at - 8) {
      out.problem = "truncated or corrupt PNG (a chunk longer than the file)";
      break;
    }
    if (std::equal(b + at + 4, b + at + 8, "IDAT")) {
      if (length == 0 && !data) {
        out.problem = "corrupt PNG (an empty IDAT chunk before the image data)";
        break;
      }
      data = true;
    }
    if (std::equal(b + at + 4, b + at + 8, "IEND")) break;
  }
  return out;
}

ImageBytesCheck check_jpeg_bytes(const uint8_t* b, size_t size) {
  ImageBytesCheck out;
  const auto ignore = [](int, int) {};
  for (size_t at = 0; at + 4 <= size; ++at) {
    if (b[at] == 0xff && b[at + 1] == 0xc4 && !walk_dht(b, size, at + 2, ignore)) {
      out.problem = "corrupt JPEG (a Huffman table of more than 256 codes, or incomplete)";
      return out;
    }
  }
  bool dc[4] = {}, ac[4] = {};
  const auto define = [&](int cls, int id) {
    if (cls <= 1 && id <= 3) (cls == 0 ? dc : ac)[id] = true;
  };
  for (size_t at = 2; at + 4 <= size;) {
    const uint8_t m = b[at + 1];
    if (b[at] != 0xff || m == 0xff) {  // entropy-coded data, or a fill byte
      ++at;
      continue;
    }
    if (m == 0x00 || m == 0x01 || (m >= 0xd0 && m <= 0xd8)) {  // stuffing, TEM, RSTn, SOI
      at += 2;
      continue;
    }
    if (m == 0xd9) break;  // EOI
    const size_t len = be16(b + at + 2), avail = std::min<size_t>(len, size - at - 2);
    if (m == 0xc4) walk_dht(b, size, at + 2, define);
    if (is_sof(m) && avail >= 7) {
      out.height = be16(b + at + 5);
      out.width = be16(b + at + 7);
    }
    if (m == 0xda && !scan_tables_defined(b + at + 4, avail >= 2 ? avail - 2 : 0, dc, ac)) {
      out.problem = "corrupt JPEG (a scan uses a Huffman table that was never defined)";
      return out;
    }
    at += 2 + std::max<size_t>(len, 2);
  }
  if (out.width * out.height > kMaxJpegPixelsPerByte * static_cast<int64_t>(size)) {
    out.problem = "truncated JPEG (" + std::to_string(size) + " bytes cannot hold " +
                  std::to_string(out.width) + " x " + std::to_string(out.height) + " pixels)";
  }
  return out;
}

}  // namespace gb::data
