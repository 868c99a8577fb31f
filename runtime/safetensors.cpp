// safetensors reading (with full validation of header and offsets) and atomic writing.
#include "runtime/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <utility>

namespace gb {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; this code copies it as is");

constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit
constexpr std::string_view kMetadataKey = "__metadata__";

struct DtypeInfo {
  std::string_view name;
  size_t size;
};
constexpr DtypeInfo kDtypes[] = {{"F32", 4}, {"F16", 2}, {"BF16", 2},
                                 {"I64", 8}, {"I32", 4}, {"U8", 1}};

size_t dtype_size_or_zero(std::string_view dtype) {
  for (const auto& d : kDtypes)
    if (d.name == dtype) return d.size;
  return 0;
}

// Appends instead of "'" + std::string(s) + "'": GCC 12 warns on that operator+ chain at -O3
// (-Wrestrict inside std::string, a known false positive).
std::string squote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out += s;
  out += '\'';
  return out;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& cause) {
  throw std::runtime_error(path.string() + ": " + cause);
}

std::string errno_str() { return std::strerror(errno); }

// `text` with every byte outside printable ASCII written as \xNN: parser messages quote the
// damaged bytes they met, which need not be valid UTF-8 (or printable) text.
std::string printable(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f) {
      out.push_back(c);
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      out += {'\\', 'x', kHex[b >> 4], kHex[b & 15]};
    }
  }
  return out;
}

// Byte size of numel(shape) elements of `elem` bytes; throws (no path) on overflow/negative dims.
uint64_t byte_size(const std::vector<int64_t>& shape, size_t elem) {
  const uint64_t n = safetensors_numel(shape);
  if (n != 0 && elem > std::numeric_limits<uint64_t>::max() / n)
    throw std::runtime_error("byte size of shape " + shape_str(shape) + " overflows 64 bits");
  return n * elem;
}

// Closes a file descriptor on scope exit unless released.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const uint8_t* p, size_t n, const std::filesystem::path& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(path, "write failed: " + errno_str());
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void pread_all(int fd, uint8_t* p, size_t n, uint64_t offset, const std::filesystem::path& path) {
  while (n > 0) {
    const ssize_t r =
        ::pread(fd, p, std::min<size_t>(n, size_t{1} << 30), static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      fail(path, "read failed: " + errno_str());
    }
    if (r == 0) fail(path, "truncated data: file ended while reading (did it change?)");
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
}

// The JSON header for `order` (indices into file.entries, sorted by name), unpadded.
std::string header_json(const SafetensorsFile& file, const std::vector<size_t>& order) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!file.metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : file.metadata) m[k] = v;
    h[std::string(kMetadataKey)] = std::move(m);
  }
  uint64_t offset = 0;
  for (size_t i : order) {
    const auto& e = file.entries[i];
    nlohmann::ordered_json t = nlohmann::ordered_json::object();
    t["dtype"] = e.dtype;
    t["shape"] = e.shape;
    t["data_offsets"] = {offset, offset + e.bytes.size()};
    offset += e.bytes.size();
    h[e.name] = std::move(t);
  }
  return h.dump();  // compact, like serde_json; throws type_error on invalid UTF-8
}

// Tracks object keys while parsing, to catch duplicates (nlohmann keeps the last silently).
struct DuplicateCheck {
  std::vector<std::set<std::string>> stack;
  std::string error;
  bool operator()(int depth, nlohmann::json::parse_event_t ev, nlohmann::json& j) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) {
      stack.emplace_back();
    } else if (ev == E::object_end) {
      if (!stack.empty()) stack.pop_back();
    } else if (ev == E::key && !stack.empty() && error.empty()) {
      const std::string& k = j.get_ref<const std::string&>();
      if (!stack.back().insert(k).second)
        error = depth == 1 ? "duplicate tensor name " + squote(k)
                           : "duplicate key " + squote(k) + " in the header";
    }
    return true;
  }
};

uint64_t read_u64(const nlohmann::json& v, const std::filesystem::path& path,
                  const std::string& what) {
  if (!v.is_number_unsigned())
    fail(path, what + " must be a non-negative integer, got " + v.dump());
  return v.get<uint64_t>();
}

struct Located {
  uint64_t begin, end;
  size_t index;  // into the entries vector
};

}  // namespace

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  for (const auto& e : entries)
    if (e.name == name) return &e;
  return nullptr;
}

size_t safetensors_dtype_size(std::string_view dtype) {
  const size_t s = dtype_size_or_zero(dtype);
  if (s == 0)
    throw std::runtime_error("unknown dtype " + squote(dtype) +
                             " (known: F32, F16, BF16, I64, I32, U8)");
  return s;
}

uint64_t safetensors_numel(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw std::runtime_error("negative dimension in shape " + shape_str(shape));
    const auto u = static_cast<uint64_t>(d);
    if (u != 0 && n > std::numeric_limits<uint64_t>::max() / u)
      throw std::runtime_error("element count of shape " + shape_str(shape) + " overflows");
    n *= u;
  }
  return n;
}

void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& file) {
  // 1. Check everything before touching the file system.
  std::vector<size_t> order(file.entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return file.entries[a].name < file.entries[b].name; });
  for (size_t k = 0; k < order.size(); ++k) {
    const auto& e = file.entries[order[k]];
    if (e.name == kMetadataKey) fail(path, "a tensor may not be called " + squote(kMetadataKey));
    if (k > 0 && file.entries[order[k - 1]].name == e.name)
      fail(path, "duplicate tensor name " + squote(e.name));
    uint64_t want = 0;
    try {
      want = byte_size(e.shape, safetensors_dtype_size(e.dtype));
    } catch (const std::exception& ex) {
      fail(path, "tensor " + squote(e.name) + ": " + ex.what());
    }
    if (want != e.bytes.size())
      fail(path, "tensor " + squote(e.name) + ": " + std::to_string(e.bytes.size()) +
                     " bytes given, but dtype " + e.dtype + " and shape " + shape_str(e.shape) +
                     " need " + std::to_string(want));
  }
  std::string header;
  try {
    header = header_json(file, order);
  } catch (const nlohmann::json::exception& ex) {
    fail(path,
         std::string("cannot encode header (names and metadata must be UTF-8): ") + ex.what());
  }
  header.append((8 - header.size() % 8) % 8, ' ');
  uint8_t len[8];
  const auto header_len = static_cast<uint64_t>(header.size());
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(header_len >> (8 * i));

  // 2. Write a temporary file next to the target, fsync it and rename it over the target.
  const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  Fd fd;
  fd.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd.fd < 0) fail(path, "cannot create " + tmp.string() + ": " + errno_str());
  try {
    write_all(fd.fd, len, 8, path);
    write_all(fd.fd, reinterpret_cast<const uint8_t*>(header.data()), header.size(), path);
    for (size_t i : order)
      write_all(fd.fd, file.entries[i].bytes.data(), file.entries[i].bytes.size(), path);
    if (::fsync(fd.fd) != 0) fail(path, "fsync failed: " + errno_str());
    const int f = fd.fd;
    fd.fd = -1;
    if (::close(f) != 0) fail(path, "close failed: " + errno_str());
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      fail(path, "cannot rename " + tmp.string() + " over it: " + errno_str());
  } catch (...) {
    if (fd.fd >= 0) {
      ::close(fd.fd);
      fd.fd = -1;
    }
    ::unlink(tmp.c_str());
    throw;
  }
  // 3. Make the rename durable (best effort: the new file is already in place).
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

namespace {
// requires: the tensors' byte ranges tile [0, data_size) exactly (no overlap, gap or overrun);
// otherwise fails naming the file and the tensor. Sorts `located` by offset.
void check_tiling(const std::filesystem::path& path, std::vector<Located>& located,
                  const std::vector<SafetensorsEntry>& entries, uint64_t data_size) {
  std::sort(located.begin(), located.end(), [](const Located& a, const Located& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  uint64_t expect = 0;
  for (size_t k = 0; k < located.size(); ++k) {
    const Located& l = located[k];
    const std::string what = "tensor " + squote(entries[l.index].name) + ": data_offsets [" +
                             std::to_string(l.begin) + ", " + std::to_string(l.end) + "]";
    if (l.begin < expect)
      fail(path, what + " overlap tensor " + squote(entries[located[k - 1].index].name));
    if (l.begin > expect)
      fail(path,
           what + " leave a gap of " + std::to_string(l.begin - expect) + " bytes before them");
    if (l.end > data_size)
      fail(path, what + " run past the end of the data area (" + std::to_string(data_size) +
                     " bytes): data truncated or offsets out of range");
    expect = l.end;
  }
  if (expect != data_size)
    fail(path,
         std::to_string(data_size - expect) + " bytes of trailing data after the last tensor");
}
}  // namespace

namespace {
// The header length from the first 8 bytes, checked against the limit and the file size.
uint64_t header_length(const uint8_t len[8], uint64_t size, const std::filesystem::path& path) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t{len[i]} << (8 * i);
  if (n > kMaxHeader)
    fail(path, "header length " + std::to_string(n) + " is absurd (limit " +
                   std::to_string(kMaxHeader) + " bytes); not a safetensors file?");
  if (n > size - 8)
    fail(path, "header length " + std::to_string(n) + " is larger than the file (" +
                   std::to_string(size) + " bytes)");
  return n;
}

nlohmann::json parse_header_json(std::string_view text, const std::filesystem::path& path) {
  // nlohmann's parser stops at a NUL, so bytes after one would be ignored: refuse it (JSON text
  // holds none; the padding is spaces).
  if (text.find('\0') != std::string_view::npos) fail(path, "header holds a NUL byte");
  nlohmann::json header;
  DuplicateCheck dup;
  try {
    header = nlohmann::json::parse(text, std::ref(dup));
  } catch (const nlohmann::json::exception& ex) {
    fail(path, "header is not valid JSON: " + printable(ex.what()));
  }
  if (!dup.error.empty()) fail(path, dup.error);
  if (!header.is_object()) fail(path, "header is not a JSON object");
  return header;
}

void read_metadata(const nlohmann::json& v, SafetensorsFile& out,
                   const std::filesystem::path& path) {
  if (!v.is_object()) fail(path, "__metadata__ is not a JSON object");
  for (auto m = v.begin(); m != v.end(); ++m) {
    if (!m.value().is_string())
      fail(path, "__metadata__ value of " + squote(m.key()) + " is not a string");
    out.metadata[m.key()] = m.value().get<std::string>();
  }
}

// One tensor's header entry: its name, dtype and shape (bytes left empty) and its byte range.
SafetensorsEntry read_entry(const std::string& name, const nlohmann::json& v, Located& where,
                            const std::filesystem::path& path) {
  const std::string what = "tensor " + squote(name);
  if (!v.is_object()) fail(path, what + ": entry is not a JSON object");
  if (!v.contains("dtype") || !v["dtype"].is_string())
    fail(path, what + ": missing or non-string \"dtype\"");
  if (!v.contains("shape") || !v["shape"].is_array())
    fail(path, what + ": missing or non-array \"shape\"");
  if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
    fail(path, what + ": \"data_offsets\" must be an array [begin, end]");
  SafetensorsEntry e;
  e.name = name;
  e.dtype = v["dtype"].get<std::string>();
  const size_t elem = dtype_size_or_zero(e.dtype);
  if (elem == 0)
    fail(path,
         what + ": unknown dtype " + squote(e.dtype) + " (known: F32, F16, BF16, I64, I32, U8)");
  for (const auto& d : v["shape"]) {
    const uint64_t u = read_u64(d, path, what + ": shape dimension");
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail(path, what + ": shape dimension " + std::to_string(u) + " is too large");
    e.shape.push_back(static_cast<int64_t>(u));
  }
  const uint64_t begin = read_u64(v["data_offsets"][0], path, what + ": data_offsets begin");
  const uint64_t end = read_u64(v["data_offsets"][1], path, what + ": data_offsets end");
  if (end < begin)
    fail(path, what + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                   "] out of range (end before begin)");
  uint64_t want = 0;
  try {
    want = byte_size(e.shape, elem);
  } catch (const std::exception& ex) {
    fail(path, what + ": " + ex.what());
  }
  if (end - begin != want)
    fail(path, what + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                   "] span " + std::to_string(end - begin) + " bytes, but dtype " + e.dtype +
                   " and shape " + shape_str(e.shape) + " need " + std::to_string(want));
  where.begin = begin;
  where.end = end;
  return e;
}

// Validates the header text and the tiling of a data area of `data_size` bytes; the entries come
// back without their bytes, with `located` giving each one's byte range.
SafetensorsFile parse_header(std::string_view text, uint64_t data_size,
                             std::vector<Located>& located, const std::filesystem::path& path) {
  const nlohmann::json header = parse_header_json(text, path);
  SafetensorsFile out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == kMetadataKey) {
      read_metadata(it.value(), out, path);
      continue;
    }
    Located where{0, 0, out.entries.size()};
    out.entries.push_back(read_entry(it.key(), it.value(), where, path));
    located.push_back(where);
  }
  // The tensors must tile the data area exactly, as the reference implementation requires.
  check_tiling(path, located, out.entries, data_size);
  return out;
}

void sort_by_name(SafetensorsFile& out) {
  std::sort(out.entries.begin(), out.entries.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.name < b.name; });
}
}  // namespace

SafetensorsFile parse_safetensors(std::span<const uint8_t> bytes, const std::string& name) {
  const uint64_t size = bytes.size();
  if (size < 8)
    fail(name, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  const uint64_t n = header_length(bytes.data(), size, name);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), n);
  std::vector<Located> located;
  SafetensorsFile out = parse_header(text, size - 8 - n, located, name);
  for (const Located& l : located) {
    const uint8_t* data = bytes.data() + 8 + n + l.begin;
    out.entries[l.index].bytes.assign(data, data + (l.end - l.begin));
  }
  sort_by_name(out);
  return out;
}

SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  Fd fd;
  fd.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd.fd < 0) fail(path, "cannot open: " + errno_str());
  struct stat st;
  if (::fstat(fd.fd, &st) != 0) fail(path, "cannot stat: " + errno_str());
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < 8)
    fail(path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");

  uint8_t len[8];
  pread_all(fd.fd, len, 8, 0, path);
  const uint64_t n = header_length(len, size, path);
  std::string text(n, '\0');
  pread_all(fd.fd, reinterpret_cast<uint8_t*>(text.data()), n, 8, path);
  std::vector<Located> located;
  SafetensorsFile out = parse_header(text, size - 8 - n, located, path);
  for (const Located& l : located) {
    auto& bytes = out.entries[l.index].bytes;
    bytes.resize(l.end - l.begin);
    pread_all(fd.fd, bytes.data(), bytes.size(), 8 + n + l.begin, path);
  }
  sort_by_name(out);
  return out;
}

SafetensorsEntry make_f32_entry(std::string name, std::vector<int64_t> shape, const float* data) {
  SafetensorsEntry e;
  e.name = std::move(name);
  e.dtype = "F32";
  e.shape = std::move(shape);
  e.bytes.resize(byte_size(e.shape, sizeof(float)));
  if (!e.bytes.empty()) std::memcpy(e.bytes.data(), data, e.bytes.size());
  return e;
}

void copy_f32(const SafetensorsEntry& entry, const std::vector<int64_t>& expected_shape,
              float* out) {
  const std::string what = "tensor " + squote(entry.name);
  if (entry.dtype != "F32")
    throw std::runtime_error(what + ": dtype is " + entry.dtype + ", expected F32");
  if (entry.shape != expected_shape)
    throw std::runtime_error(what + ": shape " + shape_str(entry.shape) +
                             " does not match the expected " + shape_str(expected_shape));
  const uint64_t want = byte_size(entry.shape, sizeof(float));
  if (entry.bytes.size() != want)
    throw std::runtime_error(what + ": holds " + std::to_string(entry.bytes.size()) +
                             " bytes, shape " + shape_str(entry.shape) + " needs " +
                             std::to_string(want));
  if (want != 0) std::memcpy(out, entry.bytes.data(), want);
}

std::vector<float> to_f32(const SafetensorsEntry& entry,
                          const std::vector<int64_t>& expected_shape) {
  std::vector<float> out;
  if (entry.dtype == "F32" && entry.shape == expected_shape)
    out.resize(byte_size(entry.shape, sizeof(float)) / sizeof(float));
  copy_f32(entry, expected_shape, out.data());
  return out;
}

}  // namespace gb
