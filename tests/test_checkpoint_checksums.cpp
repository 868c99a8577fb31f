// Checkpoint checksums: CRC-32C against a bit-by-bit reference, the record save_checkpoint writes,
// and damage anywhere in a checkpoint file (every byte, one flipped bit each) refused on load with
// the file named, the damaged tensor named where the damage is in tensor data, old files without
// a record still loading, and ChecksumPolicy::Skip (--no-verify) loading a damaged file.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/checkpoint.h"
#include "runtime/checkpoint_checksums.h"
#include "runtime/checksum.h"
#include "runtime/layers.h"
#include "runtime/rng.h"
#include "test_util.h"

namespace gb {
namespace {
namespace fs = std::filesystem;

// The definition, one bit at a time (reflected polynomial 0x82F63B78).
uint32_t crc32c_bitwise(const std::string& bytes) {
  uint32_t c = 0xFFFFFFFFu;
  for (const char ch : bytes) {
    c ^= static_cast<uint8_t>(ch);
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

// A small model: conv + BN + linear, so the file holds weights, biases and buffers.
std::shared_ptr<nn::Sequential> small_model() {
  manual_seed(3);
  auto m = std::make_shared<nn::Sequential>();
  m->push_back(std::make_shared<nn::Conv2d>(2, 3, 3));
  m->push_back(std::make_shared<nn::BatchNorm2d>(3));
  m->push_back(std::make_shared<nn::Flatten>());
  m->push_back(std::make_shared<nn::Linear>(12, 2));
  return m;
}

class CheckpointChecksums : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir("checksums", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    path_ = dir_ / "model.safetensors";
    save_checkpoint(path_, *small_model(), nullptr, {{"glassbox", R"({"model":"small"})"}});
  }
  void TearDown() override {
    set_checksum_policy(ChecksumPolicy::Verify);
    fs::remove_all(dir_);
  }
  fs::path dir_, path_;
};

TEST(Crc32c, MatchesTheDefinitionAndKnownValues) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  std::mt19937 gen(7);
  for (size_t n : {1u, 7u, 8u, 9u, 63u, 64u, 65u, 1000u}) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(gen());
    EXPECT_EQ(crc32c(s), crc32c_bitwise(s)) << n;
    // Unaligned starts and split inputs give the same value.
    EXPECT_EQ(crc32c(s.substr(1)), crc32c_bitwise(s.substr(1))) << n;
    const size_t half = n / 2;
    EXPECT_EQ(crc32c_extend(crc32c(s.substr(0, half)), s.data() + half, n - half), crc32c(s));
  }
}

TEST_F(CheckpointChecksums, SavedCheckpointsCarryARecordThatVerifies) {
  const SafetensorsFile file = read_checkpoint(path_);
  ASSERT_TRUE(file.metadata.count(std::string(kChecksumsKey)));
  EXPECT_EQ(verify_checksums(file, path_), ChecksumResult::Verified);
  EXPECT_NE(file.metadata.at(std::string(kChecksumsKey)).find("\"0.weight\""), std::string::npos);
}

TEST_F(CheckpointChecksums, EveryDamagedByteIsRefused) {
  const std::string good = read_bytes(path_);
  const fs::path damaged = dir_ / "damaged.safetensors";
  std::mt19937 gen(11);
  int refused = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bytes = good;
    bytes[i] = static_cast<char>(bytes[i] ^ (1u << (gen() % 8)));
    write_bytes(damaged, bytes);
    try {
      read_checkpoint(damaged);
      ADD_FAILURE() << "a flipped bit at byte " << i << " of " << good.size() << " was accepted";
    } catch (const std::runtime_error& e) {
      ++refused;
      EXPECT_NE(std::string(e.what()).find("damaged.safetensors"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(refused, static_cast<int>(good.size()));
}

TEST_F(CheckpointChecksums, DamagedTensorDataNamesTheTensor) {
  std::string bytes = read_bytes(path_);
  const SafetensorsFile file = read_checkpoint(path_);
  // The data area ends the file; its last tensor in file order is the last by name.
  bytes[bytes.size() - 1] = static_cast<char>(bytes[bytes.size() - 1] ^ 0x40);
  write_bytes(path_, bytes);
  try {
    read_checkpoint(path_);
    FAIL();
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tensor '" + file.entries.back().name + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--no-verify"), std::string::npos) << msg;
  }
  set_checksum_policy(ChecksumPolicy::Skip);  // forensics: loads anyway
  const SafetensorsFile loaded = read_checkpoint(path_);
  EXPECT_EQ(loaded.entries.size(), file.entries.size());
}

TEST_F(CheckpointChecksums, CheckpointsWithoutARecordStillLoad) {
  SafetensorsFile file = read_checkpoint(path_);
  file.metadata.erase(std::string(kChecksumsKey));
  write_safetensors(path_, file);
  const SafetensorsFile old = read_checkpoint(path_);
  EXPECT_EQ(verify_checksums(old, path_), ChecksumResult::Absent);
  auto model = small_model();
  EXPECT_NO_THROW(load_model_state(old, *model, path_));
}

TEST_F(CheckpointChecksums, AMalformedOrIncompleteRecordIsRefused) {
  const SafetensorsFile file = read_checkpoint(path_);
  const std::string key(kChecksumsKey);
  for (const std::string& record :
       {std::string("not json"), std::string(R"({"algorithm":"md5","header":"0","tensors":{}})"),
        std::string(R"({"algorithm":"crc32c","header":"0","tensors":{}})")}) {
    SafetensorsFile bad = file;
    bad.metadata[key] = record;
    EXPECT_THROW(verify_checksums(bad, path_), std::runtime_error) << record;
  }
  SafetensorsFile extra = file;  // a recorded tensor that the file lacks
  extra.entries.pop_back();
  EXPECT_THROW(verify_checksums(extra, path_), std::runtime_error);
}

}  // namespace
}  // namespace gb
