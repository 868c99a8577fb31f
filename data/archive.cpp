// Image trees read straight from an archive (.tar.gz etc.) with libarchive, from a file or from
// memory: one streaming pass keeps the encoded bytes of the wanted split's images, which are then
// sorted (class, file name) and decoded in parallel. Entries look like
// [<top>/]<split>/<class>/<file>.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <set>

#include "data/error.h"
#include "data/file_io.h"
#include "data/formats.h"
#include "data/image_list.h"

namespace gb::data {
namespace {

std::vector<std::string> path_components(std::string p) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    std::string part = p.substr(start, end - start);
    if (!part.empty() && part != ".") out.push_back(std::move(part));
    start = end + 1;
  }
  return out;
}

struct Entry {
  std::string cls, file, full;
  std::vector<uint8_t> bytes;
};

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;

// A reader for the formats and filters of formats.h (no external programs).
ArchivePtr new_reader(const std::string& path) {
  ArchivePtr ar(archive_read_new(), archive_read_free);
  if (!ar) throw DataError(path, "cannot allocate an archive reader");
  archive_read_support_filter_gzip(ar.get());
  archive_read_support_filter_bzip2(ar.get());
  archive_read_support_filter_xz(ar.get());
  archive_read_support_filter_zstd(ar.get());
  archive_read_support_format_tar(ar.get());
  archive_read_support_format_gnutar(ar.get());
  archive_read_support_format_zip(ar.get());
  return ar;
}

[[noreturn]] void fail(archive* ar, const std::string& path, const std::string& what) {
  const char* msg = archive_error_string(ar);
  throw DataError(path, what + (msg ? std::string(": ") + msg : std::string()));
}

const char* const kNotData =
    "not a data set (neither a directory, an IDX file, a CIFAR batch nor an archive)";

// The bytes of the current entry, refused when its declared or actual size exceeds the limit.
std::vector<uint8_t> read_entry(archive* ar, archive_entry* e, const std::string& path,
                                const std::string& full) {
  const la_int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
  const auto too_large = [&](const std::string& size_text) {
    return DataError(path, "archive entry " + full + " is " + size_text +
                               " bytes, over the limit of " +
                               std::to_string(kMaxArchiveEntryBytes) + " for one image");
  };
  if (size > kMaxArchiveEntryBytes) throw too_large(std::to_string(size));
  std::vector<uint8_t> bytes;
  bytes.reserve(static_cast<size_t>(std::max<la_int64_t>(size, 0)));
  uint8_t buf[1 << 14];
  for (;;) {
    const la_ssize_t got = archive_read_data(ar, buf, sizeof(buf));
    if (got < 0) fail(ar, path, "corrupt archive entry " + full);
    if (got == 0) break;
    if (bytes.size() + static_cast<size_t>(got) > static_cast<size_t>(kMaxArchiveEntryBytes)) {
      throw too_large("more than " + std::to_string(kMaxArchiveEntryBytes));
    }
    bytes.insert(bytes.end(), buf, buf + got);
  }
  return bytes;
}

// Reads the split out of an opened archive reader; `path` names the archive in messages.
Dataset read_image_archive(archive* ar, const std::string& path, Split split,
                           const LoadOptions& options) {
  const std::string want = split_name(split);
  std::set<std::string> classes, tops;
  std::vector<Entry> entries;
  archive_entry* e = nullptr;
  size_t seen = 0;  // headers read so far
  for (;;) {
    const int rc = archive_read_next_header(ar, &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) fail(ar, path, seen ? "corrupt or truncated archive" : kNotData);
    ++seen;
    const char* raw = archive_entry_pathname(e);
    if (!raw) continue;
    const std::vector<std::string> c = path_components(raw);
    const auto type = archive_entry_filetype(e);
    // Directories [<top>/]<split>/<class>/ and files [<top>/]<split>/<class>/<file>.
    const size_t depth = type == AE_IFDIR ? 2 : 3;
    std::string top;
    size_t at = 0;
    if (c.size() == depth && c[0] == want) {
      at = 0;
    } else if (c.size() == depth + 1 && c[1] == want) {
      top = c[0];
      at = 1;
    } else {
      continue;
    }
    if (type == AE_IFDIR) {
      classes.insert(c[at + 1]);
      tops.insert(top);
      continue;
    }
    if (type != AE_IFREG || !has_image_extension(c[at + 2])) continue;
    Entry entry{c[at + 1], c[at + 2], raw, {}};
    entry.bytes = read_entry(ar, e, path, entry.full);
    classes.insert(entry.cls);
    tops.insert(top);
    entries.push_back(std::move(entry));
  }
  if (tops.size() > 1) {
    std::string list;
    for (const auto& t : tops) list += (list.empty() ? "'" : ", '") + t + "'";
    throw DataError(path, "split '" + want + "' appears under several top folders (" + list + ")");
  }
  if (entries.empty()) {
    throw DataError(path, "no images under [<top>/]" + want + "/<class>/*.png|jpg in archive");
  }

  Dataset ds;
  ds.source = path;
  ds.split = split;
  ds.classes.assign(classes.begin(), classes.end());
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.cls != b.cls ? a.cls < b.cls : a.file < b.file;
  });
  std::vector<int64_t> labels(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    labels[i] =
        std::lower_bound(ds.classes.begin(), ds.classes.end(), entries[i].cls) - ds.classes.begin();
  }
  std::vector<EncodedImage> items;
  for (size_t i : select_samples(labels, ds.classes.size(), options)) {
    EncodedImage item;
    item.name = path + ":" + entries[i].full;
    item.bytes = std::move(entries[i].bytes);
    item.label = labels[i];
    items.push_back(std::move(item));
  }
  entries.clear();
  decode_images(items, options.threads, ds);
  return ds;
}

}  // namespace

Dataset load_image_archive(const std::string& path, Split split, const LoadOptions& options) {
  if (!std::filesystem::exists(path)) throw DataError(path, "no such file or directory");
  ArchivePtr ar = new_reader(path);
  if (archive_read_open_filename(ar.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) {
    fail(ar.get(), path, kNotData);
  }
  return read_image_archive(ar.get(), path, split, options);
}

Dataset parse_image_archive(const uint8_t* bytes, size_t size, const std::string& name, Split split,
                            const LoadOptions& options) {
  ArchivePtr ar = new_reader(name);
  if (archive_read_open_memory(ar.get(), bytes, size) != ARCHIVE_OK) fail(ar.get(), name, kNotData);
  return read_image_archive(ar.get(), name, split, options);
}

}  // namespace gb::data
