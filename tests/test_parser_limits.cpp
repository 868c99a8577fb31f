// The size limits on outside data (issue 15): an image, archive entry, safetensors tensor, ONNX
// tensor or input, or IDX header that declares an absurd size is refused before anything of that
// size is allocated, with a message naming the input and the cause; images other than PNG and
// JPEG are refused by their magic bytes.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "data/error.h"
#include "data/file_io.h"
#include "data/formats.h"
#include "data/image.h"
#include "models/training/checkpoint_meta.h"
#include "runtime/safetensors.h"
#include "tests/onnx_test_util.h"

namespace gb {
namespace {

using Bytes = std::vector<uint8_t>;

// The message of what `f` throws (std::runtime_error and its subclasses), or "" if it returns.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// A PNG signature and IHDR chunk declaring w x h RGB (no image data follows).
Bytes png_header(uint32_t w, uint32_t h) {
  Bytes b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  put_be32(b, 13);
  for (char c : std::string("IHDR")) b.push_back(static_cast<uint8_t>(c));
  put_be32(b, w);
  put_be32(b, h);
  for (uint8_t v : {8, 2, 0, 0, 0}) b.push_back(v);
  put_be32(b, 0);  // CRC: stb_image does not check it
  return b;
}

TEST(ImageLimits, HugePngHeaderIsRefusedBeforeDecoding) {
  const Bytes png = png_header(40000, 40000);  // 1.6e9 pixels
  const std::string msg = error_of([&] { data::decode_image(png.data(), png.size(), "huge.png"); });
  EXPECT_HAS(msg, "huge.png: ");
  EXPECT_HAS(msg, "40000 x 40000");
  EXPECT_HAS(msg, "exceeds the limit");
}

TEST(ImageLimits, OneSideOverTheLimitIsRefused) {
  const Bytes png = png_header(100000, 1);  // few pixels, but a side over 32768
  EXPECT_HAS(error_of([&] { data::decode_image(png.data(), png.size(), "wide.png"); }),
             "exceeds the limit");
}

// Found by fuzz_archive: stb_image allocated an IDAT chunk's declared length (2 GiB here) before
// finding that the file is 40 bytes long.
TEST(ImageLimits, PngChunkLongerThanTheFileIsRefused) {
  Bytes png = png_header(4, 4);
  put_be32(png, 0x7fffffff);
  for (char c : std::string("IDAT")) png.push_back(static_cast<uint8_t>(c));
  png.resize(png.size() + 8, 0);
  const std::string msg = error_of([&] { data::decode_image(png.data(), png.size(), "t.png"); });
  EXPECT_HAS(msg, "t.png: ");
  EXPECT_HAS(msg, "a chunk longer than the file");
}

// Found by fuzz_image: an empty first IDAT made stb_image read into its null data buffer.
TEST(ImageLimits, PngEmptyFirstIdatIsRefused) {
  Bytes png = png_header(4, 4);
  put_be32(png, 0);
  for (char c : std::string("IDAT")) png.push_back(static_cast<uint8_t>(c));
  put_be32(png, 0);  // CRC
  const std::string msg = error_of([&] { data::decode_image(png.data(), png.size(), "e.png"); });
  EXPECT_HAS(msg,
             "e.png: cannot decode image: corrupt PNG (an empty IDAT chunk before the image data)");
}

TEST(ImageLimits, OnlyPngAndJpegAreDecoded) {
  const std::string gif = "GIF89a\x01\x00\x01\x00\x00\x00\x00;";
  const Bytes bytes(gif.begin(), gif.end());
  const std::string msg =
      error_of([&] { data::decode_image(bytes.data(), bytes.size(), "a.gif"); });
  EXPECT_HAS(msg, "a.gif: ");
  EXPECT_HAS(msg, "not a PNG or JPEG");
}

// Found by fuzz_image: a JPEG whose DHT segment declares more than 256 codes made stb_image 2.27
// write past its Huffman tables; a scan using a Huffman table the file never defined made it
// read uninitialised tables and fail an assertion (aborting the process). Both are refused
// before stb_image decodes.
TEST(ImageLimits, JpegHuffmanTablesStbImageCannotDecodeAreRefused) {
  const std::string dir = GB_SOURCE_DIR "/tests/fuzz/regressions/image/";
  const std::pair<const char*, const char*> cases[] = {
      {"jpeg_dht_over_256_codes", "a Huffman table of more than 256 codes, or incomplete"},
      {"jpeg_incomplete_huffman_assert", "a scan uses a Huffman table that was never defined"}};
  for (const auto& [file, cause] : cases) {
    const Bytes bytes = data::read_file(dir + file);
    const std::string msg =
        error_of([&] { data::decode_image(bytes.data(), bytes.size(), "h.jpg"); });
    EXPECT_HAS(msg, "h.jpg: cannot decode image: corrupt JPEG (");
    EXPECT_HAS(msg, cause);
  }
}

// Found by fuzz_image: stb_image decodes a truncated JPEG's missing data as zeros, so a few
// hundred bytes declaring 8000 x 8000 pixels took seconds to decode.
TEST(ImageLimits, JpegTooSmallForItsSizeIsRefused) {
  Bytes jpg = data::read_file(GB_SOURCE_DIR "/tests/fuzz/corpus/image/rgb.jpg");
  for (size_t at = 2; at + 9 < jpg.size(); ++at) {
    if (jpg[at] == 0xff && jpg[at + 1] == 0xc0) {  // SOF0: length, precision, height, width
      jpg[at + 5] = jpg[at + 7] = 8000 >> 8;
      jpg[at + 6] = jpg[at + 8] = 8000 & 255;
      break;
    }
  }
  const std::string msg = error_of([&] { data::decode_image(jpg.data(), jpg.size(), "t.jpg"); });
  EXPECT_HAS(msg, "t.jpg: cannot decode image: truncated JPEG (");
  EXPECT_HAS(msg, "cannot hold 8000 x 8000 pixels");
}

// A ustar header for a regular file `name` declaring `size` bytes (octal), checksum filled in.
Bytes tar_header(const std::string& name, uint64_t size) {
  Bytes h(512, 0);
  std::memcpy(h.data(), name.data(), name.size());
  std::memcpy(h.data() + 100, "0000644", 7);
  std::memcpy(h.data() + 108, "0000000", 7);
  std::memcpy(h.data() + 116, "0000000", 7);
  std::snprintf(reinterpret_cast<char*>(h.data() + 124), 12, "%011llo",
                static_cast<unsigned long long>(size));
  std::memcpy(h.data() + 136, "00000000000", 11);
  h[156] = '0';
  std::memcpy(h.data() + 257, "ustar", 6);
  std::memcpy(h.data() + 263, "00", 2);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (uint8_t c : h) sum += c;
  std::snprintf(reinterpret_cast<char*>(h.data() + 148), 8, "%06o", sum);
  return h;
}

TEST(ArchiveLimits, EntryDeclaringAHugeSizeIsRefusedBeforeReading) {
  Bytes tar = tar_header("train/cat/1.png", 8'000'000'000ULL);
  tar.resize(tar.size() + 1024, 0);
  const std::string msg = error_of(
      [&] { data::parse_image_archive(tar.data(), tar.size(), "big.tar", data::Split::Train); });
  EXPECT_HAS(msg, "big.tar: ");
  EXPECT_HAS(msg, "train/cat/1.png is 8000000000 bytes, over the limit");
}

TEST(GzipLimits, OutputOverTheCapIsRefused) {
  // 1 MiB of zeros compresses to about 1 KB; with a 64 KiB cap it is a bomb.
  const Bytes zeros(1 << 20, 0);
  Bytes gz;
  {
    // A stored gzip member is not needed: data::gunzip reads what zlib writes.
    z_stream zs{};
    ASSERT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    gz.resize(deflateBound(&zs, zeros.size()));
    zs.next_in = const_cast<Bytef*>(zeros.data());
    zs.avail_in = static_cast<uInt>(zeros.size());
    zs.next_out = gz.data();
    zs.avail_out = static_cast<uInt>(gz.size());
    ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    gz.resize(zs.total_out);
    deflateEnd(&zs);
  }
  EXPECT_EQ(data::gunzip(gz, "zeros.gz").size(), zeros.size());
  const std::string msg = error_of([&] { data::gunzip(gz, "zeros.gz", 1 << 16); });
  EXPECT_HAS(msg, "zeros.gz: ");
  EXPECT_HAS(msg, "more than 65536 bytes");
}

Bytes idx_file(std::vector<uint32_t> dims) {
  Bytes b = {0, 0, 8, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) put_be32(b, d);
  return b;
}

TEST(IdxLimits, HugeImageSidesAreRefused) {
  const std::string msg = error_of([&] {
    data::parse_idx(idx_file({0, 100000, 100000}), "imgs", idx_file({0}), "lbls");
  });
  EXPECT_HAS(msg, "imgs: ");
  EXPECT_HAS(msg, "100000 x 100000 pixels exceed the limit");
}

TEST(IdxLimits, HugeCountIsRefused) {
  const std::string msg = error_of([&] {
    data::parse_idx(idx_file({0xffffffff, 30000, 30000}), "imgs", idx_file({0xffffffff}), "lbls");
  });
  EXPECT_HAS(msg, "imgs: IDX header dimensions are implausibly large");
}

// The 8-byte little-endian length of `header`, the header, then `data_bytes` zero bytes.
Bytes safetensors_bytes(const std::string& header, size_t data_bytes = 0) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += static_cast<char>(header.size() >> (8 * i));
  s += header;
  s.append(data_bytes, '\0');
  return Bytes(s.begin(), s.end());
}

TEST(SafetensorsLimits, TrillionElementShapeIsRefused) {
  const Bytes b = safetensors_bytes(
      R"({"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}})", 16);
  const std::string msg = error_of([&] { parse_safetensors(b, "big.safetensors"); });
  EXPECT_HAS(msg, "big.safetensors: tensor 'w'");
  EXPECT_HAS(msg, "run past the end of the data area");
}

TEST(SafetensorsLimits, ShapeOverflowIsRefused) {
  const Bytes b = safetensors_bytes(
      R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})");
  EXPECT_HAS(error_of([&] { parse_safetensors(b, "o.safetensors"); }), "overflows");
}

TEST(SafetensorsLimits, HeaderLengthIsBounded) {
  Bytes b(16, ' ');
  for (int i = 0; i < 8; ++i) b[static_cast<size_t>(i)] = 0;
  b[5] = 1;  // 2^40
  const std::string msg = error_of([&] { parse_safetensors(b, "h.safetensors"); });
  EXPECT_HAS(msg, "h.safetensors: header length 1099511627776 is absurd");
}

TEST(SafetensorsLimits, ParseFromMemoryMatchesTheFileReader) {
  const Bytes b = safetensors_bytes(
      R"({"__metadata__":{"k":"v"},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]},)"
      R"("a":{"dtype":"U8","shape":[],"data_offsets":[0,1]}})",
      3);
  const SafetensorsFile f = parse_safetensors(b, "m.safetensors");
  ASSERT_EQ(f.entries.size(), 2u);
  EXPECT_EQ(f.entries[0].name, "a");
  EXPECT_EQ(f.entries[1].bytes.size(), 2u);
  EXPECT_EQ(f.metadata.at("k"), "v");
}

// Found by fuzz_checkpoint_meta: a float where an integer is read (2.18e20 as image_size) was
// converted to int64 by nlohmann::json without a range check (undefined behaviour).
TEST(CheckpointMetaLimits, NumberOutOfRangeIsRefused) {
  const Bytes bytes = data::read_file(
      GB_SOURCE_DIR "/tests/fuzz/regressions/checkpoint_meta/float_out_of_int64_range");
  SafetensorsFile file;
  file.metadata["glassbox"] = std::string(bytes.begin(), bytes.end());
  const std::string msg = error_of([&] { training::read_checkpoint_meta(file, "m.safetensors"); });
  EXPECT_HAS(msg, "m.safetensors: bad glassbox metadata: number ");
  EXPECT_HAS(msg, "is out of range");
}

TEST(OnnxLimits, InitializerWithAbsurdDimsIsRefused) {
  ProtoBuilder b({1, 1, 4, 4});
  auto* init = b.graph()->add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {1000000, 1000000, 1000000}) init->add_dims(d);
  b.node("Relu", {"x"}, "y");
  const std::string msg = error_of([&] { models::import_onnx_bytes(b.bytes("y"), "dims.onnx"); });
  EXPECT_HAS(msg, "dims.onnx");
  EXPECT_HAS(msg, "tensor 'w' has shape [1000000, 1000000, 1000000], more than");
}

TEST(OnnxLimits, NegativeDimIsRefused) {
  ProtoBuilder b({1, 1, 4, 4});
  auto* init = b.graph()->add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(-2);
  b.node("Relu", {"x"}, "y");
  EXPECT_HAS(error_of([&] { models::import_onnx_bytes(b.bytes("y"), "neg.onnx"); }),
             "negative dimension");
}

TEST(OnnxLimits, HugeInputIsRefused) {
  ProtoBuilder b({1, 3, 100000, 100000});
  b.node("Relu", {"x"}, "y");
  const std::string msg = error_of([&] { models::import_onnx_bytes(b.bytes("y"), "in.onnx"); });
  EXPECT_HAS(msg, "in.onnx");
  EXPECT_HAS(msg, "input 'x' of size [3, 100000, 100000] exceeds the limit");
}

}  // namespace
}  // namespace gb
