// Qwen2 pre-tokenizer on hand-written cases: each expectation is what the regex (Oniguruma /
// Python `regex`) gives for that input.
#include "tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bastion {
namespace {

std::vector<std::string> Split(std::string_view text) {
  std::vector<std::string> out;
  for (std::string_view piece : PreTokenizeQwen2(text)) out.emplace_back(piece);
  return out;
}

using V = std::vector<std::string>;

TEST(PreTokenizer, Empty) { EXPECT_TRUE(Split("").empty()); }

TEST(PreTokenizer, Contractions) {
  EXPECT_EQ(Split("I'm here"), (V{"I", "'m", " here"}));
  EXPECT_EQ(Split("HE'LL"), (V{"HE", "'LL"}));
  EXPECT_EQ(Split("they've"), (V{"they", "'ve"}));
  EXPECT_EQ(Split("don't"), (V{"don", "'t"}));
  EXPECT_EQ(Split("'sa"), (V{"'s", "a"}));  // the contraction wins even inside a word
  EXPECT_EQ(Split("'x"), (V{"'x"}));        // not a contraction: apostrophe leads the letters
  EXPECT_EQ(Split("'"), (V{"'"}));
  EXPECT_EQ(Split("rock 'n' roll"), (V{"rock", " '", "n", "'", " roll"}));
  EXPECT_EQ(Split("\xE2\x80\x99s"), (V{"\xE2\x80\x99s"}));  // ’s: curly apostrophe is no contraction
}

TEST(PreTokenizer, DigitsSplitSingly) {
  EXPECT_EQ(Split("12345"), (V{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(Split(" 2024"), (V{" ", "2", "0", "2", "4"}));
  EXPECT_EQ(Split("v1.2"), (V{"v", "1", ".", "2"}));
  EXPECT_EQ(Split("123abc"), (V{"1", "2", "3", "abc"}));
  EXPECT_EQ(Split("\xE2\x91\xA0\xE2\x91\xA1"), (V{"\xE2\x91\xA0", "\xE2\x91\xA1"}));  // ①②
}

TEST(PreTokenizer, LettersAndPrefix) {
  EXPECT_EQ(Split("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(Split("$hello"), (V{"$hello"}));
  EXPECT_EQ(Split("\thello"), (V{"\thello"}));
  EXPECT_EQ(Split("\nhello"), (V{"\n", "hello"}));  // CR/LF never lead a word
  EXPECT_EQ(Split("\xC2\xA0nbsp"), (V{"\xC2\xA0nbsp"}));
  EXPECT_EQ(Split("snake_case"), (V{"snake", "_case"}));
}

TEST(PreTokenizer, Whitespace) {
  EXPECT_EQ(Split("a  b"), (V{"a", " ", " b"}));
  EXPECT_EQ(Split("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(Split("trailing   "), (V{"trailing", "   "}));  // \s+(?!\S) at the end takes all
  EXPECT_EQ(Split("   hello"), (V{"  ", " hello"}));
  EXPECT_EQ(Split("a\t\tb"), (V{"a", "\t", "\tb"}));
  EXPECT_EQ(Split(" "), (V{" "}));
  EXPECT_EQ(Split("a \n b"), (V{"a", " \n", " b"}));
  EXPECT_EQ(Split("   \n  x"), (V{"   \n", " ", " x"}));
  EXPECT_EQ(Split(" \n "), (V{" \n", " "}));
  EXPECT_EQ(Split("x \t \n \t "), (V{"x", " \t \n", " \t "}));
  EXPECT_EQ(Split("a  1"), (V{"a", " ", " ", "1"}));
}

TEST(PreTokenizer, Newlines) {
  EXPECT_EQ(Split("a\nb"), (V{"a", "\n", "b"}));
  EXPECT_EQ(Split("a\n\n\nb"), (V{"a", "\n\n\n", "b"}));
  EXPECT_EQ(Split("\r\n\r\n"), (V{"\r\n\r\n"}));
  EXPECT_EQ(Split("a\rb"), (V{"a", "\r", "b"}));
  EXPECT_EQ(Split("\n \n x"), (V{"\n \n", " x"}));
}

TEST(PreTokenizer, Punctuation) {
  EXPECT_EQ(Split("x !!!\n\ny"), (V{"x", " !!!\n\n", "y"}));
  EXPECT_EQ(Split("a, b."), (V{"a", ",", " b", "."}));
  EXPECT_EQ(Split("{}"), (V{"{}"}));
  EXPECT_EQ(Split("x->y = *p;"), (V{"x", "->", "y", " =", " *", "p", ";"}));
  EXPECT_EQ(Split("  !"), (V{" ", " !"}));
  EXPECT_EQ(Split("e.g."), (V{"e", ".g", "."}));
}

TEST(PreTokenizer, CjkAndEmoji) {
  EXPECT_EQ(Split("你好，世界！"), (V{"你好", "，世界", "！"}));
  EXPECT_EQ(Split("中文English混合"), (V{"中文English混合"}));
  EXPECT_EQ(Split("hi🙂there"), (V{"hi", "🙂there"}));
  EXPECT_EQ(Split("😀😃"), (V{"😀😃"}));
  EXPECT_EQ(Split("😀 hello 😀"), (V{"😀", " hello", " 😀"}));
}

TEST(PreTokenizer, PiecesCoverInput) {
  const std::string text = "Mixed: 12 words,\n\n  spaces\t\ttabs ünïcödé 🦙🦙 'LL 're\r\n end  ";
  std::string joined;
  for (std::string_view p : PreTokenizeQwen2(text)) {
    EXPECT_FALSE(p.empty());
    joined += p;
  }
  EXPECT_EQ(joined, text);
}

}  // namespace
}  // namespace bastion
