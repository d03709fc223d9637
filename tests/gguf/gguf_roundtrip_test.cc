// Writer -> reader round trips: every value type (nested and empty arrays included), typed
// getters and their errors, tensor layout and alignment, v2 files, atomic writes to disk.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <limits>

#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "gguf/raw_gguf.h"
#include "test_util.h"

namespace bastion {
namespace {

using testing::ParseBytes;

std::vector<uint8_t> Bytes(const GgufWriter& w) {
  auto r = w.WriteToBuffer();
  EXPECT_TRUE(r.ok()) << r.error().message();
  return std::move(r).value();
}

std::unique_ptr<GgufFile> RoundTrip(const GgufWriter& w) {
  auto r = ParseBytes(Bytes(w));
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

// Every value type, with edge values, in one writer; returns the (key, value) pairs set.
std::vector<std::pair<std::string, GgufValue>> AllValueKinds() {
  const float nan_payload = std::bit_cast<float>(0x7fc01234u);
  std::vector<std::pair<std::string, GgufValue>> kv = {
      {"u8", GgufValue::Of(uint8_t{255})},
      {"i8", GgufValue::Of(int8_t{-128})},
      {"u16", GgufValue::Of(uint16_t{65535})},
      {"i16", GgufValue::Of(int16_t{-32768})},
      {"u32", GgufValue::Of(uint32_t{4000000000u})},
      {"i32", GgufValue::Of(int32_t{-2000000000})},
      {"f32", GgufValue::Of(1.5e-7f)},
      {"f32.nan", GgufValue::Of(nan_payload)},
      {"f32.negzero", GgufValue::Of(-0.0f)},
      {"bool.t", GgufValue::Of(true)},
      {"bool.f", GgufValue::Of(false)},
      {"str", GgufValue::Of("héllo <|im_end|>\n")},
      {"str.empty", GgufValue::Of("")},
      {"str.nul", GgufValue::Of(std::string("a\0b", 3))},
      {"u64", GgufValue::Of(std::numeric_limits<uint64_t>::max())},
      {"i64", GgufValue::Of(std::numeric_limits<int64_t>::min())},
      {"f64", GgufValue::Of(-1e300)},
      {"arr.u8", GgufValue::ArrayOf(std::vector<uint8_t>{0, 1, 255})},
      {"arr.i8", GgufValue::ArrayOf(std::vector<int8_t>{-1, 0, 127})},
      {"arr.u16", GgufValue::ArrayOf(std::vector<uint16_t>{1, 65535})},
      {"arr.i16", GgufValue::ArrayOf(std::vector<int16_t>{-5, 5})},
      {"arr.u32", GgufValue::ArrayOf(std::vector<uint32_t>{7, 8, 9})},
      {"arr.i32", GgufValue::ArrayOf(std::vector<int32_t>{1, -1, 3})},
      {"arr.f32", GgufValue::ArrayOf(std::vector<float>{0.5f, -2.0f, INFINITY})},
      {"arr.bool", GgufValue::ArrayOf(std::vector<bool>{true, false, true})},
      {"arr.str",
       GgufValue::ArrayOf(std::vector<std::string>{"a", "", "ĠĠ", std::string(300, 'x')})},
      {"arr.u64", GgufValue::ArrayOf(std::vector<uint64_t>{1ull << 63})},
      {"arr.i64", GgufValue::ArrayOf(std::vector<int64_t>{-(1ll << 62)})},
      {"arr.f64", GgufValue::ArrayOf(std::vector<double>{3.25, -0.0})},
      {"arr.empty.u8", GgufValue::ArrayOf(std::vector<uint8_t>{})},
      {"arr.empty.str", GgufValue::ArrayOf(std::vector<std::string>{})},
      {"arr.empty.arr", GgufValue::ArrayOf(std::vector<GgufValue>{})},
  };
  // Arrays of arrays with different element types, an empty inner array, and a deep chain.
  GgufValue inner_a = GgufValue::ArrayOf(std::vector<int32_t>{1, 2, 3});
  GgufValue inner_b = GgufValue::ArrayOf(std::vector<std::string>{"x", "y"});
  GgufValue inner_c = GgufValue::ArrayOf(std::vector<float>{});
  kv.emplace_back("arr.nested",
                  GgufValue::ArrayOf(std::vector<GgufValue>{inner_a, inner_b, inner_c}));
  GgufValue deep = GgufValue::ArrayOf(std::vector<uint8_t>{42});
  for (int depth = 1; depth < kGgufMaxArrayDepth; ++depth) {
    deep = GgufValue::ArrayOf(std::vector<GgufValue>{deep});
  }
  kv.emplace_back("arr.deepest", deep);  // exactly kGgufMaxArrayDepth levels: still readable
  return kv;
}

TEST(GgufRoundTrip, EveryValueType) {
  GgufWriter w;
  const auto kv = AllValueKinds();
  for (const auto& [key, value] : kv) w.Set(key, value);
  auto f = RoundTrip(w);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_TRUE(f->tensors().empty());
  ASSERT_EQ(f->keys().size(), kv.size());
  for (size_t i = 0; i < kv.size(); ++i) {
    EXPECT_EQ(f->keys()[i], kv[i].first);  // file order is insertion order
    const GgufValue* v = f->Find(kv[i].first);
    ASSERT_NE(v, nullptr) << kv[i].first;
    EXPECT_TRUE(*v == kv[i].second)
        << kv[i].first << ": got " << v->Describe(200) << ", want " << kv[i].second.Describe(200);
  }
  EXPECT_EQ(f->Find("absent"), nullptr);
  EXPECT_EQ(f->Find("arr.nested")->TypeDescription(), "array[array]");
  EXPECT_EQ(f->Find("arr.nested")->array_size(), 3u);
  EXPECT_EQ(f->Find("str.nul")->As<std::string>()->size(), 3u);
}

TEST(GgufRoundTrip, SettingAKeyTwiceReplacesItInPlace) {
  GgufWriter w;
  w.SetUint32("a", 1);
  w.SetString("b", "x");
  w.SetUint32("c", 3);
  w.SetString("a", "replaced");
  w.Remove("c");
  auto f = RoundTrip(w);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->keys(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*f->GetString("a"), "replaced");
}

TEST(GgufRoundTrip, TypedGetters) {
  GgufWriter w;
  w.SetUint32("u32", 151936);
  w.Set("u8", GgufValue::Of(uint8_t{7}));
  w.SetInt32("i32.pos", 12);
  w.SetInt32("i32.neg", -3);
  w.SetUint64("u64.big", 1ull << 40);
  w.Set("u64.max", GgufValue::Of(std::numeric_limits<uint64_t>::max()));
  w.SetFloat32("f32", 1e-6f);
  w.Set("f64", GgufValue::Of(1e6));
  w.SetBool("flag", true);
  w.SetString("name", "qwen2");
  w.SetStringArray("tokens", {"a", "b", "c"});
  w.SetInt32Array("types", {1, 3, 4});
  w.SetFloat32Array("scores", {0.5f, 0.25f});
  w.Set("u32s", GgufValue::ArrayOf(std::vector<uint32_t>{1}));
  auto f = RoundTrip(w);
  ASSERT_NE(f, nullptr);

  EXPECT_EQ(*f->GetUint("u32"), 151936u);
  EXPECT_EQ(*f->GetUint("u8"), 7u);
  EXPECT_EQ(*f->GetUint("i32.pos"), 12u);
  EXPECT_EQ(*f->GetUint32("u32"), 151936u);
  EXPECT_EQ(*f->GetInt("i32.neg"), -3);
  EXPECT_EQ(*f->GetInt("u64.big"), int64_t{1} << 40);
  EXPECT_FLOAT_EQ(*f->GetFloat("f32"), 1e-6f);
  EXPECT_FLOAT_EQ(*f->GetFloat("f64"), 1e6f);
  EXPECT_FLOAT_EQ(*f->GetFloat("u32"), 151936.0f);
  EXPECT_TRUE(*f->GetBool("flag"));
  EXPECT_EQ(*f->GetString("name"), "qwen2");
  EXPECT_EQ(f->GetStringArray("tokens")->size(), 3u);
  EXPECT_EQ((*f->GetStringArray("tokens"))[2], "c");
  EXPECT_EQ((*f->GetInt32Array("types"))[1], 3);
  EXPECT_EQ((*f->GetFloatArray("scores"))[1], 0.25f);

  auto err = [](const auto& r) { return r.ok() ? std::string("<ok>") : r.error().message(); };
  EXPECT_EQ(err(f->GetUint("missing")), "key 'missing' not found");
  EXPECT_EQ(err(f->GetUint("name")), "key 'name': expected an unsigned integer, got string");
  EXPECT_EQ(err(f->GetUint("i32.neg")),
            "key 'i32.neg': expected a non-negative integer, got int32 -3");
  EXPECT_EQ(err(f->GetUint32("u64.big")),
            "key 'u64.big': value 1099511627776 does not fit in uint32");
  EXPECT_EQ(err(f->GetInt("u64.max")),
            "key 'u64.max': value 18446744073709551615 does not fit in int64");
  EXPECT_EQ(err(f->GetInt("f32")), "key 'f32': expected an integer, got float32");
  EXPECT_EQ(err(f->GetFloat("name")), "key 'name': expected float32, got string");
  EXPECT_EQ(err(f->GetBool("u32")), "key 'u32': expected bool, got uint32");
  EXPECT_EQ(err(f->GetString("u32")), "key 'u32': expected string, got uint32");
  EXPECT_EQ(err(f->GetStringArray("name")), "key 'name': expected array[string], got string");
  EXPECT_EQ(err(f->GetInt32Array("u32s")), "key 'u32s': expected array[int32], got array[uint32]");
  EXPECT_EQ(err(f->GetFloatArray("types")),
            "key 'types': expected array[float32], got array[int32]");
}

TEST(GgufRoundTrip, DescribeValue) {
  GgufWriter w;
  w.SetUint32("n", 2);
  w.SetString("s", "a\"b\n");
  w.SetStringArray("tokens", {"!", "\"", "#"});
  std::vector<int32_t> many(1000, 1);
  w.SetInt32Array("types", many);
  w.Set("nested",
        GgufValue::ArrayOf(std::vector<GgufValue>{GgufValue::ArrayOf(std::vector<uint8_t>{1, 2})}));
  auto f = RoundTrip(w);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->DescribeValue("n", 80), "uint32 2");
  EXPECT_EQ(f->DescribeValue("s", 80), "string \"a\\\"b\\n\"");
  EXPECT_EQ(f->DescribeValue("tokens", 80), "array[string] (3) [\"!\", \"\\\"\", \"#\"]");
  EXPECT_EQ(f->DescribeValue("nested", 80), "array[array] (1) [array[uint8] (2) [1, 2]]");
  EXPECT_EQ(f->DescribeValue("missing", 80), "<missing>");
  const std::string long_desc = f->DescribeValue("types", 60);
  EXPECT_LE(long_desc.size(), 60u);
  EXPECT_EQ(long_desc.substr(0, 27), "array[int32] (1000) [1, 1, ");
  EXPECT_EQ(long_desc.substr(long_desc.size() - 3), "...");
}

// Adds F32, F16, Q4_0, Q8_0 and Q4_K tensors with distinct byte patterns.
void AddSampleTensors(GgufWriter& w) {
  w.AddTensor("f32.vec", GgmlType::kF32, {5}, Pattern(20, 1));
  w.AddTensor("f16.mat", GgmlType::kF16, {3, 2}, Pattern(12, 2));
  w.AddTensor("q4_0.mat", GgmlType::kQ4_0, {64, 3}, Pattern(2 * 3 * 18, 3));
  w.AddTensorFrom("q8_0.mat", GgmlType::kQ8_0, {32, 2, 2}, [](std::span<uint8_t> out) {
    const auto p = Pattern(out.size(), 4);
    std::copy(p.begin(), p.end(), out.begin());
    return OkStatus();
  });
  w.AddTensor("q4_k.mat", GgmlType::kQ4_K, {256, 1, 1, 2}, Pattern(2 * 144, 5));
}

void ExpectSampleTensors(const GgufFile& f, size_t alignment) {
  const std::vector<std::tuple<std::string, GgmlType, std::vector<int64_t>, size_t, uint8_t>> want =
      {
          {"f32.vec", GgmlType::kF32, {5}, 20, 1},
          {"f16.mat", GgmlType::kF16, {3, 2}, 12, 2},
          {"q4_0.mat", GgmlType::kQ4_0, {64, 3}, 108, 3},
          {"q8_0.mat", GgmlType::kQ8_0, {32, 2, 2}, 136, 4},
          {"q4_k.mat", GgmlType::kQ4_K, {256, 1, 1, 2}, 288, 5},
      };
  ASSERT_EQ(f.tensors().size(), want.size());
  uint64_t expected_offset = 0;  // llama.cpp's layout: file order, each padded to the alignment
  for (size_t i = 0; i < want.size(); ++i) {
    const auto& [name, type, shape, size, seed] = want[i];
    const GgufTensorInfo& t = f.tensors()[i];
    EXPECT_EQ(f.FindTensor(name), &t);
    EXPECT_EQ(t.name, name);
    EXPECT_EQ(t.type, type);
    EXPECT_EQ(t.shape, shape);
    EXPECT_EQ(t.size_bytes, size);
    EXPECT_EQ(t.offset, expected_offset);
    expected_offset += (size + alignment - 1) / alignment * alignment;
    const size_t file_pos = static_cast<size_t>(t.data - f.mapped_file().data());
    EXPECT_EQ(file_pos, f.data_offset() + t.offset);
    EXPECT_EQ(file_pos % alignment, 0u) << name;
    const auto p = Pattern(size, seed);
    EXPECT_TRUE(std::equal(p.begin(), p.end(), t.bytes().begin(), t.bytes().end())) << name;
  }
  EXPECT_EQ(f.FindTensor("nope"), nullptr);
  EXPECT_EQ(f.data_offset() % alignment, 0u);
  EXPECT_EQ(f.mapped_file().size(), f.data_offset() + expected_offset);  // data padded at the end
}

TEST(GgufRoundTrip, TensorsDefaultAlignment) {
  GgufWriter w;
  w.SetString("general.architecture", "qwen2");
  AddSampleTensors(w);
  auto f = RoundTrip(w);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(f->Find("general.alignment"), nullptr);  // default alignment is not written
  ExpectSampleTensors(*f, 32);
  EXPECT_EQ(f->tensors()[2].n_elements, 192);
}

TEST(GgufRoundTrip, CustomAlignment) {
  for (size_t alignment : {size_t{1}, size_t{8}, size_t{64}, size_t{4096}}) {
    GgufWriter w;
    w.SetString("general.architecture", "qwen2");
    w.SetAlignment(alignment);
    AddSampleTensors(w);
    auto f = RoundTrip(w);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->alignment(), alignment);
    if (alignment != 32) {
      EXPECT_EQ(*f->GetUint("general.alignment"), alignment);
    }
    ExpectSampleTensors(*f, alignment);
  }
  // Back to the default: the key disappears again.
  GgufWriter w;
  w.SetUint32("general.alignment", 64);
  EXPECT_EQ(w.alignment(), 64u);
  w.SetAlignment(32);
  auto f = RoundTrip(w);
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->keys().empty());
}

// A file without tensors has no data section, so its header is not padded to the alignment: the
// reader accepts any power of two up to 2^31 there, and a fuzzed file with general.alignment =
// 2^30 once made the writer build a 1 GiB header (gguf_fuzz's round trip ran out of memory).
TEST(GgufRoundTrip, NoTensorsNoPaddingWhateverTheAlignment) {
  GgufWriter w;
  w.SetString("general.architecture", "qwen2");
  w.SetAlignment(size_t{1} << 30);
  const std::vector<uint8_t> bytes = Bytes(w);
  EXPECT_LT(bytes.size(), 256u);
  auto f = ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ((*f)->alignment(), size_t{1} << 30);
  EXPECT_TRUE((*f)->tensors().empty());
  // With a tensor the data section starts at the next multiple of the alignment, as before.
  GgufWriter t;
  t.SetAlignment(4096);
  AddSampleTensors(t);
  EXPECT_EQ(Bytes(t).size() % 4096, 0u);
}

TEST(GgufRoundTrip, Version2ParsesLikeVersion3) {
  // v2 introduced the 64-bit counts and lengths that v3 kept; v3 only added big-endian files,
  // so a little-endian v2 file is a v3 file with a different version number.
  GgufWriter w;
  w.SetStringArray("tokens", {"a", "b"});
  AddSampleTensors(w);
  std::vector<uint8_t> bytes = Bytes(w);
  ASSERT_EQ(bytes[4], 3);
  bytes[4] = 2;
  auto r = ParseBytes(bytes);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ((*r)->version(), 2u);
  EXPECT_EQ((*r)->GetStringArray("tokens")->size(), 2u);
  ExpectSampleTensors(**r, 32);
}

TEST(GgufRoundTrip, WriteToDiskIsAtomicAndReadable) {
  const std::string dir = testing::TempDir("gguf_write");
  const std::string path = dir + "/model.gguf";
  GgufWriter w;
  w.SetString("general.name", "first");
  AddSampleTensors(w);
  ASSERT_TRUE(w.Write(path).ok());
  w.SetString("general.name", "second");
  ASSERT_TRUE(w.Write(path).ok());  // replaces the file
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.error().message();
  EXPECT_EQ(*(*f)->GetString("general.name"), "second");
  EXPECT_EQ((*f)->path(), path);
  ExpectSampleTensors(**f, 32);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);  // no temp files

  // A producer that fails: the error is reported, the old file stays, no temp file remains.
  GgufWriter bad;
  bad.AddTensorFrom("t", GgmlType::kF32, {4},
                    [](std::span<uint8_t>) { return Status(Error("source tensor missing")); });
  Status s = bad.Write(path);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("producing tensor 't': source tensor missing"),
            std::string::npos)
      << s.error().message();
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
  EXPECT_TRUE(GgufFile::Open(path).ok());

  Status no_dir = w.Write(dir + "/missing/x.gguf");
  ASSERT_FALSE(no_dir.ok());
  EXPECT_NE(no_dir.error().message().find("No such file or directory"), std::string::npos);
}

TEST(GgufRoundTrip, OpenMissingFileNamesThePath) {
  auto r = GgufFile::Open("/nonexistent/dir/x.gguf");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("/nonexistent/dir/x.gguf"), std::string::npos);
}

TEST(GgufWriterDeathTest, MisuseIsABug) {
  GgufWriter w;
  w.AddTensor("a", GgmlType::kF32, {1}, Pattern(4, 0));
  EXPECT_DEATH(w.AddTensor("a", GgmlType::kF32, {1}, Pattern(4, 0)), "duplicate tensor name");
  EXPECT_DEATH(w.AddTensor("b", GgmlType::kF32, {2}, Pattern(4, 0)), "data size");
  EXPECT_DEATH(w.AddTensor("c", GgmlType::kQ4_0, {16}, Pattern(18, 0)), "block size");
  EXPECT_DEATH(w.AddTensor(std::string(64, 'n'), GgmlType::kF32, {1}, Pattern(4, 0)),
               "GGML_MAX_NAME");
  EXPECT_DEATH(w.SetAlignment(48), "power of two");
}

}  // namespace
}  // namespace bastion
