// The output directory of the commands that write several pictures and a JSON file (explain,
// activations): its checks before any work, and its writing through a staging directory next
// to it, moved into place at the end, so an error never leaves partial output. No shapes here.
#pragma once
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "interp/visualize.h"

namespace gb::interp {

// Refuses an empty path, a path that is not a directory, a non-empty directory unless
// `overwrite` (`what` names the files --overwrite would replace), and a place where no file can
// be created (`out` and the directory it is staged in, see require_creatable).
// throws: std::invalid_argument / std::runtime_error naming the path and the flag.
void check_out_dir(const std::filesystem::path& out, bool overwrite, std::string_view what);

// Further files written into the staging directory; returns their names.
using ExtraFiles = std::function<std::vector<std::string>(const std::filesystem::path& staging)>;

// Writes every PNG, then `json_name` holding `j`, then the extra files, into a staging
// directory next to `out`, and moves them into `out` (created when missing). Checks `out` again
// first (something may have appeared while the caller computed). Returns the files, in order.
// throws: std::runtime_error naming the file on any failure. A new `out` is then absent; into an
// existing one (overwrite) the files are moved one by one, so a failure while moving (rare: a
// rename within one directory) can leave some of them replaced. Other files in `out` are kept.
std::vector<std::filesystem::path> write_output_directory(
    const std::filesystem::path& out, bool overwrite,
    const std::vector<std::pair<std::string, Image>>& pngs, const std::string& json_name,
    const nlohmann::json& j, const ExtraFiles& extra = {}, std::string_view what = "its files");

}  // namespace gb::interp
