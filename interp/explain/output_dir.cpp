// check_out_dir and write_output_directory: a staging directory ".<name>.partial-<pid>" next to
// the output, renamed into place (or its files moved into an existing directory). No shapes.
#include "interp/explain/output_dir.h"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <system_error>

#include "runtime/output_path.h"

namespace gb::interp {
namespace fs = std::filesystem;

void check_out_dir(const fs::path& out, bool overwrite, std::string_view what) {
  if (out.empty()) throw std::invalid_argument("--out: an output directory is required");
  // The files are staged next to `out`, so its parent must take new files too.
  require_creatable(out.has_parent_path() ? out.parent_path() : fs::path("."), "--out");
  if (!fs::exists(out)) return;
  if (!fs::is_directory(out)) {
    throw std::runtime_error(out.string() + ": exists and is not a directory");
  }
  refuse_nonempty_directory(out, overwrite, what);
  require_creatable(out, "--out");
}

std::vector<fs::path> write_output_directory(const fs::path& out, bool overwrite,
                                             const std::vector<std::pair<std::string, Image>>& pngs,
                                             const std::string& json_name, const nlohmann::json& j,
                                             const ExtraFiles& extra, std::string_view what) {
  check_out_dir(out, overwrite, what);
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  fs::create_directories(parent);
  const fs::path staging =
      parent / fmt::format(".{}.partial-{}", out.filename().string(), ::getpid());
  std::error_code ec;
  fs::remove_all(staging, ec);
  std::vector<std::string> names;
  try {
    fs::create_directory(staging);
    for (const auto& [name, img] : pngs) {
      write_png((staging / name).string(), img);
      names.push_back(name);
    }
    {
      std::ofstream f(staging / json_name);
      f << j.dump(2) << "\n";
      f.close();
      if (!f) throw std::runtime_error((out / json_name).string() + ": write failed");
    }
    names.push_back(json_name);
    if (extra) {
      for (auto& n : extra(staging)) names.push_back(std::move(n));
    }
    if (!fs::exists(out)) {
      fs::rename(staging, out);
    } else {
      for (const auto& n : names) fs::rename(staging / n, out / n);
      fs::remove(staging);
    }
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  std::vector<fs::path> files;
  for (const auto& n : names) files.push_back(out / n);
  return files;
}

}  // namespace gb::interp
