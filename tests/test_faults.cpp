// Faults tested for real on the glassbox binary (Fashion-MNIST subsets, one thread): a training
// run killed with SIGKILL at a random moment and resumed ends bit-identical to an uninterrupted
// run; a checkpoint write that fails (a file-size limit, and a full tmpfs where mounting is
// allowed) stops training with a message and leaves the previous checkpoint byte-identical; every
// output path that cannot be written is refused before any work.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "runtime/safetensors.h"
#include "test_util.h"

namespace gb {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using testing::temp_dir;

// A small run: 16 steps per epoch, so kills land in the middle of epochs as well as in writes.
const std::string kRun =
    "train --model smallcnn --width 0.25 --limit-train 512 --limit-test 64 --batch-size 32 "
    "--seed 3 --threads 1 --quiet";

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t j = s.find(' ', i);
    if (j != i) out.push_back(s.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return out;
}

// Starts glassbox with `args` (space-separated), stdout and stderr into `log`, and, when
// `file_size_limit` > 0, RLIMIT_FSIZE set to it.
pid_t spawn_glassbox(const std::string& args, const fs::path& log, rlim_t file_size_limit = 0) {
  std::vector<std::string> words = split_words(args);
  words.insert(words.begin(), std::string(GB_BINARY_DIR) + "/glassbox");
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::dup2(fd, 1);
  ::dup2(fd, 2);
  if (file_size_limit > 0) {
    const rlimit lim{file_size_limit, file_size_limit};
    ::setrlimit(RLIMIT_FSIZE, &lim);
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  ::execv(argv[0], argv.data());
  _exit(127);
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Seconds from the start until `path` first exists (polled every 5 ms; -1 if the process ended
// first or 300 s passed).
double seconds_until_exists(const fs::path& path, pid_t pid, Clock::time_point start) {
  while (Clock::now() - start < std::chrono::seconds(300)) {
    if (fs::exists(path)) return std::chrono::duration<double>(Clock::now() - start).count();
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

// Every tensor (model and optimizer state) of two checkpoints, byte for byte.
void expect_same_tensors(const fs::path& a, const fs::path& b) {
  const SafetensorsFile fa = read_safetensors(a), fb = read_safetensors(b);
  ASSERT_EQ(fa.entries.size(), fb.entries.size());
  for (size_t i = 0; i < fa.entries.size(); ++i) {
    EXPECT_EQ(fa.entries[i].name, fb.entries[i].name);
    EXPECT_TRUE(fa.entries[i].bytes == fb.entries[i].bytes) << fa.entries[i].name << " differs";
  }
}

TEST(Faults, KilledAtARandomMomentThenResumedEndsBitIdentical) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const auto dir = temp_dir("faults", "kill");
  const fs::path ref = dir / "ref.safetensors", ck = dir / "ck.safetensors";
  const std::string epochs = " --epochs 5";
  // The uninterrupted run, timed: when its first checkpoint appears and when it ends.
  auto start = Clock::now();
  pid_t pid = spawn_glassbox(kRun + epochs + " --out " + ref.string(), dir / "ref.log");
  const double first = seconds_until_exists(ref, pid, start);
  ASSERT_EQ(wait_exit(pid), 0) << read_text(dir / "ref.log");
  const double total = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_GT(first, 0);
  // The same run killed at a random moment after its first checkpoint, then resumed.
  const unsigned seed = std::random_device{}();
  std::mt19937 gen(seed);
  const double delay = std::uniform_real_distribution<double>(0, 0.8 * (total - first))(gen);
  SCOPED_TRACE("kill " + std::to_string(delay) + " s after the first checkpoint (seed " +
               std::to_string(seed) + ", run " + std::to_string(total) + " s)");
  start = Clock::now();
  pid = spawn_glassbox(kRun + epochs + " --out " + ck.string(), dir / "killed.log");
  ASSERT_GT(seconds_until_exists(ck, pid, start), 0) << read_text(dir / "killed.log");
  std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  ::kill(pid, SIGKILL);
  const int status = wait_exit(pid);
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
    GTEST_SKIP() << "the run ended before the kill (status " << status << ")";
  }
  pid = spawn_glassbox("train --resume " + ck.string() + epochs + " --threads 1 --quiet --out " +
                           ck.string(),
                       dir / "resumed.log");
  ASSERT_EQ(wait_exit(pid), 0) << read_text(dir / "resumed.log");
  expect_same_tensors(ref, ck);
  fs::remove_all(dir);
}

// Epoch 1 written, then a resumed run whose epoch-2 write fails: the error names the file and
// says the previous checkpoint is kept, which is byte-identical, with no temporary file left.
void expect_failed_save_keeps_checkpoint(const fs::path& ck, const fs::path& log_dir,
                                         rlim_t file_size_limit) {
  const std::string before = read_text(ck);
  const pid_t pid = spawn_glassbox(
      "train --resume " + ck.string() + " --epochs 2 --threads 1 --quiet --out " + ck.string(),
      log_dir / "resume.log", file_size_limit);
  const int status = wait_exit(pid);
  const std::string log = read_text(log_dir / "resume.log");
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status << log;
  EXPECT_NE(log.find(ck.string()), std::string::npos) << log;
  EXPECT_NE(log.find("epoch 2 was not saved"), std::string::npos) << log;
  EXPECT_NE(log.find("still holds the checkpoint written before"), std::string::npos) << log;
  EXPECT_TRUE(read_text(ck) == before) << "the previous checkpoint changed";
  for (const auto& e : fs::directory_iterator(ck.parent_path())) {
    EXPECT_TRUE(e.path() == ck || e.path().extension() != ".safetensors" ||
                e.path().filename() == "filler")
        << "left behind: " << e.path();
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << "left behind: " << e.path();
  }
}

TEST(Faults, AFailedCheckpointWriteKeepsThePreviousOne) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const auto dir = temp_dir("faults", "fsize");
  const fs::path ck = dir / "ck.safetensors";
  ASSERT_EQ(wait_exit(spawn_glassbox(kRun + " --epochs 1 --out " + ck.string(), dir / "a.log")),
            0)
      << read_text(dir / "a.log");
  // A file-size limit of half the checkpoint: the new one cannot be written.
  expect_failed_save_keeps_checkpoint(ck, dir, fs::file_size(ck) / 2);
  // The first epoch's write failing: no checkpoint, and the message says so.
  const fs::path fresh = dir / "fresh.safetensors";
  const pid_t pid =
      spawn_glassbox(kRun + " --epochs 1 --out " + fresh.string(), dir / "fresh.log", 4096);
  EXPECT_NE(wait_exit(pid), 0);
  EXPECT_NE(read_text(dir / "fresh.log").find("no checkpoint exists at"), std::string::npos)
      << read_text(dir / "fresh.log");
  EXPECT_FALSE(fs::exists(fresh));
  fs::remove_all(dir);
}

TEST(Faults, AFullDiskKeepsThePreviousCheckpoint) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const auto dir = temp_dir("faults", "tmpfs");
  const fs::path mnt = dir / "small_disk";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << ")";
  }
  const fs::path ck = mnt / "ck.safetensors";
  const int trained =
      wait_exit(spawn_glassbox(kRun + " --epochs 1 --out " + ck.string(), dir / "a.log"));
  if (trained == 0) {
    // Fill the disk but for less than a checkpoint; the write of epoch 2 then meets ENOSPC.
    const auto space = fs::space(mnt).available;
    const auto need = fs::file_size(ck);
    std::ofstream(mnt / "filler", std::ios::binary)
        << std::string(space > need / 2 ? space - need / 2 : 0, 'x');
    expect_failed_save_keeps_checkpoint(ck, dir, 0);
  }
  ::umount(mnt.c_str());
  EXPECT_EQ(trained, 0) << read_text(dir / "a.log");
  fs::remove_all(dir);
}

// Each command with an output in a directory that takes no file (/proc) fails at once, with a
// message naming the path, and without its progress lines.
TEST(Faults, UnwritableOutputsAreRefusedBeforeAnyWork) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const auto dir = temp_dir("faults", "outputs");
  const fs::path ck = dir / "ck.safetensors";
  ASSERT_EQ(
      wait_exit(spawn_glassbox(kRun + " --epochs 1 --out " + ck.string(), dir / "a.log")), 0)
      << read_text(dir / "a.log");
  const std::string c = " --checkpoint " + ck.string();
  const std::vector<std::string> commands = {
      kRun + " --epochs 1 --out /proc/gb.safetensors",
      kRun + " --epochs 1 --out " + (dir / "o.safetensors").string() + " --json /proc/m.json",
      kRun + " --epochs 1 --out " + (dir / "o.safetensors").string() + " --tensorboard /proc/tb",
      "eval" + c + " --json /proc/e.json",
      "explain" + c + " --index 0 --method gradcam --out /proc/x",
      "evaluate-explanations" + c + " --count 2 --methods gradcam --json /proc/t.json",
      "evaluate-explanations" + c + " --count 2 --methods gradcam --save-maps /proc/m.safetensors",
      "activations" + c + " --out /proc/a",
      "report" + c + " --out /proc/r.html",
      "export" + c + " --out /proc/m.onnx",
      "prune" + c + " --target-macs 0.5 --out /proc/p.safetensors",
      "compress" + c + " --weight-sharing 16 --out /proc/w.safetensors",
      "distill --teacher " + ck.string() + " --student smallcnn --out /proc/s.safetensors",
      "graph" + c + " --out /proc/g.dot",
  };
  for (const std::string& cmd : commands) {
    const auto r = testing::run_glassbox(cmd);
    EXPECT_NE(r.status, 0) << cmd;
    EXPECT_NE(r.output.find("/proc"), std::string::npos) << cmd << "\n" << r.output;
    EXPECT_EQ(r.output.find("epoch 1"), std::string::npos) << cmd << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(dir / "o.safetensors"));
  fs::remove_all(dir);
}

// A bit flipped in a trained checkpoint's last tensor: eval refuses it naming the file, the
// tensor and --no-verify; with --no-verify it loads, with a note.
TEST(Faults, ADamagedCheckpointIsRefusedUnlessNoVerify) {
  if (!testing::have_fashion_mnist()) GTEST_SKIP() << "Fashion-MNIST not installed";
  const auto dir = temp_dir("faults", "damaged");
  const fs::path ck = dir / "ck.safetensors";
  ASSERT_EQ(wait_exit(spawn_glassbox(kRun + " --epochs 1 --out " + ck.string(), dir / "a.log")), 0)
      << read_text(dir / "a.log");
  std::string bytes = read_text(ck);
  bytes[bytes.size() - 3] = static_cast<char>(bytes[bytes.size() - 3] ^ 0x10);
  std::ofstream(ck, std::ios::binary | std::ios::trunc) << bytes;
  auto r = testing::run_glassbox("eval --checkpoint " + ck.string() + " --limit 16");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(ck.string() + ": tensor '"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--no-verify"), std::string::npos) << r.output;
  r = testing::run_glassbox("eval --checkpoint " + ck.string() + " --limit 16 --no-verify");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("checksums not verified"), std::string::npos) << r.output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gb
