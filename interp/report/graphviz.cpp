// Running Graphviz's dot for the report's model graph (see graphviz.h).
#include "interp/report/graphviz.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <vector>

extern char** environ;

namespace gb::interp::report {
namespace fs = std::filesystem;
namespace {

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Temporary files named after the process, removed when this goes out of scope.
struct TempFiles {
  fs::path in, out, err;
  TempFiles() {
    static std::atomic<int> counter{0};
    const fs::path dir = fs::temp_directory_path();
    const std::string stem = fmt::format("glassbox-dot-{}-{}", ::getpid(), counter++);
    in = dir / (stem + ".dot");
    out = dir / (stem + ".svg");
    err = dir / (stem + ".err");
  }
  ~TempFiles() {
    std::error_code ec;
    for (const auto* p : {&in, &out, &err}) fs::remove(*p, ec);
  }
  TempFiles(const TempFiles&) = delete;
  TempFiles& operator=(const TempFiles&) = delete;
};

// Runs exe with args, stderr to `err`; returns the exit status (-1: killed by a signal).
int run_program(const std::string& exe, std::vector<std::string> args, const fs::path& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error(fmt::format("{}: cannot run it: {}", exe, std::strerror(rc)));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error(exe + ": waitpid failed");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

std::string find_executable(const std::string& name) {
  if (name.empty()) return "";
  if (name.find('/') != std::string::npos) {
    return ::access(name.c_str(), X_OK) == 0 && !fs::is_directory(name) ? name : "";
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const fs::path p = fs::path(dir.empty() ? "." : dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

std::string dot_to_svg(const std::string& dot_text, const std::string& dot_exe) {
  TempFiles t;
  {
    std::ofstream f(t.in, std::ios::binary);
    f << dot_text;
    f.close();
    if (!f) throw std::runtime_error(t.in.string() + ": cannot write the graph for dot");
  }
  const int status = run_program(dot_exe, {"-Tsvg", t.in.string(), "-o", t.out.string()}, t.err);
  if (status != 0) {
    std::string err = read_text(t.err);
    if (err.size() > 400) err = err.substr(0, 400) + "...";
    throw std::runtime_error(
        fmt::format("{} -Tsvg failed (exit status {}): {}", dot_exe, status, err));
  }
  const std::string svg = read_text(t.out);
  const size_t start = svg.find("<svg");
  if (start == std::string::npos) {
    throw std::runtime_error(dot_exe + " -Tsvg printed no <svg> element");
  }
  return svg.substr(start);
}

}  // namespace gb::interp::report
