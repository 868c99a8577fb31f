// Output-path checks and the atomic JSON writer (see output_path.h).
#include "runtime/output_path.h"

#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace gb {
namespace fs = std::filesystem;

void refuse_existing(const fs::path& path, bool overwrite) {
  if (!overwrite && fs::exists(path)) {
    throw std::runtime_error(path.string() + ": already exists; pass --overwrite to replace it");
  }
}

void refuse_nonempty_directory(const fs::path& dir, bool overwrite, std::string_view replaced) {
  if (!overwrite && fs::is_directory(dir) && !fs::is_empty(dir)) {
    throw std::runtime_error(dir.string() +
                             ": exists and is not empty; pass --overwrite to replace " +
                             std::string(replaced));
  }
}

void refuse_directory(const fs::path& path) {
  if (fs::is_directory(path)) throw std::runtime_error(path.string() + ": is a directory");
}

void require_parent_directory(const fs::path& path, std::string_view option) {
  if (!path.has_parent_path() || fs::is_directory(path.parent_path())) return;
  std::string message =
      path.string() + ": directory " + path.parent_path().string() + " does not exist";
  if (!option.empty()) message += " (" + std::string(option) + ")";
  throw std::runtime_error(message);
}

void write_file_atomically(const fs::path& path, std::string_view bytes, bool overwrite) {
  refuse_existing(path, overwrite);
  const auto tmp = path.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw std::runtime_error(path.string() + ": cannot open for writing");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) {
      fs::remove(tmp);
      throw std::runtime_error(path.string() + ": write failed");
    }
  }
  fs::rename(tmp, path);
}

void write_json_file(const fs::path& path, const nlohmann::json& j, bool overwrite) {
  write_file_atomically(path, j.dump(2) + "\n", overwrite);
}

}  // namespace gb
