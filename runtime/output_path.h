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

// Requires the directory `path` would be written into (its parent, "." for a path without one)
// to exist and to accept a new file: a probe file is created in it and removed, so a read-only
// directory or file system is found before any long work, not after it.
// throws: std::runtime_error "<path>: directory <parent> does not exist" or "<path>: cannot write
// into directory <parent>: <cause>", followed by " (<option>)" when `option` (the flag that named
// the path) is given.
void require_parent_directory(const std::filesystem::path& path, std::string_view option = {});

// The same for a path whose missing parent directories will be created: the nearest existing
// ancestor of `path` (`path` itself when it is an existing directory) must be a directory that
// accepts a new file. throws: std::runtime_error "<path>: cannot write into directory <dir>: ..."
// or "<path>: <ancestor> is not a directory", with " (<option>)" as above.
void require_creatable(const std::filesystem::path& path, std::string_view option = {});

// The checks of a file a command will write, made before any work: not a directory
// (refuse_directory), not an existing file unless `overwrite` (refuse_existing), in a directory
// that takes new files (require_parent_directory, whose messages name `option`).
void check_output_file(const std::filesystem::path& path, bool overwrite,
                       std::string_view option);

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
