// A small byte-level vocabulary for constraint tests: the 256 byte tokens, merged tokens that
// span JSON structure, strings, escapes and partial UTF-8 sequences, and special tokens of every
// kind (<|im_end|> is eos, <|endoftext|> bos; both end generation).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace bastion::grammar::testing {

// A byte-level vocabulary with JSON-ish merged tokens (so tokens span structure, strings and
// partial UTF-8) and special tokens of each kind.
inline std::unique_ptr<Tokenizer> MakeSmallTokenizer() {
  TokenizerData d;
  d.model = "gpt2";
  d.pre = "qwen2";
  for (int b = 0; b < 256; ++b) {
    d.tokens.push_back(BytesToByteLevel(std::string(1, static_cast<char>(b))));
    d.token_types.push_back(1);
  }
  const char* const kPieces[] = {
      "{\"", "\":", "\",", "\"}", "\":\"", "true", "false", "null", " \"", "\n  ", "  ", "[{", "}]", "},",
      "], ", "12", "0.", "e+", "-1", "\\n", "\\u00", "\\\"", "ab", "name", "\xC3\xA9", "\xE6\x97", "\x97\xA5",
      "\xF0\x9F", "\x98\x80\"", "a\"", "\"a", "},{\"", "\n\n\n", "    ", ",\"", "1}", "\"\n}",
  };
  std::set<std::string> known(d.tokens.begin(), d.tokens.end());
  for (const char* piece : kPieces) {
    // Build the piece left to right by merges (prefix + next character).
    std::string prefix = BytesToByteLevel(std::string(1, piece[0]));
    for (size_t i = 1; i < std::string(piece).size(); ++i) {
      const std::string next = BytesToByteLevel(std::string(1, piece[i]));
      if (known.insert(prefix + next).second) {
        d.merges.push_back(prefix + " " + next);
        d.tokens.push_back(prefix + next);
        d.token_types.push_back(1);
      }
      prefix += next;
    }
  }
  for (const auto& [text, type] : std::vector<std::pair<std::string, TokenType>>{
           {"<|endoftext|>", TokenType::kControl}, {"<|im_end|>", TokenType::kControl},
           {"<|im_start|>", TokenType::kControl}, {"<tool_call>", TokenType::kUserDefined},
           {"[PAD]", TokenType::kUnused}}) {
    d.tokens.push_back(text);
    d.token_types.push_back(static_cast<int32_t>(type));
  }
  d.eos_id = static_cast<int32_t>(d.tokens.size()) - 4;  // <|im_end|>
  d.bos_id = static_cast<int32_t>(d.tokens.size()) - 5;  // <|endoftext|>
  auto t = Tokenizer::Create(std::move(d));
  EXPECT_TRUE(t.ok()) << t.error().message();
  return std::move(t).value();
}

}  // namespace bastion::grammar::testing
