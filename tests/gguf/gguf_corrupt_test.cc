// Malformed, truncated and hostile GGUF files: every one must give a clean error that says what
// is wrong (expected vs actual), never a crash, a hang or a huge allocation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "gguf/raw_gguf.h"

namespace bastion {
namespace {

using ::testing::HasSubstr;
using testing::ParseBytes;
using testing::ParseError;
using testing::RawGguf;
using testing::RawTensor;
using testing::Str;
using testing::U32;
using testing::U64;
using testing::U8;

constexpr uint64_t kHuge = uint64_t{1} << 60;

// A valid little file: two keys, an F32 vector [8] at 0 and an F32 matrix [4, 2] at 32.
RawGguf Valid() {
  RawGguf g;
  g.KvString("general.architecture", "qwen2");
  g.KvU32("qwen2.block_count", 2);
  g.tensors = {{"a", {8}, 0, 0, {}}, {"b", {4, 2}, 0, 32, {}}};
  g.data = std::string(64, '\x11');
  return g;
}

TEST(GgufCorrupt, BaselineIsValid) {
  auto r = ParseBytes(Valid().Build());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ((*r)->tensors().size(), 2u);
  EXPECT_EQ((*r)->tensors()[1].size_bytes, 32u);
}

TEST(GgufCorrupt, EmptyAndTinyFiles) {
  EXPECT_THAT(ParseError(""), HasSubstr("<memory>: file is 0 bytes, too small for a GGUF header"));
  EXPECT_THAT(ParseError("GG"), HasSubstr("file is 2 bytes"));
  EXPECT_THAT(ParseError("GGUF"), HasSubstr("unexpected end of file reading version at byte 4"));
}

TEST(GgufCorrupt, BadMagic) {
  RawGguf g = Valid();
  g.magic = 0x4c4d4747;  // "GGML"
  EXPECT_THAT(ParseError(g.Build()),
              HasSubstr("not a GGUF file: magic is 'GGML' (bytes 47 47 4d 4c), expected 'GGUF'"));
}

TEST(GgufCorrupt, Versions) {
  RawGguf g = Valid();
  g.version = 1;
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("GGUF version 1 is not supported"));
  g.version = 0;
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("unsupported GGUF version 0, expected 2 or 3"));
  g.version = 4;
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("unsupported GGUF version 4, expected 2 or 3"));
  g.version = 3u << 24;
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("big-endian GGUF file (version 3)"));
}

TEST(GgufCorrupt, HugeCountsAreRejectedBeforeAllocating) {
  RawGguf g = Valid();
  g.kv_count = kHuge;
  EXPECT_THAT(ParseError(g.Build()),
              HasSubstr("metadata key-value count 1152921504606846976 cannot fit"));
  g = Valid();
  g.tensor_count = kHuge;
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("tensor count 1152921504606846976 cannot fit"));

  // Arrays: counts of 2^60 and 2^64-1 for fixed-size, string and nested elements.
  for (uint32_t elem : {0u, 7u, 8u, 9u, 12u}) {
    for (uint64_t count : {kHuge, ~uint64_t{0}}) {
      RawGguf a;
      a.Kv("big", 9, U32(elem) + U64(count) + std::string(64, '\0'));
      const std::string err = ParseError(a.Build());
      EXPECT_THAT(err, HasSubstr("key 'big': array of " + std::to_string(count))) << err;
      EXPECT_THAT(err, HasSubstr(" are left (file size ")) << err;
    }
  }
  RawGguf s;
  s.Kv("name", 8, U64(kHuge) + "abc");
  EXPECT_THAT(ParseError(s.Build()),
              HasSubstr("key 'name': string value at byte 40 has length 1152921504606846976, past "
                        "end of file ("));
  const std::string bytes =
      U32(0x46554747) + U32(3) + U64(0) + U64(1) + U64(kHuge) + "key" + std::string(16, 'x');
  EXPECT_THAT(ParseError(bytes), HasSubstr("metadata entry 0: key at byte 24 has length"));
  // A string inside an array.
  RawGguf sa;
  sa.Kv("tokens", 9, U32(8) + U64(2) + Str("ok") + U64(kHuge) + "x");
  EXPECT_THAT(ParseError(sa.Build()), HasSubstr("key 'tokens': array element 1: string at byte"));
}

TEST(GgufCorrupt, BadValueTypeIds) {
  RawGguf g;
  g.Kv("weird", 13, U32(0));
  EXPECT_THAT(ParseError(g.Build()),
              HasSubstr("key 'weird': unknown value type id 13 (valid ids are 0 to 12)"));
  RawGguf a;
  a.Kv("arr", 9, U32(99) + U64(1) + U32(0));
  EXPECT_THAT(ParseError(a.Build()), HasSubstr("key 'arr': array has unknown element type id 99"));
  RawGguf b;
  b.Kv("flag", 7, U8(2));
  EXPECT_THAT(ParseError(b.Build()), HasSubstr("key 'flag': bool value is 2, expected 0 or 1"));
  RawGguf ba;
  ba.Kv("flags", 9, U32(7) + U64(3) + U8(1) + U8(0) + U8(5));
  EXPECT_THAT(ParseError(ba.Build()),
              HasSubstr("key 'flags': bool element 2 is 5, expected 0 or 1"));
}

TEST(GgufCorrupt, NestingDepthIsLimited) {
  // kGgufMaxArrayDepth + 1 levels of arrays, innermost an empty u8 array.
  std::string payload;
  for (int i = 0; i < kGgufMaxArrayDepth; ++i) payload += U32(9) + U64(1);
  payload += U32(0) + U64(0);
  RawGguf g;
  g.Kv("deep", 9, payload);
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("arrays nested more than 8 deep"));
  // A hostile file claiming a million nesting levels fails at the same depth, without recursion.
  std::string hostile;
  for (int i = 0; i < 100000; ++i) hostile += U32(9) + U64(1);
  RawGguf h;
  h.Kv("deep", 9, hostile);
  EXPECT_THAT(ParseError(h.Build()), HasSubstr("arrays nested more than 8 deep"));
}

TEST(GgufCorrupt, DuplicateAndEmptyKeys) {
  RawGguf g = Valid();
  g.KvU32("qwen2.block_count", 3);
  EXPECT_THAT(ParseError(g.Build()),
              HasSubstr("metadata entry 2: duplicate key 'qwen2.block_count' (first defined by "
                        "metadata entry 1)"));
  RawGguf e;
  e.KvU32("", 1);
  EXPECT_THAT(ParseError(e.Build()), HasSubstr("metadata entry 0: key is empty"));
}

TEST(GgufCorrupt, Alignment) {
  RawGguf g = Valid();
  g.Kv("general.alignment", 5, U32(64));  // int32, llama.cpp wants uint32
  EXPECT_THAT(ParseError(g.Build()),
              HasSubstr("key 'general.alignment': expected uint32, got int32"));
  for (uint32_t bad : {0u, 48u}) {
    RawGguf b = Valid();
    b.KvU32("general.alignment", bad);
    EXPECT_THAT(ParseError(b.Build()),
                HasSubstr("alignment " + std::to_string(bad) + " is not a power of two"));
  }
  // A valid 64-byte alignment places the data section at a multiple of 64.
  RawGguf ok = Valid();
  ok.KvU32("general.alignment", 64);
  ok.alignment = 64;
  ok.tensors[1].offset = 64;
  ok.data = std::string(96, '\x22');
  auto r = ParseBytes(ok.Build());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ((*r)->data_offset() % 64, 0u);
  // With the 64 alignment, offset 32 is misaligned.
  ok.tensors[1].offset = 32;
  EXPECT_THAT(ParseError(ok.Build()),
              HasSubstr("tensor 'b': data offset 32 is not a multiple of the alignment 64"));
  // An enormous alignment puts the data section past the end of the file.
  RawGguf huge = Valid();
  huge.KvU32("general.alignment", 1u << 31);
  EXPECT_THAT(ParseError(huge.Build()), HasSubstr("data section starts at byte 2147483648"));
}

TEST(GgufCorrupt, TensorShapes) {
  auto with = [](RawTensor t) {
    RawGguf g = Valid();
    g.tensors[1] = std::move(t);
    return ParseError(g.Build());
  };
  EXPECT_THAT(with({"b", {1, 1, 1, 1, 1}, 0, 32, {}}),
              HasSubstr("tensor 'b': has 5 dimensions, expected 1 to 4"));
  EXPECT_THAT(with({"b", {}, 0, 32, {}}),
              HasSubstr("tensor 'b': has 0 dimensions, expected 1 to 4"));
  EXPECT_THAT(with({"b", {4, 0}, 0, 32, {}}),
              HasSubstr("tensor 'b': dimension 1 is 0, expected 1 to 2^63-1"));
  EXPECT_THAT(with({"b", {~uint64_t{0}}, 0, 32, {}}),
              HasSubstr("dimension 0 is 18446744073709551615"));
  EXPECT_THAT(with({"b", {1ull << 32, 1ull << 32}, 0, 32, {}}),
              HasSubstr("tensor 'b': element count of shape [4294967296, 4294967296] overflows"));
  // 2^62 F32 elements fit int64 but their byte size does not fit 64 bits.
  EXPECT_THAT(with({"b", {1ull << 62}, 0, 32, {}}),
              HasSubstr("data size of shape [4611686018427387904] in F32 overflows"));
  // n_dims says 4 billion: rejected before reading any dimension.
  EXPECT_THAT(with({"b", {4}, 0, 32, 0xffffffffu}), HasSubstr("has 4294967295 dimensions"));
  EXPECT_THAT(
      with({"b", {48, 2}, 2, 32, {}}),
      HasSubstr(
          "tensor 'b': row length (shape[0]) 48 is not a multiple of the Q4_0 block size 32"));
  EXPECT_THAT(with({"b", {128}, 12, 32, {}}),
              HasSubstr("not a multiple of the Q4_K block size 256"));
}

TEST(GgufCorrupt, TensorTypes) {
  RawGguf g = Valid();
  g.tensors[0].type = 99;
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("tensor 'a': unknown GGML type id 99"));
  g.tensors[0].type = 4;
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("tensor 'a': type Q4_2 (id 4) is obsolete"));
  g.tensors[0].type = 0x80000000u;
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("unknown GGML type id 2147483648"));
}

TEST(GgufCorrupt, TensorNames) {
  RawGguf g = Valid();
  g.tensors[1].name = "a";
  EXPECT_THAT(ParseError(g.Build()),
              HasSubstr("tensor 1: duplicate name 'a' (first used by tensor 0)"));
  g.tensors[1].name = "";
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("tensor 1: name is empty"));
  g.tensors[1].name = std::string(64, 'n');
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("is 64 bytes long, GGML allows at most 63"));
}

TEST(GgufCorrupt, TensorDataRanges) {
  RawGguf g = Valid();
  g.tensors[1].offset = 64;  // 32 bytes at 64: ends at 96 > 64-byte data section
  const std::string err = ParseError(g.Build());
  EXPECT_THAT(err, HasSubstr("tensor 'b': data [offset 64, 32 bytes] ends at byte"));
  EXPECT_THAT(err, HasSubstr("past end of file (size"));

  g.tensors[1].offset = ~uint64_t{0} - 31;  // aligned, and offset + size wraps around 2^64
  EXPECT_THAT(ParseError(g.Build()), HasSubstr("ends beyond 2^64, past end of file"));

  g.tensors[1].offset = 16;
  EXPECT_THAT(ParseError(g.Build()),
              HasSubstr("tensor 'b': data offset 16 is not a multiple of the alignment 32"));

  RawGguf overlap = Valid();
  overlap.tensors[0].dims = {16};  // 64 bytes at 0 overlaps 'b' at 32
  overlap.data = std::string(96, '\0');
  EXPECT_THAT(ParseError(overlap.Build()),
              HasSubstr("tensors 'a' [offset 0, 64 bytes] and 'b' [offset 32, 32 bytes] overlap"));

  RawGguf same = Valid();
  same.tensors[1].offset = 0;
  same.tensors[1].dims = {8};
  EXPECT_THAT(ParseError(same.Build()), HasSubstr("overlap"));

  // Tensors in a different order than their data is fine (only overlap matters).
  RawGguf swapped = Valid();
  swapped.tensors[0].offset = 32;
  swapped.tensors[1].offset = 0;
  swapped.tensors[0].dims = {8};
  swapped.tensors[1].dims = {4, 2};
  EXPECT_TRUE(ParseBytes(swapped.Build()).ok());
}

TEST(GgufCorrupt, NamesInMessagesAreEscapedAndCut) {
  RawGguf g;
  g.Kv(std::string("bad\nkey") + std::string(100, 'k'), 13, "");
  const std::string err = ParseError(g.Build());
  EXPECT_THAT(err, HasSubstr("key 'bad\\x0akeykkk"));
  EXPECT_THAT(err, HasSubstr("...': unknown value type id 13"));
}

// A writer-made file with every kind of value and several tensors.
std::vector<uint8_t> RichFile() {
  GgufWriter w;
  w.SetString("general.architecture", "qwen2");
  w.SetUint32("qwen2.block_count", 2);
  w.Set("i8", GgufValue::Of(int8_t{-1}));
  w.Set("f64", GgufValue::Of(2.5));
  w.SetBool("flag", true);
  w.SetStringArray("tokens", {"a", "bc", "", "<|im_end|>"});
  w.SetInt32Array("types", {1, 1, 3, 3});
  w.Set("nested", GgufValue::ArrayOf(
                      std::vector<GgufValue>{GgufValue::ArrayOf(std::vector<uint16_t>{1, 2}),
                                             GgufValue::ArrayOf(std::vector<std::string>{"x"})}));
  w.AddTensor("token_embd.weight", GgmlType::kQ8_0, {32, 4}, std::vector<uint8_t>(4 * 34, 7));
  w.AddTensor("output_norm.weight", GgmlType::kF32, {3}, std::vector<uint8_t>(12, 9));
  w.AddTensor("blk.0.attn_q.weight", GgmlType::kF16, {8, 2}, std::vector<uint8_t>(32, 5));
  auto r = w.WriteToBuffer();
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

TEST(GgufCorrupt, TruncatedAtEveryByte) {
  const std::vector<uint8_t> full = RichFile();
  auto parsed = ParseBytes(full);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  // Bytes after the end of the last tensor's data are padding: cutting them loses nothing.
  uint64_t needed = 0;
  for (const GgufTensorInfo& t : (*parsed)->tensors()) {
    needed = std::max<uint64_t>(needed, (*parsed)->data_offset() + t.offset + t.size_bytes);
  }
  const std::regex truncation(
      "too small for a GGUF header|unexpected end of file reading .* at byte \\d+: need \\d+ "
      "bytes, \\d+ left|past end of file|cannot fit in the \\d+ bytes|needs at least \\d+ bytes");
  for (size_t len = 0; len < full.size(); ++len) {
    auto r = ParseBytes(std::vector<uint8_t>(full.begin(), full.begin() + len));
    if (len >= needed) {
      EXPECT_TRUE(r.ok()) << "len " << len << ": " << r.error().message();
    } else {
      ASSERT_FALSE(r.ok()) << "truncated to " << len << " bytes but parsed";
      EXPECT_TRUE(std::regex_search(r.error().message(), truncation))
          << "len " << len << ": " << r.error().message();
    }
  }
}

TEST(GgufCorrupt, EveryByteFlippedNeverCrashes) {
  // Not every flip is an error (data bytes are free), but every outcome must be clean.
  const std::vector<uint8_t> full = RichFile();
  size_t errors = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    for (uint8_t x : {uint8_t{0xff}, uint8_t{0x80}, uint8_t{0x01}}) {
      std::vector<uint8_t> bytes = full;
      bytes[i] ^= x;
      auto r = ParseBytes(bytes);
      if (!r.ok()) {
        ++errors;
        EXPECT_FALSE(r.error().message().empty());
      } else {
        for (const GgufTensorInfo& t : (*r)->tensors()) {
          EXPECT_LE(t.data + t.size_bytes, (*r)->mapped_file().data() + bytes.size());
        }
      }
    }
  }
  EXPECT_GT(errors, full.size() / 4);  // the header region is dense with checks
}

}  // namespace
}  // namespace bastion
