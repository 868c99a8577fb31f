// Whole-file reading and in-memory gunzip (zlib's inflate with gzip header detection).
#include "data/file_io.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/error.h"

namespace gb::data {

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

std::vector<uint8_t> read_file(const std::string& path) {
  if (!std::filesystem::exists(path)) throw DataError(path, "no such file or directory");
  if (is_directory(path)) throw DataError(path, "is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path, std::string("cannot open: ") + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw DataError(path, "cannot determine file size");
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw DataError(path, "read error");
  }
  return bytes;
}

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& bytes, const std::string& name,
                            size_t max_bytes) {
  std::vector<uint8_t> out;
  out.reserve(std::min(bytes.size() * 4, max_bytes));
  size_t pos = 0;
  // One iteration per gzip member; a file may hold several concatenated members.
  while (pos < bytes.size()) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw DataError(name, "zlib init failed");
    zs.next_in = const_cast<Bytef*>(bytes.data() + pos);
    zs.avail_in = static_cast<uInt>(bytes.size() - pos);
    int rc = Z_OK;
    uint8_t chunk[1 << 16];
    while (rc != Z_STREAM_END) {
      zs.next_out = chunk;
      zs.avail_out = sizeof(chunk);
      rc = inflate(&zs, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END) {
        const bool truncated = (rc == Z_BUF_ERROR && zs.avail_in == 0);
        const std::string msg = zs.msg ? zs.msg : zError(rc);
        inflateEnd(&zs);
        throw DataError(name, truncated ? "truncated gzip stream (unexpected end of data)"
                                        : "corrupt gzip stream (" + msg + ")");
      }
      const size_t got = sizeof(chunk) - zs.avail_out;
      if (got > max_bytes - out.size()) {
        inflateEnd(&zs);
        throw DataError(name, "gzip stream decompresses to more than " + std::to_string(max_bytes) +
                                  " bytes (refused)");
      }
      out.insert(out.end(), chunk, chunk + got);
    }
    pos = bytes.size() - zs.avail_in;
    inflateEnd(&zs);
    // Trailing zero padding after the last member is tolerated (as gzip(1) does).
    if (pos < bytes.size() && bytes[pos] != 0x1f) {
      bool all_zero = true;
      for (size_t i = pos; i < bytes.size(); ++i) all_zero = all_zero && bytes[i] == 0;
      if (all_zero) break;
      throw DataError(name, "corrupt gzip stream (trailing garbage after member)");
    }
  }
  return out;
}

std::vector<uint8_t> maybe_gunzip(std::vector<uint8_t> bytes, const std::string& name) {
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) return gunzip(bytes, name);
  return bytes;
}

std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
  return maybe_gunzip(read_file(path), path);
}

}  // namespace gb::data
