// Tests of the data module: IDX / CIFAR binary / image tree / archive loading on small files
// written to a temp directory, the error messages for bad input, normalisation, augmentation,
// shuffling and the background loader; plus the real Fashion-MNIST and CIFAR-10 archive when
// present (skipped otherwise).
// Shape letters: N images, C channels, H height, W width.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <stb/stb_image_write.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/error.h"
#include "data/file_io.h"
#include "data/formats.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/normalize.h"

namespace fs = std::filesystem;
using namespace gb::data;

namespace {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("gb_data_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::vector<uint8_t> gzip(const std::vector<uint8_t>& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<uint8_t> out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void put_be32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// Image i pixel p = (7 * i + p) % 256; label i = i % classes.
std::vector<uint8_t> idx_images(uint32_t n, uint32_t h, uint32_t w) {
  std::vector<uint8_t> b = {0, 0, 8, 3};
  put_be32(b, n);
  put_be32(b, h);
  put_be32(b, w);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t p = 0; p < h * w; ++p) b.push_back(static_cast<uint8_t>((7 * i + p) % 256));
  }
  return b;
}

std::vector<uint8_t> idx_labels(uint32_t n, uint32_t classes) {
  std::vector<uint8_t> b = {0, 0, 8, 1};
  put_be32(b, n);
  for (uint32_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(i % classes));
  return b;
}

// Writes train- and t10k- IDX pairs (train: 12 images, test: 5; 4x3 pixels; 4 classes).
void write_idx_dir(const std::string& dir, bool gz) {
  auto put = [&](const std::string& name, const std::vector<uint8_t>& b) {
    write_bytes(dir + "/" + name + (gz ? ".gz" : ""), gz ? gzip(b) : b);
  };
  put("train-images-idx3-ubyte", idx_images(12, 4, 3));
  put("train-labels-idx1-ubyte", idx_labels(12, 4));
  put("t10k-images-idx3-ubyte", idx_images(5, 4, 3));
  put("t10k-labels-idx1-ubyte", idx_labels(5, 4));
}

void expect_idx_content(const Dataset& ds, size_t n) {
  ASSERT_EQ(ds.size(), n);
  EXPECT_EQ(ds.channels, 1);
  EXPECT_EQ(ds.height, 4);
  EXPECT_EQ(ds.width, 3);
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"0", "1", "2", "3"}));
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(ds.labels[i], static_cast<int64_t>(i % 4));
    for (size_t p = 0; p < 12; ++p) ASSERT_EQ(ds.image(i)[p], (7 * i + p) % 256) << i << " " << p;
  }
}

// The message of the DataError `fn` throws (fails the test if it throws nothing).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception thrown";
  return {};
}

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << (haystack)

// A CIFAR record: <label byte(s)> then 3072 bytes with pixel p = (label + 3 * p + salt) % 256.
void add_cifar_record(std::vector<uint8_t>& b, std::vector<uint8_t> label_bytes, int salt) {
  b.insert(b.end(), label_bytes.begin(), label_bytes.end());
  for (int p = 0; p < 3072; ++p)
    b.push_back(static_cast<uint8_t>(label_bytes.back() + 3 * p + salt));
}

// An RGB test image: pixel (c, y, x) = 40 * c + 10 * y + x + seed (HWC for stb).
std::vector<uint8_t> rgb_hwc(int h, int w, int seed) {
  std::vector<uint8_t> px;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) px.push_back(static_cast<uint8_t>(40 * c + 10 * y + x + seed));
    }
  }
  return px;
}

void write_png(const std::string& path, int h, int w, int seed, int comp = 3) {
  fs::create_directories(fs::path(path).parent_path());
  std::vector<uint8_t> px = rgb_hwc(h, w, seed);
  if (comp == 1) {
    std::vector<uint8_t> g;
    for (size_t i = 0; i < px.size(); i += 3) g.push_back(px[i]);
    px = g;
  } else if (comp == 4) {
    std::vector<uint8_t> a;
    for (size_t i = 0; i < px.size(); i += 3) a.insert(a.end(), {px[i], px[i + 1], px[i + 2], 200});
    px = a;
  }
  ASSERT_TRUE(stbi_write_png(path.c_str(), w, h, comp, px.data(), w * comp)) << path;
}

// A tree <root>/{train,test}/{cat,dog,ant}/: classes sorted -> ant, cat, dog.
// train: ant 2, cat 1, dog 3 images (seed = 10 * class + k); test: one per class. 5x6 pixels.
void write_tree(const std::string& root) {
  const std::vector<std::pair<std::string, int>> train = {{"cat", 1}, {"dog", 3}, {"ant", 2}};
  for (const auto& [cls, count] : train) {
    const int c = cls == "ant" ? 0 : cls == "cat" ? 1 : 2;
    for (int k = 0; k < count; ++k) {
      write_png(root + "/train/" + cls + "/img" + std::to_string(k) + ".png", 5, 6, 10 * c + k);
    }
    write_png(root + "/test/" + cls + "/x.png", 5, 6, 100 + c);
  }
  write_bytes(root + "/train/cat/notes.txt", {'h', 'i'});  // not an image: ignored
}

void expect_tree_train(const Dataset& ds) {
  ASSERT_EQ(ds.size(), 6u);
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"ant", "cat", "dog"}));
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 0, 1, 2, 2, 2}));
  EXPECT_EQ(ds.channels, 3);
  EXPECT_EQ(ds.height, 5);
  EXPECT_EQ(ds.width, 6);
  const std::vector<int> seeds = {0, 1, 10, 20, 21, 22};
  for (size_t i = 0; i < 6; ++i) {
    for (int c = 0; c < 3; ++c) {
      for (int y = 0; y < 5; ++y) {
        for (int x = 0; x < 6; ++x) {
          ASSERT_EQ(ds.image(i)[(c * 5 + y) * 6 + x], 40 * c + 10 * y + x + seeds[i])
              << "image " << i << " c" << c << " y" << y << " x" << x;
        }
      }
    }
  }
}

// Packs every file under `dir` into a .tar.gz, entry names prefixed by `prefix` ("" or "top/").
void write_tar_gz(const std::string& dir, const std::string& out, const std::string& prefix) {
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, out.c_str()), ARCHIVE_OK);
  std::vector<fs::path> paths;
  for (const auto& e : fs::recursive_directory_iterator(dir)) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const fs::path& p : paths) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, (prefix + fs::relative(p, dir).string()).c_str());
    archive_entry_set_perm(e, 0644);
    std::vector<uint8_t> bytes;
    if (fs::is_directory(p)) {
      archive_entry_set_filetype(e, AE_IFDIR);
    } else {
      bytes = read_file(p.string());
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_size(e, static_cast<la_int64_t>(bytes.size()));
    }
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
    if (!bytes.empty()) archive_write_data(a, bytes.data(), bytes.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

// "c<k>", built by appending (GCC 12 warns falsely, -Wrestrict, on "c" + std::to_string(k)).
std::string fmt_class_name(size_t k) {
  std::string name = "c";
  name += std::to_string(k);
  return name;
}

std::shared_ptr<const Dataset> synthetic(size_t n, int c, int h, int w, size_t classes) {
  auto ds = std::make_shared<Dataset>();
  ds->source = "synthetic";
  ds->channels = c;
  ds->height = h;
  ds->width = w;
  for (size_t k = 0; k < classes; ++k) ds->classes.push_back(fmt_class_name(k));
  ds->images.resize(n * ds->image_size());
  for (size_t i = 0; i < ds->images.size(); ++i) ds->images[i] = static_cast<uint8_t>(i * 31 % 251);
  for (size_t i = 0; i < n; ++i) ds->labels.push_back(static_cast<int64_t>(i % classes));
  return ds;
}

std::vector<Batch> drain_epoch(Loader& loader) {
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

std::string cifar10_archive() {
  if (const char* env = std::getenv("GB_CIFAR10"); env && *env) return env;
  return GB_SOURCE_DIR "/../shared/data/cifar10-jpg.tar.gz";
}

}  // namespace

// ---- IDX ---------------------------------------------------------------------------------------

TEST(DataIdx, RoundTripPlain) {
  TempDir dir;
  write_idx_dir(dir.str(), false);
  expect_idx_content(load_dataset(dir.str(), Split::Train), 12);
  const Dataset test = load_dataset(dir.str(), Split::Test);
  EXPECT_EQ(test.split, Split::Test);
  expect_idx_content(test, 5);
}

TEST(DataIdx, RoundTripGzippedAndFilePair) {
  TempDir dir;
  write_idx_dir(dir.str(), true);
  expect_idx_content(load_dataset(dir.str(), Split::Train), 12);
  // A single images file: the labels file is found by name.
  expect_idx_content(load_dataset(dir / "t10k-images-idx3-ubyte.gz", Split::Test), 5);
  // Limit keeps the first samples.
  LoadOptions opt;
  opt.limit = 3;
  expect_idx_content(load_dataset(dir.str(), Split::Train, opt), 3);
}

TEST(DataIdx, BadMagicNamesFile) {
  TempDir dir;
  write_idx_dir(dir.str(), false);
  std::vector<uint8_t> b = idx_images(12, 4, 3);
  b[0] = 0x12;
  write_bytes(dir / "train-images-idx3-ubyte", b);
  const std::string msg = error_of([&] { load_dataset(dir.str(), Split::Train); });
  EXPECT_HAS(msg, dir / "train-images-idx3-ubyte");
  EXPECT_HAS(msg, "magic");
}

TEST(DataIdx, TruncatedAndMismatchedCounts) {
  TempDir dir;
  write_idx_dir(dir.str(), false);
  std::vector<uint8_t> b = idx_images(12, 4, 3);
  b.resize(b.size() - 5);
  write_bytes(dir / "train-images-idx3-ubyte", b);
  std::string msg = error_of([&] { load_dataset(dir.str(), Split::Train); });
  EXPECT_HAS(msg, dir / "train-images-idx3-ubyte");
  EXPECT_HAS(msg, "truncated");

  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels(4, 4));  // 4 labels for 5 images
  msg = error_of([&] { load_dataset(dir.str(), Split::Test); });
  EXPECT_HAS(msg, dir / "t10k-labels-idx1-ubyte");
  EXPECT_HAS(msg, "5 images");
}

TEST(DataIdx, CorruptAndTruncatedGzip) {
  TempDir dir;
  write_idx_dir(dir.str(), true);
  const std::string path = dir / "train-images-idx3-ubyte.gz";
  std::vector<uint8_t> good = read_file(path);

  std::vector<uint8_t> bad = good;
  for (size_t i = 12; i < bad.size() - 8; ++i) bad[i] ^= 0x5a;
  write_bytes(path, bad);
  std::string msg = error_of([&] { load_dataset(dir.str(), Split::Train); });
  EXPECT_HAS(msg, path);
  EXPECT_HAS(msg, "gzip");

  std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<long>(good.size() / 2));
  write_bytes(path, cut);
  msg = error_of([&] { load_dataset(dir.str(), Split::Train); });
  EXPECT_HAS(msg, path);
  EXPECT_HAS(msg, "truncated gzip");
}

TEST(DataLoad, MissingPathAndUnknownFormat) {
  TempDir dir;
  const std::string missing = dir / "nothing-here";
  std::string msg = error_of([&] { load_dataset(missing, Split::Train); });
  EXPECT_HAS(msg, missing);
  EXPECT_HAS(msg, "no such file");

  write_bytes(dir / "junk.tar.gz", {1, 2, 3, 4, 5, 6, 7, 8});
  msg = error_of([&] { load_dataset(dir / "junk.tar.gz", Split::Train); });
  EXPECT_HAS(msg, dir / "junk.tar.gz");
  EXPECT_HAS(msg, "not a data set");

  EXPECT_THROW(parse_split("valid"), DataError);
  EXPECT_EQ(parse_split("test"), Split::Test);
}

// ---- CIFAR binary ------------------------------------------------------------------------------

TEST(DataCifar, Cifar10Batches) {
  TempDir dir;
  std::vector<uint8_t> b1, b2, t;
  for (int i = 0; i < 3; ++i) add_cifar_record(b1, {static_cast<uint8_t>(i)}, 0);
  for (int i = 0; i < 2; ++i) add_cifar_record(b2, {static_cast<uint8_t>(9 - i)}, 1);
  add_cifar_record(t, {4}, 2);
  write_bytes(dir / "data_batch_1.bin", b1);
  write_bytes(dir / "data_batch_2.bin", b2);
  write_bytes(dir / "test_batch.bin", t);

  const Dataset train = load_dataset(dir.str(), Split::Train);
  ASSERT_EQ(train.size(), 5u);
  EXPECT_EQ(train.labels, (std::vector<int64_t>{0, 1, 2, 9, 8}));
  EXPECT_EQ(train.classes, cifar10_classes());
  EXPECT_EQ(train.channels, 3);
  EXPECT_EQ(train.height, 32);
  EXPECT_EQ(train.width, 32);
  // Record bytes are already CHW: pixel 1024 is the first green value.
  EXPECT_EQ(train.image(3)[1024], static_cast<uint8_t>(9 + 3 * 1024 + 1));
  EXPECT_EQ(train.image(1)[3071], static_cast<uint8_t>(1 + 3 * 3071));

  const Dataset test = load_dataset(dir.str(), Split::Test);
  ASSERT_EQ(test.size(), 1u);
  EXPECT_EQ(test.labels[0], 4);

  // One batch file on its own.
  EXPECT_EQ(load_dataset(dir / "data_batch_2.bin", Split::Train).labels,
            (std::vector<int64_t>{9, 8}));
  LoadOptions opt;
  opt.limit = 4;
  EXPECT_EQ(load_dataset(dir.str(), Split::Train, opt).labels, (std::vector<int64_t>{0, 1, 2, 9}));
}

TEST(DataCifar, Cifar100UsesFineLabel) {
  TempDir dir;
  std::vector<uint8_t> b;
  add_cifar_record(b, {3, 77}, 0);
  add_cifar_record(b, {19, 99}, 0);
  write_bytes(dir / "cifar-100-binary/train.bin", b);
  const Dataset ds = load_dataset(dir.str(), Split::Train);
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{77, 99}));
  ASSERT_EQ(ds.classes.size(), 100u);
  EXPECT_EQ(ds.classes[99], "worm");
  EXPECT_EQ(ds.image(0)[0], 77);
}

TEST(DataCifar, TruncatedBatchNamesFile) {
  TempDir dir;
  std::vector<uint8_t> t;
  add_cifar_record(t, {1}, 0);
  add_cifar_record(t, {2}, 0);
  t.resize(t.size() - 100);
  write_bytes(dir / "test_batch.bin", t);
  const std::string msg = error_of([&] { load_dataset(dir.str(), Split::Test); });
  EXPECT_HAS(msg, dir / "test_batch.bin");
  EXPECT_HAS(msg, "truncated");
  // The train split is simply missing here.
  EXPECT_HAS(error_of([&] { load_dataset(dir.str(), Split::Train); }), "data_batch_1.bin");
}

// ---- image trees and archives ------------------------------------------------------------------

TEST(DataImageTree, LoadsSortedClassesAndPixels) {
  TempDir dir;
  write_tree(dir / "tree");
  const Dataset ds = load_dataset(dir / "tree", Split::Train);
  expect_tree_train(ds);
  const Dataset test = load_dataset(dir / "tree", Split::Test);
  EXPECT_EQ(test.labels, (std::vector<int64_t>{0, 1, 2}));
  // Single decode thread gives the same result; a single top folder is skipped over.
  write_tree(dir / "outer/top");
  LoadOptions one;
  one.threads = 1;
  expect_tree_train(load_dataset(dir / "outer", Split::Train, one));
}

TEST(DataImageTree, BalancedLimit) {
  TempDir dir;
  write_tree(dir.str());
  LoadOptions opt;
  opt.limit = 5;
  opt.balanced = true;
  const Dataset ds = load_dataset(dir.str(), Split::Train, opt);
  // Round-robin: ant0 cat0 dog0 ant1 dog1.
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{0, 1, 2, 0, 2}));
  EXPECT_EQ(ds.image(4)[0], 21);
  EXPECT_EQ(select_samples({0, 0, 0, 1}, 2, opt), (std::vector<size_t>{0, 3, 1, 2}));
}

TEST(DataImageTree, WrongSizeUndecodableAndEmpty) {
  TempDir dir;
  write_tree(dir.str());
  write_png(dir / "train/dog/img9.png", 5, 7, 0);
  std::string msg = error_of([&] { load_dataset(dir.str(), Split::Train); });
  EXPECT_HAS(msg, dir / "train/dog/img9.png");
  EXPECT_HAS(msg, "7x5");
  fs::remove(dir / "train/dog/img9.png");

  write_bytes(dir / "train/cat/broken.jpg", {0xff, 0xd8, 0xff, 0xe0, 1, 2, 3});
  msg = error_of([&] { load_dataset(dir.str(), Split::Train); });
  EXPECT_HAS(msg, dir / "train/cat/broken.jpg");
  EXPECT_HAS(msg, "decode");

  TempDir empty;
  fs::create_directories(empty / "train/cat");
  msg = error_of([&] { load_dataset(empty.str(), Split::Train); });
  EXPECT_HAS(msg, empty / "train");
  EXPECT_HAS(msg, "no images");
  EXPECT_HAS(error_of([&] { load_dataset(empty.str(), Split::Test); }), "no 'test' folder");
}

TEST(DataArchive, TarGzMatchesFolder) {
  TempDir dir;
  write_tree(dir / "tree");
  write_tar_gz(dir / "tree", dir / "plain.tar.gz", "");
  write_tar_gz(dir / "tree", dir / "topped.tar.gz", "cifar/");
  expect_tree_train(load_dataset(dir / "plain.tar.gz", Split::Train));
  expect_tree_train(load_dataset(dir / "topped.tar.gz", Split::Train));
  EXPECT_EQ(load_dataset(dir / "topped.tar.gz", Split::Test).size(), 3u);
}

TEST(DataArchive, ErrorsNameArchiveAndEntry) {
  TempDir dir;
  write_tree(dir / "tree");
  write_bytes(dir / "tree/test/cat/bad.png", {0x89, 'P', 'N', 'G', 0, 0});
  write_tar_gz(dir / "tree", dir / "a.tar.gz", "");
  const std::string msg = error_of([&] { load_dataset(dir / "a.tar.gz", Split::Test); });
  EXPECT_HAS(msg, dir / "a.tar.gz" + ":test/cat/bad.png");

  // A truncated archive.
  std::vector<uint8_t> bytes = read_file(dir / "a.tar.gz");
  bytes.resize(bytes.size() / 2);
  write_bytes(dir / "cut.tar.gz", bytes);
  EXPECT_HAS(error_of([&] { load_dataset(dir / "cut.tar.gz", Split::Test); }), dir / "cut.tar.gz");

  // An archive without the split.
  fs::remove_all(dir / "tree/test");
  write_tar_gz(dir / "tree", dir / "b.tar.gz", "");
  EXPECT_HAS(error_of([&] { load_dataset(dir / "b.tar.gz", Split::Test); }), "no images");
}

// ---- single images -----------------------------------------------------------------------------

TEST(DataImage, DecodesChwAndChecksChannels) {
  TempDir dir;
  write_png(dir / "rgb.png", 3, 4, 5);
  write_png(dir / "grey.png", 3, 4, 5, 1);
  write_png(dir / "rgba.png", 3, 4, 5, 4);
  const Image rgb = load_image(dir / "rgb.png");
  ASSERT_EQ(rgb.channels, 3);
  ASSERT_EQ(rgb.height, 3);
  ASSERT_EQ(rgb.width, 4);
  EXPECT_EQ(rgb.pixels[(2 * 3 + 1) * 4 + 3], 40 * 2 + 10 * 1 + 3 + 5);
  EXPECT_EQ(load_image(dir / "rgba.png", 3).pixels, rgb.pixels);
  EXPECT_EQ(load_image(dir / "grey.png").channels, 1);
  const std::string msg = error_of([&] { load_image(dir / "grey.png", 3); });
  EXPECT_HAS(msg, dir / "grey.png");
  EXPECT_HAS(msg, "channel");
  EXPECT_HAS(error_of([&] { load_image(dir / "none.png"); }), "no such file");
}

// ---- normalisation, augmentation, shuffling ----------------------------------------------------

TEST(DataNormalize, StatsAndApply) {
  Dataset ds;
  ds.channels = 2;
  ds.height = 1;
  ds.width = 2;
  ds.classes = {"a"};
  ds.images = {0, 255, 51, 51, 255, 255, 51, 51};  // channel 0: 0,255,255,255; channel 1: 51s
  ds.labels = {0, 0};
  const Normalization n = channel_stats(ds);
  EXPECT_NEAR(n.mean[0], 0.75f, 1e-6);
  EXPECT_NEAR(n.std[0], std::sqrt(0.1875f), 1e-6);
  EXPECT_NEAR(n.mean[1], 0.2f, 1e-6);
  EXPECT_EQ(n.std[1], 1.0f);  // constant channel
  float out[4];
  normalize_image(ds.image(0), 2, 1, 2, n, out);
  EXPECT_NEAR(out[0], -0.75f / std::sqrt(0.1875f), 1e-5);
  EXPECT_NEAR(out[2], 0.0f, 1e-6);
  EXPECT_THROW(normalize_image(ds.image(0), 2, 1, 2, Normalization::identity(3), out), DataError);
}

TEST(DataAugment, DeterministicAndDistributed) {
  const AugmentConfig cfg{4, true, 8};
  std::set<int> dys;
  int flips = 0;
  for (uint64_t i = 0; i < 2000; ++i) {
    const AugmentDraw a = draw_augment(cfg, 42, 3, i, 32, 32);
    const AugmentDraw b = draw_augment(cfg, 42, 3, i, 32, 32);
    ASSERT_EQ(a.dy, b.dy);
    ASSERT_EQ(a.dx, b.dx);
    ASSERT_EQ(a.flip, b.flip);
    ASSERT_EQ(a.cut_y, b.cut_y);
    ASSERT_EQ(a.cut_x, b.cut_x);
    ASSERT_GE(a.dy, 0);
    ASSERT_LE(a.dy, 8);
    ASSERT_GE(a.cut_x, 0);
    ASSERT_LT(a.cut_x, 32);
    dys.insert(a.dy);
    flips += a.flip;
  }
  EXPECT_EQ(dys.size(), 9u);
  EXPECT_NEAR(flips, 1000, 120);
  // Another epoch draws differently; disabling flip leaves the crop draws alone.
  int same = 0;
  for (uint64_t i = 0; i < 100; ++i) {
    const AugmentDraw a = draw_augment(cfg, 42, 3, i, 32, 32);
    same += a.dy == draw_augment(cfg, 42, 4, i, 32, 32).dy;
    EXPECT_EQ(a.dx, draw_augment({4, false, 0}, 42, 3, i, 32, 32).dx);
  }
  EXPECT_LT(same, 40);
  const AugmentDraw off = draw_augment({}, 42, 3, 7, 32, 32);
  EXPECT_EQ(off.dy + off.dx + off.cut_y + off.cut_x + off.flip, 0);
}

TEST(DataAugment, FlipCropCutoutCorrectness) {
  const int C = 2, H = 3, W = 4;
  std::vector<float> src(C * H * W), dst(src.size());
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i + 1);
  auto at = [&](const std::vector<float>& v, int c, int y, int x) {
    return v[(c * H + y) * W + x];
  };

  AugmentDraw d;
  d.flip = true;
  apply_augment(src.data(), dst.data(), C, H, W, {0, true, 0}, d);
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) EXPECT_EQ(at(dst, c, y, x), at(src, c, y, W - 1 - x));

  // Pad 2, offset (dy, dx) = (1, 3): dst(y, x) = src(y - 1, x + 1), zero outside.
  d = {};
  d.dy = 1;
  d.dx = 3;
  apply_augment(src.data(), dst.data(), C, H, W, {2, false, 0}, d);
  for (int c = 0; c < C; ++c) {
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) {
        const int sy = y - 1, sx = x + 1;
        const float want = (sy >= 0 && sx < W) ? at(src, c, sy, sx) : 0.0f;
        EXPECT_EQ(at(dst, c, y, x), want) << c << y << x;
      }
    }
  }
  // Centre offset (pad, pad) is the identity; cutout 2 at (1, 1) zeroes rows 0-1, cols 0-1.
  d = {};
  d.dy = d.dx = 2;
  d.cut_y = d.cut_x = 1;
  apply_augment(src.data(), dst.data(), C, H, W, {2, false, 2}, d);
  for (int c = 0; c < C; ++c) {
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) {
        EXPECT_EQ(at(dst, c, y, x), (y < 2 && x < 2) ? 0.0f : at(src, c, y, x));
      }
    }
  }
  // The uint8 overload agrees.
  std::vector<uint8_t> s8(src.begin(), src.end()), d8(s8.size());
  apply_augment(s8.data(), d8.data(), C, H, W, {2, false, 2}, d);
  for (size_t i = 0; i < d8.size(); ++i) EXPECT_EQ(static_cast<float>(d8[i]), dst[i]);
}

TEST(DataShuffle, EpochOrder) {
  const auto a = epoch_order(1000, 7, 2, true);
  EXPECT_EQ(a, epoch_order(1000, 7, 2, true));
  EXPECT_NE(a, epoch_order(1000, 7, 3, true));
  EXPECT_NE(a, epoch_order(1000, 8, 2, true));
  std::vector<size_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, epoch_order(1000, 7, 2, false));
  EXPECT_NE(a, sorted);
}

// ---- loader ------------------------------------------------------------------------------------

TEST(DataLoader, DeterministicAndMatchesSynchronousReference) {
  const auto ds = synthetic(103, 3, 8, 8, 10);
  LoaderConfig cfg;
  cfg.batch_size = 16;
  cfg.seed = 123;
  cfg.augment = {2, true, 3};
  cfg.norm = Normalization{{0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.3f}};
  Loader a(ds, cfg), b(ds, cfg);
  EXPECT_EQ(a.batches_per_epoch(), 7u);
  for (uint64_t epoch = 0; epoch < 2; ++epoch) {
    EXPECT_EQ(a.epoch(), epoch);
    const auto ba = drain_epoch(a), bb = drain_epoch(b);
    ASSERT_EQ(ba.size(), 7u);
    ASSERT_EQ(bb.size(), 7u);
    const auto order = epoch_order(103, cfg.seed, epoch, true);
    for (size_t k = 0; k < ba.size(); ++k) {
      EXPECT_EQ(ba[k].images, bb[k].images);
      EXPECT_EQ(ba[k].labels, bb[k].labels);
      EXPECT_EQ(ba[k].index, k);
      EXPECT_EQ(ba[k].epoch, epoch);
      EXPECT_EQ(ba[k].size(), k < 6 ? 16u : 7u);
      Batch ref;
      const size_t begin = k * 16, count = std::min<size_t>(16, 103 - begin);
      fill_batch(*ds, cfg, epoch, std::span<const size_t>(order).subspan(begin, count), ref);
      EXPECT_EQ(ba[k].images, ref.images);
      EXPECT_EQ(ba[k].labels, ref.labels);
      EXPECT_EQ(ba[k].indices, ref.indices);
    }
    // One sample rebuilt from the primitives.
    const size_t idx = ba[2].indices[5];
    std::vector<float> norm(ds->image_size()), aug(ds->image_size());
    normalize_image(ds->image(idx), 3, 8, 8, cfg.norm, norm.data());
    apply_augment(norm.data(), aug.data(), 3, 8, 8, cfg.augment,
                  draw_augment(cfg.augment, cfg.seed, epoch, idx, 8, 8));
    EXPECT_EQ(std::vector<float>(ba[2].images.begin() + 5 * 192, ba[2].images.begin() + 6 * 192),
              aug);
    EXPECT_EQ(ba[2].labels[5], ds->labels[idx]);
  }
  LoaderConfig other = cfg;
  other.seed = 124;
  Loader c(ds, other);
  EXPECT_NE(c.next()->images, b.next()->images);
}

TEST(DataLoader, DropLastNoShuffleLimitAndResume) {
  const auto ds = synthetic(50, 1, 4, 4, 5);
  LoaderConfig cfg;
  cfg.batch_size = 8;
  cfg.drop_last = true;
  cfg.shuffle = false;
  cfg.limit = 30;
  Loader plain(ds, cfg);
  const auto batches = drain_epoch(plain);
  ASSERT_EQ(batches.size(), 3u);  // 30 samples -> 3 full batches of 8
  for (size_t k = 0; k < 3; ++k) {
    for (size_t j = 0; j < 8; ++j) EXPECT_EQ(batches[k].indices[j], k * 8 + j);
    EXPECT_FLOAT_EQ(batches[k].images[0], ds->image(k * 8)[0] / 255.0f);
  }
  // Resume: a loader started at epoch 2 gives what the first one gives in its epoch 2.
  LoaderConfig shuf = cfg;
  shuf.shuffle = true;
  shuf.augment = AugmentConfig::cifar();
  Loader first(ds, shuf);
  drain_epoch(first);
  drain_epoch(first);
  shuf.start_epoch = 2;
  Loader resumed(ds, shuf);
  EXPECT_EQ(resumed.epoch(), 2u);
  const auto x = drain_epoch(first), y = drain_epoch(resumed);
  ASSERT_EQ(x.size(), y.size());
  for (size_t k = 0; k < x.size(); ++k) {
    EXPECT_EQ(x[k].images, y[k].images);
    EXPECT_EQ(x[k].indices, y[k].indices);
    for (size_t i : x[k].indices) EXPECT_LT(i, 30u);
  }
}

TEST(DataLoader, WorkerExceptionReachesConsumer) {
  const auto ds = synthetic(40, 1, 2, 2, 2);
  LoaderConfig cfg;
  cfg.batch_size = 4;
  cfg.on_batch = [](Batch& b) {
    if (b.index == 2) throw std::runtime_error("probe failure in batch 2");
  };
  Loader loader(ds, cfg);
  EXPECT_TRUE(loader.next().has_value());
  EXPECT_TRUE(loader.next().has_value());
  EXPECT_HAS(error_of([&] { loader.next(); }), "probe failure in batch 2");
  EXPECT_HAS(error_of([&] { loader.next(); }), "probe failure");  // sticky
}

TEST(DataLoader, CleanShutdownAndBadConfig) {
  const auto ds = synthetic(1000, 3, 8, 8, 10);
  for (int k = 0; k < 20; ++k) {
    LoaderConfig cfg;
    cfg.batch_size = 10;
    cfg.queue_depth = 1 + k % 3;
    Loader loader(ds, cfg);
    if (k % 2) loader.next();  // destroyed with the worker blocked on a full queue
  }
  LoaderConfig cfg;
  cfg.batch_size = 2000;
  cfg.drop_last = true;
  EXPECT_THROW((Loader{ds, cfg}), DataError);
  cfg = {};
  cfg.norm = Normalization::identity(1);
  EXPECT_THROW((Loader{ds, cfg}), DataError);
  auto bad = std::make_shared<Dataset>(*ds);
  bad->labels[3] = 10;
  EXPECT_HAS(error_of([&] { Loader l(bad, LoaderConfig{}); }), "label 10");
}

// ---- real data (skipped when absent) -----------------------------------------------------------

TEST(DataReal, FashionMnist) {
  if (!is_directory(default_fashion_mnist_dir())) GTEST_SKIP() << "no Fashion-MNIST installed";
  const Dataset train = load_fashion_mnist(Split::Train);
  const Dataset test = load_fashion_mnist(Split::Test);
  EXPECT_EQ(train.size(), 60000u);
  EXPECT_EQ(test.size(), 10000u);
  EXPECT_EQ(train.channels, 1);
  EXPECT_EQ(train.height, 28);
  EXPECT_EQ(train.width, 28);
  EXPECT_EQ(train.classes[9], "Ankle boot");
  const Dataset again = load_dataset(default_fashion_mnist_dir(), Split::Test);
  EXPECT_EQ(again.images, test.images);
  EXPECT_EQ(again.classes, fashion_mnist_classes());
  const Normalization n = channel_stats(train);
  EXPECT_NEAR(n.mean[0], 0.286f, 0.01f);
  EXPECT_NEAR(n.std[0], 0.353f, 0.01f);
}

TEST(DataReal, Cifar10ArchiveTestSubset) {
  const std::string path = cifar10_archive();
  if (!is_file(path)) GTEST_SKIP() << "no CIFAR-10 archive at " << path;
  LoadOptions opt;
  opt.limit = 1000;
  opt.balanced = true;
  const auto t0 = std::chrono::steady_clock::now();
  const Dataset ds = load_dataset(path, Split::Test, opt);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ info ] CIFAR-10 test, 1000 balanced images from %s: %.3f s\n", path.c_str(), s);
  ASSERT_EQ(ds.size(), 1000u);
  EXPECT_EQ(ds.classes, cifar10_classes());
  EXPECT_EQ(ds.channels, 3);
  EXPECT_EQ(ds.height, 32);
  EXPECT_EQ(ds.width, 32);
  std::vector<int> per_class(10, 0);
  for (int64_t l : ds.labels) per_class[static_cast<size_t>(l)]++;
  EXPECT_EQ(per_class, std::vector<int>(10, 100));
  const Normalization n = channel_stats(ds);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(n.mean[c], cifar10_normalization().mean[c], 0.03f);
    EXPECT_NEAR(n.std[c], cifar10_normalization().std[c], 0.03f);
  }
}

// Slow (the whole train split): run with --gtest_also_run_disabled_tests to time it.
TEST(DataReal, DISABLED_Cifar10ArchiveFullTrain) {
  const std::string path = cifar10_archive();
  if (!is_file(path)) GTEST_SKIP() << "no CIFAR-10 archive at " << path;
  for (int threads : {1, 2}) {
    LoadOptions opt;
    opt.threads = threads;
    const auto t0 = std::chrono::steady_clock::now();
    const Dataset ds = load_dataset(path, Split::Train, opt);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[ info ] CIFAR-10 train, all %zu images, %d thread(s): %.3f s\n", ds.size(),
                threads, s);
    EXPECT_EQ(ds.size(), 50000u);
  }
}
