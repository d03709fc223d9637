// Tokenizer and StreamingDecoder on a tiny hand-made byte-level vocabulary (no shared data):
// BPE merge order, special-token splitting, invalid input, decode rules, Create validation.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>

#include "tokenizer/bpe.h"
#include "tokenizer/streaming_decoder.h"
#include "tokenizer/unicode.h"

namespace bastion {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

// 256 byte tokens (id = byte value), then one token per merge result, then special tokens.
struct TinyVocab {
  TokenizerData data;
  int32_t Id(const std::string& byte_level_text) const {
    for (size_t i = 0; i < data.tokens.size(); ++i) {
      if (data.tokens[i] == byte_level_text) return static_cast<int32_t>(i);
    }
    ADD_FAILURE() << "no token " << byte_level_text;
    return -1;
  }
};

TinyVocab MakeTinyVocab() {
  TinyVocab v;
  TokenizerData& d = v.data;
  d.model = "gpt2";
  d.pre = "qwen2";
  for (int b = 0; b < 256; ++b) {
    d.tokens.push_back(BytesToByteLevel(std::string(1, static_cast<char>(b))));
    d.token_types.push_back(1);
  }
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"l", "l"}, {"h", "e"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}, {"o", "r"}, {"Ġw", "or"},
      {"Ġwor", "l"}, {"Ġworl", "d"}, {"a", "a"}, {"b", "c"}, {"a", "b"}, {"ð", "Ł"},  // ð Ł: bytes F0 9F
  };
  for (const auto& [a, b] : merges) {
    d.merges.push_back(a + " " + b);
    d.tokens.push_back(a + b);
    d.token_types.push_back(1);
  }
  const std::vector<std::pair<std::string, TokenType>> specials = {
      {"<|endoftext|>", TokenType::kControl}, {"<|im_start|>", TokenType::kControl},
      {"<|im_end|>", TokenType::kControl},    {"<|im", TokenType::kControl},
      {"<tool_call>", TokenType::kUserDefined}, {"</tool_call>", TokenType::kUserDefined},
      {"[PAD]", TokenType::kUnused},
  };
  for (const auto& [text, type] : specials) {
    d.tokens.push_back(text);
    d.token_types.push_back(static_cast<int32_t>(type));
  }
  d.eos_id = v.Id("<|im_end|>");
  d.bos_id = v.Id("<|endoftext|>");
  return v;
}

std::unique_ptr<Tokenizer> MakeTokenizer(const TinyVocab& v) {
  auto t = Tokenizer::Create(v.data);
  EXPECT_TRUE(t.ok()) << t.error().message();
  return t.ok() ? std::move(t).value() : nullptr;
}

std::vector<int32_t> Bytes(const std::string& s) {
  std::vector<int32_t> ids;
  for (char c : s) ids.push_back(static_cast<uint8_t>(c));
  return ids;
}

TEST(Tokenizer, BpeMergesInRankOrder) {
  const TinyVocab v = MakeTinyVocab();
  auto tok = MakeTokenizer(v);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Encode("hello world", false), (std::vector<int32_t>{v.Id("hello"), v.Id("Ġworld")}));
  // Equal ranks: leftmost first ("aa" "a", not "a" "aa").
  EXPECT_EQ(tok->Encode("aaa", false), (std::vector<int32_t>{v.Id("aa"), 'a'}));
  EXPECT_EQ(tok->Encode("aaaa", false), (std::vector<int32_t>{v.Id("aa"), v.Id("aa")}));
  // "b c" (rank 10) beats "a b" (rank 11).
  EXPECT_EQ(tok->Encode("abc", false), (std::vector<int32_t>{'a', v.Id("bc")}));
  EXPECT_EQ(tok->Encode("ab", false), (std::vector<int32_t>{v.Id("ab")}));
  // A long word takes the heap path; same answer.
  std::vector<int32_t> expected(10, v.Id("aa"));
  expected.push_back('a');
  EXPECT_EQ(tok->Encode(std::string(21, 'a'), false), expected);
  EXPECT_EQ(tok->Encode("", false), std::vector<int32_t>{});
  EXPECT_EQ(tok->Decode(tok->Encode("hello world", false)), "hello world");
}

// The merge loop against the definition: repeatedly merge the lowest-rank adjacent pair,
// leftmost first. Exercises both the rescan path (short) and the heap path (long).
TEST(Tokenizer, BpeApplyMatchesDefinition) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 50; ++trial) {
    // Random merges over a 4-symbol alphabet; ids 0..3 are the symbols, merges create new ids.
    BpeMerges merges;
    std::vector<std::array<int32_t, 3>> table;  // left, right, result; index = rank
    int32_t next_id = 4;
    for (int m = 0; m < 30; ++m) {
      const int32_t l = static_cast<int32_t>(rng() % next_id), r = static_cast<int32_t>(rng() % next_id);
      if (merges.Add(l, r, next_id)) table.push_back({l, r, next_id});
      else table.push_back({-1, -1, -1});  // duplicate pair: keeps the earlier rank
      ++next_id;
    }
    for (int len : {1, 2, 5, 16, 17, 40, 200}) {
      std::vector<int32_t> word(len);
      for (int32_t& s : word) s = static_cast<int32_t>(rng() % 4);
      std::vector<int32_t> expected = word;
      while (true) {
        int best_rank = -1;
        size_t best = 0;
        for (size_t i = 0; i + 1 < expected.size(); ++i) {
          for (size_t rank = 0; rank < table.size(); ++rank) {
            if (table[rank][0] == expected[i] && table[rank][1] == expected[i + 1]) {
              if (best_rank < 0 || static_cast<int>(rank) < best_rank) {
                best_rank = static_cast<int>(rank);
                best = i;
              }
              break;
            }
          }
        }
        if (best_rank < 0) break;
        expected[best] = table[best_rank][2];
        expected.erase(expected.begin() + static_cast<std::ptrdiff_t>(best) + 1);
      }
      std::vector<int32_t> got;
      merges.Apply(word, &got);
      EXPECT_EQ(got, expected) << "trial " << trial << " len " << len;
    }
  }
}

TEST(Tokenizer, SpecialTokens) {
  const TinyVocab v = MakeTinyVocab();
  auto tok = MakeTokenizer(v);
  ASSERT_NE(tok, nullptr);
  const int32_t im_start = v.Id("<|im_start|>"), im_end = v.Id("<|im_end|>"), im = v.Id("<|im");
  const int32_t call = v.Id("<tool_call>"), end_call = v.Id("</tool_call>");
  // CONTROL tokens only with parse_special.
  EXPECT_EQ(tok->Encode("<|im_start|>", true), (std::vector<int32_t>{im_start}));
  EXPECT_EQ(tok->Decode(tok->Encode("<|im_start|>", false)), "<|im_start|>");
  const std::vector<int32_t> plain = tok->Encode("<|im_start|>", false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), im_start), 0);
  // USER_DEFINED tokens always.
  EXPECT_EQ(tok->Encode("<tool_call>ab</tool_call>", false), (std::vector<int32_t>{call, v.Id("ab"), end_call}));
  // Longest token first: "<|im_end|>" is not cut by the shorter "<|im".
  EXPECT_EQ(tok->Encode("<|im_end|><|im", true), (std::vector<int32_t>{im_end, im}));
  std::vector<int32_t> expected = {im};
  for (int32_t id : Bytes("_x")) expected.push_back(id);
  EXPECT_EQ(tok->Encode("<|im_x", true), expected);
  // UNUSED tokens are never matched in text.
  EXPECT_EQ(tok->Encode("[PAD]", true), Bytes("[PAD]"));
  // Text around specials is encoded on its own: " " before and after.
  EXPECT_EQ(tok->Encode(" <|im_end|> ", true), (std::vector<int32_t>{' ', im_end, ' '}));
  // NFC runs per fragment, after the split: ">" + U+0338 would compose to U+226F otherwise.
  expected = {im_end};
  for (int32_t id : Bytes("\xCC\xB8")) expected.push_back(id);
  EXPECT_EQ(tok->Encode("<|im_end|>\xCC\xB8", true), expected);
  // add_special only adds BOS when the vocabulary asks for it.
  EXPECT_EQ(tok->Encode("a", false, true), (std::vector<int32_t>{'a'}));
  TinyVocab with_bos = MakeTinyVocab();
  with_bos.data.add_bos = true;
  auto tok_bos = MakeTokenizer(with_bos);
  ASSERT_NE(tok_bos, nullptr);
  EXPECT_EQ(tok_bos->Encode("a", false, true), (std::vector<int32_t>{v.Id("<|endoftext|>"), 'a'}));
  EXPECT_EQ(tok_bos->Encode("a", false, false), (std::vector<int32_t>{'a'}));
}

TEST(Tokenizer, DecodeRules) {
  const TinyVocab v = MakeTinyVocab();
  auto tok = MakeTokenizer(v);
  ASSERT_NE(tok, nullptr);
  const std::vector<int32_t> ids = {v.Id("<|im_start|>"), v.Id("hello"), v.Id("<tool_call>"), v.Id("[PAD]"),
                                    v.Id("<|im_end|>")};
  EXPECT_EQ(tok->Decode(ids, true), "<|im_start|>hello<tool_call>[PAD]<|im_end|>");
  EXPECT_EQ(tok->Decode(ids, false), "hello<tool_call>");
  EXPECT_EQ(tok->TokenBytes(v.Id("Ġworld")), " world");
  EXPECT_EQ(tok->TokenBytes(v.Id("<|im_end|>")), "<|im_end|>");
  EXPECT_EQ(tok->TokenBytes(-1), "");
  EXPECT_EQ(tok->TokenBytes(tok->n_vocab()), "");
  // Out-of-range ids are skipped; a lone byte of a multi-byte char becomes U+FFFD.
  EXPECT_EQ(tok->Decode(std::vector<int32_t>{-5, 'a', 1 << 30, 0xE4}), "a" + kFffd);
  EXPECT_TRUE(tok->IsEndOfGeneration(v.Id("<|im_end|>")));
  EXPECT_TRUE(tok->IsEndOfGeneration(v.Id("<|endoftext|>")));
  EXPECT_FALSE(tok->IsEndOfGeneration(v.Id("<|im_start|>")));
  EXPECT_EQ(tok->FindToken("hello"), v.Id("hello"));
  EXPECT_EQ(tok->FindToken("nope"), std::nullopt);
}

TEST(Tokenizer, InvalidUtf8InputIsRepaired) {
  const TinyVocab v = MakeTinyVocab();
  auto tok = MakeTokenizer(v);
  ASSERT_NE(tok, nullptr);
  // Each ill-formed maximal subpart encodes as U+FFFD (bytes EF BF BD).
  EXPECT_EQ(tok->Encode("\xFF", false), Bytes(kFffd));
  EXPECT_EQ(tok->Decode(tok->Encode("a\xF0\x9F\x98 b\xC0", false)), "a" + kFffd + " b" + kFffd);
  EXPECT_EQ(tok->Decode(tok->Encode(std::string("nul\0byte", 8), false)), std::string("nul\0byte", 8));
}

TEST(StreamingDecoder, HoldsBackSplitEmoji) {
  const TinyVocab v = MakeTinyVocab();
  auto tok = MakeTokenizer(v);
  ASSERT_NE(tok, nullptr);
  StreamingDecoder stream(*tok);
  // U+1F642 = F0 9F 99 82: the merged token "ðŁ" (F0 9F), then two byte tokens.
  EXPECT_EQ(stream.Push(v.Id("ðŁ")), "");
  EXPECT_EQ(stream.pending_bytes(), 2u);
  EXPECT_EQ(stream.Push(0x99), "");
  EXPECT_EQ(stream.Push(0x82), "\xF0\x9F\x99\x82");
  EXPECT_EQ(stream.pending_bytes(), 0u);
  EXPECT_EQ(stream.Push('x'), "x");
  EXPECT_EQ(stream.Flush(), "");
}

TEST(StreamingDecoder, InvalidBytesBecomeReplacement) {
  const TinyVocab v = MakeTinyVocab();
  auto tok = MakeTokenizer(v);
  ASSERT_NE(tok, nullptr);
  StreamingDecoder stream(*tok);
  EXPECT_EQ(stream.Push(0xFF), kFffd);  // can never start a sequence
  EXPECT_EQ(stream.Push(0xF0), "");
  EXPECT_EQ(stream.Push(0x9F), "");
  EXPECT_EQ(stream.Push('A'), kFffd + "A");  // the truncated F0 9F is one maximal subpart
  EXPECT_EQ(stream.Push(0xE4), "");
  EXPECT_EQ(stream.Flush(), kFffd);  // never completed
  EXPECT_EQ(stream.Push(0xED), "");
  EXPECT_EQ(stream.Push(0xA0), kFffd + kFffd);  // surrogate: ED then A0 are separate subparts
  // Special tokens: rendered or dropped.
  StreamingDecoder quiet(*tok, /*render_special=*/false);
  EXPECT_EQ(quiet.Push(v.Id("<|im_end|>")), "");
  StreamingDecoder loud(*tok, /*render_special=*/true);
  EXPECT_EQ(loud.Push(v.Id("<|im_end|>")), "<|im_end|>");
}

TEST(StreamingDecoder, NeverEmitsPartialSequences) {
  const TinyVocab v = MakeTinyVocab();
  auto tok = MakeTokenizer(v);
  ASSERT_NE(tok, nullptr);
  std::mt19937 rng(99);
  // Byte tokens biased towards UTF-8 lead/continuation bytes, plus merged and special tokens.
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<int32_t> ids;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < n; ++i) {
      const uint32_t r = rng() % 10;
      if (r < 4) ids.push_back(0x80 + static_cast<int32_t>(rng() % 0x40));
      else if (r < 7) ids.push_back(0xC2 + static_cast<int32_t>(rng() % 0x33));
      else if (r < 9) ids.push_back(static_cast<int32_t>(rng() % 256));
      else ids.push_back(static_cast<int32_t>(rng() % tok->n_vocab()));
    }
    StreamingDecoder stream(*tok);
    std::string all;
    for (int32_t id : ids) {
      const std::string piece = stream.Push(id);
      EXPECT_TRUE(IsValidUtf8(piece));
      EXPECT_LE(stream.pending_bytes(), 3u);
      all += piece;
    }
    const std::string tail = stream.Flush();
    EXPECT_TRUE(IsValidUtf8(tail));
    all += tail;
    EXPECT_EQ(all, tok->Decode(ids));
  }
}

TEST(TokenizerCreate, Validation) {
  const auto error_of = [](TokenizerData d) {
    auto t = Tokenizer::Create(std::move(d));
    return t.ok() ? std::string() : t.error().message();
  };
  EXPECT_EQ(error_of(MakeTinyVocab().data), "");
  TokenizerData d = MakeTinyVocab().data;
  d.model = "llama";
  EXPECT_NE(error_of(d).find("gpt2"), std::string::npos);
  d = MakeTinyVocab().data;
  d.pre = "llama3";
  EXPECT_NE(error_of(d).find("llama3"), std::string::npos);
  d = MakeTinyVocab().data;
  d.tokens[0x41] = "not-a-byte";  // 'A' is no longer representable
  EXPECT_NE(error_of(d).find("byte 0x41"), std::string::npos);
  d = MakeTinyVocab().data;
  d.merges.push_back("nospace");
  EXPECT_NE(error_of(d).find("nospace"), std::string::npos);
  d = MakeTinyVocab().data;
  d.merges.push_back("x ");
  EXPECT_FALSE(error_of(d).empty());
  d = MakeTinyVocab().data;
  d.merges.push_back("q z");  // "qz" is not a token
  EXPECT_NE(error_of(d).find("'qz'"), std::string::npos);
  d = MakeTinyVocab().data;
  d.token_types.pop_back();
  EXPECT_FALSE(error_of(d).empty());
  d = MakeTinyVocab().data;
  d.token_types[3] = 7;
  EXPECT_FALSE(error_of(d).empty());
  d = MakeTinyVocab().data;
  d.eos_id = static_cast<int32_t>(d.tokens.size());
  EXPECT_NE(error_of(d).find("eos"), std::string::npos);
  d = MakeTinyVocab().data;
  d.tokens.clear();
  d.token_types.clear();
  EXPECT_FALSE(error_of(d).empty());
  d = MakeTinyVocab().data;
  d.token_types.clear();  // empty types = all NORMAL: fine
  EXPECT_EQ(error_of(d), "");
  d = MakeTinyVocab().data;
  d.bos_id = -1;
  d.add_bos = true;
  EXPECT_FALSE(error_of(d).empty());
}

}  // namespace
}  // namespace bastion
