// Unicode helpers: UTF-8 decoding and repair (maximal subparts), NFC, regex classes, byte map.
#include "tokenizer/unicode.h"

#include <gtest/gtest.h>

#include <set>

namespace bastion {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(Utf8, DecodeValid) {
  for (const auto& [text, cp] : std::vector<std::pair<std::string, uint32_t>>{
           {"A", 0x41}, {"\xC3\xA9", 0xE9}, {"\xE4\xB8\xAD", 0x4E2D}, {"\xF0\x9F\xA6\x99", 0x1F999},
           {"\xF4\x8F\xBF\xBF", 0x10FFFF}, {std::string(1, '\0'), 0}}) {
    const Utf8Step step = DecodeUtf8Step(text);
    EXPECT_EQ(step.status, Utf8Status::kValid) << text;
    EXPECT_EQ(step.code_point, cp);
    EXPECT_EQ(step.length, text.size());
    std::string round;
    AppendUtf8(cp, &round);
    EXPECT_EQ(round, text);
  }
}

TEST(Utf8, IncompleteAndInvalid) {
  EXPECT_EQ(DecodeUtf8Step("\xF0\x9F").status, Utf8Status::kIncomplete);
  EXPECT_EQ(DecodeUtf8Step("\xE4").status, Utf8Status::kIncomplete);
  EXPECT_EQ(DecodeUtf8Step("\x80").status, Utf8Status::kInvalid);
  EXPECT_EQ(DecodeUtf8Step("\xC0\x80").length, 1u);      // overlong lead
  EXPECT_EQ(DecodeUtf8Step("\xE0\x80\x80").length, 1u);  // overlong: E0 needs A0..BF
  EXPECT_EQ(DecodeUtf8Step("\xED\xA0\x80").length, 1u);  // surrogate: ED needs 80..9F
  EXPECT_EQ(DecodeUtf8Step("\xF4\x90\x80\x80").length, 1u);  // above U+10FFFF
  const Utf8Step truncated = DecodeUtf8Step("\xF0\x9F\x98" "A");
  EXPECT_EQ(truncated.status, Utf8Status::kInvalid);
  EXPECT_EQ(truncated.length, 3u);  // one maximal subpart
}

TEST(Utf8, Sanitize) {
  EXPECT_EQ(SanitizeUtf8("plain é"), "plain é");
  EXPECT_EQ(SanitizeUtf8("\xFF"), kFffd);
  EXPECT_EQ(SanitizeUtf8("a\xF0\x9F\x98" "b"), "a" + kFffd + "b");
  EXPECT_EQ(SanitizeUtf8("\xE0\x80\x80"), Repeat(kFffd, 3));
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), Repeat(kFffd, 3));
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"), Repeat(kFffd, 4));
  EXPECT_EQ(SanitizeUtf8("x\xF0\x9F"), "x" + kFffd);  // truncated at the end: one U+FFFD
  EXPECT_EQ(SanitizeUtf8(std::string("a\0b", 3)), std::string("a\0b", 3));
  EXPECT_TRUE(IsValidUtf8(SanitizeUtf8("\xC0\xC1\xF5\xFF\xFE\x80\xBF")));
}

TEST(Nfc, ComposesAndKeepsNul) {
  EXPECT_EQ(NfcNormalize("e\xCC\x81"), "\xC3\xA9");                     // e + U+0301 -> é
  EXPECT_EQ(NfcNormalize("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"), "한");  // conjoining jamo
  EXPECT_EQ(NfcNormalize("A\xCC\x8A"), "\xC3\x85");                     // A + ring -> Å
  EXPECT_EQ(NfcNormalize("\xEF\xAC\x81"), "\xEF\xAC\x81");              // ﬁ: NFC keeps compatibility chars
  EXPECT_EQ(NfcNormalize(std::string("\xC3\xA9\0x", 4)), std::string("\xC3\xA9\0x", 4));
  EXPECT_EQ(NfcNormalize("\xCC\x81"), "\xCC\x81");  // a lone combining mark stays
  EXPECT_EQ(NfcNormalize(""), "");
}

TEST(CharClass, RegexClasses) {
  EXPECT_EQ(ClassifyCodePoint('a'), CharClass::kLetter);
  EXPECT_EQ(ClassifyCodePoint(0x4E2D), CharClass::kLetter);   // 中
  EXPECT_EQ(ClassifyCodePoint(0x02B0), CharClass::kLetter);   // modifier letter (Lm)
  EXPECT_EQ(ClassifyCodePoint('7'), CharClass::kNumber);
  EXPECT_EQ(ClassifyCodePoint(0x2460), CharClass::kNumber);   // ① (No)
  EXPECT_EQ(ClassifyCodePoint(0x00BD), CharClass::kNumber);   // ½
  EXPECT_EQ(ClassifyCodePoint(0x2166), CharClass::kNumber);   // Ⅶ (Nl)
  for (uint32_t ws : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u, 0x200Au, 0x2028u,
                      0x2029u, 0x202Fu, 0x205Fu, 0x3000u}) {
    EXPECT_EQ(ClassifyCodePoint(ws), CharClass::kWhitespace) << std::hex << ws;
  }
  for (uint32_t other : {0x00u, 0x1Cu, 0x1Fu, 0x200Bu, 0xFEFFu, 0x180Eu, 0x21u, 0x1F642u, 0xE000u, 0x0301u}) {
    EXPECT_EQ(ClassifyCodePoint(other), CharClass::kOther) << std::hex << other;
  }
}

TEST(ByteMap, Gpt2Mapping) {
  EXPECT_EQ(ByteToCodePoint(' '), 0x120u);   // Ġ
  EXPECT_EQ(ByteToCodePoint('\n'), 0x10Au);  // Ċ
  EXPECT_EQ(ByteToCodePoint('A'), uint32_t{'A'});
  EXPECT_EQ(ByteToCodePoint(0xAD), 0x143u);
  EXPECT_EQ(ByteToCodePoint(0xFF), 0xFFu);
  std::set<uint32_t> images;
  for (int b = 0; b < 256; ++b) {
    const uint32_t cp = ByteToCodePoint(static_cast<uint8_t>(b));
    images.insert(cp);
    EXPECT_EQ(CodePointToByte(cp), b);
  }
  EXPECT_EQ(images.size(), 256u);
  EXPECT_EQ(CodePointToByte(0x144), -1);
  EXPECT_EQ(CodePointToByte(' '), -1);
  EXPECT_EQ(BytesToByteLevel(" hi\n"), "\xC4\xA0hi\xC4\x8A");
}

}  // namespace
}  // namespace bastion
