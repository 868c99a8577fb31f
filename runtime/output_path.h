// The checks every command makes before it writes a file or directory the user named, and the
// atomic JSON writer: one place for the "already exists; pass --overwrite" rule and its message,
// which always names the path and the flag. No shapes here.
#pragma once
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

namespace gb {

// Refuses to replace an existing `path` (file or directory) unless `overwrite` is set.
// throws: std::runtime_error "<path>: already exists; pass --overwrite to replace it".
void refuse_existing(const std::filesystem::path& path, bool overwrite);

// Refuses to write into a non-empty directory `dir` unless `overwrite` is set; a missing or empty
// directory passes. `replaced` says what --overwrite would replace ("the files explain writes
// there"). throws: std::runtime_error "<dir>: exists and is not empty; pass --overwrite to replace
// <replaced>".
void refuse_nonempty_directory(const std::filesystem::path& dir, bool overwrite,
                               std::string_view replaced);

// Refuses a path that names a directory. throws: std::runtime_error "<path>: is a directory".
void refuse_directory(const std::filesystem::path& path);

// Requires the directory `path` would be written into to exist (a path without a parent passes).
// throws: std::runtime_error "<path>: directory <parent> does not exist", followed by
// " (<option>)" when `option` (the flag that named the path) is given.
void require_parent_directory(const std::filesystem::path& path, std::string_view option = {});

// Writes `bytes` to `path` through a temporary file in the same directory renamed into place, so
// a reader never sees half a file. Without `overwrite`, an existing file is refused as
// refuse_existing does. throws: std::runtime_error naming the file on any failure.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes,
                           bool overwrite);

// Writes `j` (indented by 2, newline-terminated) to `path` through a temporary file renamed into
// place, so a reader never sees half a file. Without `overwrite`, an existing file is refused as
// refuse_existing does. throws: std::runtime_error naming the file on any failure.
void write_json_file(const std::filesystem::path& path, const nlohmann::json& j, bool overwrite);

}  // namespace gb
