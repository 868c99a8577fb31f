// Output-path checks and the atomic JSON writer (see output_path.h).
#include "runtime/output_path.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

namespace {

std::runtime_error path_error(const fs::path& path, const std::string& cause,
                              std::string_view option) {
  std::string message = path.string() + ": " + cause;
  if (!option.empty()) message += " (" + std::string(option) + ")";
  return std::runtime_error(message);
}

// Creates and removes a probe file in `dir`. throws: path_error naming `path` and the cause.
void probe_writable(const fs::path& dir, const fs::path& path, std::string_view option) {
  const fs::path probe = dir / (".glassbox-write-probe." + std::to_string(::getpid()));
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    throw path_error(path, "cannot write into directory " + dir.string() + ": " +
                               std::strerror(err), option);
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace

void require_parent_directory(const fs::path& path, std::string_view option) {
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(parent)) {
    throw path_error(path, "directory " + parent.string() + " does not exist", option);
  }
  probe_writable(parent, path, option);
}

void require_creatable(const fs::path& path, std::string_view option) {
  fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  while (!dir.empty() && !fs::exists(dir)) dir = dir.parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir)) throw path_error(path, dir.string() + " is not a directory", option);
  probe_writable(dir, path, option);
}

void check_output_file(const fs::path& path, bool overwrite, std::string_view option) {
  refuse_directory(path);
  refuse_existing(path, overwrite);
  require_parent_directory(path, option);
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
