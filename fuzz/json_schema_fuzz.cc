// libFuzzer target for src/grammar: compiles a JSON Schema (or takes AnyValue/AnyObject), feeds
// a document to the matcher, and drives the token constraint over a small built-in vocabulary.
//
// Input: byte 0 selects options; the rest is "<schema>\0<document>" (no NUL: all document).
//   bits 0-1: grammar: 0 AnyValue, 1 AnyObject, 2-3 the schema text (parsed with nlohmann);
//   bit 2:    on a refused byte, skip it and go on (reaches deeper states) instead of stopping;
//   bits 3-5: chunk size for the whole-chunk Feed cross-check (1..8 bytes);
//   bit 6:    token mode: the document is read as little-endian 16-bit token ids.
// Invariants checked (a failure aborts, which libFuzzer reports):
//   * compiling never crashes; errors carry a message;
//   * Feed/CanFeed agree, and a refused byte leaves the state unchanged;
//   * no dead end: unless Complete(), some byte can follow;
//   * if Complete(), the accepted bytes parse as JSON (nlohmann) and satisfy the grammar
//     (JsonGrammar::Matches, an independent value-level validator);
//   * feeding the accepted bytes whole, or in chunks, gives the same state;
//   * token mode: Allows(t) == CanFeed(bytes of t) for text tokens, end of generation only when
//     Complete(), control tokens never.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "grammar/json_constraint.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

using bastion::grammar::JsonGrammar;
using bastion::grammar::JsonMatcher;
using bastion::grammar::JsonTokenConstraint;
using bastion::grammar::TokenTable;

#define FUZZ_CHECK(cond)                                       \
  do {                                                         \
    if (!(cond)) {                                             \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s\n", #cond);  \
      std::abort();                                            \
    }                                                          \
  } while (0)

// Byte tokens, merged tokens that span JSON structure, strings and UTF-8 fragments, specials.
std::shared_ptr<const TokenTable> MakeTable(std::unique_ptr<bastion::Tokenizer>* keep) {
  bastion::TokenizerData d;
  d.model = "gpt2";
  d.pre = "qwen2";
  for (int b = 0; b < 256; ++b) {
    d.tokens.push_back(bastion::BytesToByteLevel(std::string(1, static_cast<char>(b))));
    d.token_types.push_back(1);
  }
  const char* const kPieces[] = {"{\"", "\":", "\",", "\"}", "true", "null", " \"", "\n  ", "[{", "}]",
                                 "12", "0.", "e+", "\\u00", "\\\"", "ab", "\xC3\xA9", "\xE6\x97", "\xF0\x9F", "  "};
  std::set<std::string> known(d.tokens.begin(), d.tokens.end());
  for (const char* piece : kPieces) {
    std::string prefix = bastion::BytesToByteLevel(std::string(1, piece[0]));
    for (size_t i = 1; piece[i] != 0; ++i) {
      const std::string next = bastion::BytesToByteLevel(std::string(1, piece[i]));
      if (known.insert(prefix + next).second) {
        d.merges.push_back(prefix + " " + next);
        d.tokens.push_back(prefix + next);
        d.token_types.push_back(1);
      }
      prefix += next;
    }
  }
  d.tokens.push_back("<|im_end|>");
  d.token_types.push_back(static_cast<int32_t>(bastion::TokenType::kControl));
  d.eos_id = static_cast<int32_t>(d.tokens.size()) - 1;
  d.tokens.push_back("<tool_call>");
  d.token_types.push_back(static_cast<int32_t>(bastion::TokenType::kUserDefined));
  auto t = bastion::Tokenizer::Create(std::move(d));
  FUZZ_CHECK(t.ok());
  *keep = std::move(t).value();
  return TokenTable::Build(**keep);
}

const TokenTable& Table() {
  static std::unique_ptr<bastion::Tokenizer> tokenizer;
  static const std::shared_ptr<const TokenTable> table = MakeTable(&tokenizer);
  return *table;
}

void CheckEnd(const std::shared_ptr<const JsonGrammar>& grammar, const JsonMatcher& m, const std::string& accepted) {
  FUZZ_CHECK(m.Complete() || m.NextBytes().any());
  JsonMatcher whole(grammar);
  FUZZ_CHECK(whole.Feed(accepted));
  FUZZ_CHECK(whole.Complete() == m.Complete());
  if (m.Complete()) {
    const auto parsed = nlohmann::json::parse(accepted, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) std::fprintf(stderr, "not JSON: %s\n", accepted.c_str());
    FUZZ_CHECK(!parsed.is_discarded());
    FUZZ_CHECK(grammar->Matches(parsed));
  }
}

void FeedBytes(const std::shared_ptr<const JsonGrammar>& grammar, std::string_view doc, bool skip_refused,
               size_t chunk) {
  JsonMatcher m(grammar);
  std::string accepted;
  for (char c : doc) {
    const std::string_view one(&c, 1);
    const bool can = m.CanFeed(one);
    const bool complete = m.Complete();
    if (m.Feed(one)) {
      FUZZ_CHECK(can);
      accepted += c;
      continue;
    }
    FUZZ_CHECK(!can);
    FUZZ_CHECK(m.Complete() == complete);
    if (!skip_refused) break;
  }
  CheckEnd(grammar, m, accepted);
  // Whole chunks agree with single bytes.
  JsonMatcher chunked(grammar);
  for (size_t i = 0; i < accepted.size(); i += chunk) {
    FUZZ_CHECK(chunked.Feed(std::string_view(accepted).substr(i, chunk)));
  }
  FUZZ_CHECK(chunked.Complete() == m.Complete());
}

void FeedTokens(const std::shared_ptr<const JsonGrammar>& grammar, std::string_view doc) {
  const TokenTable& table = Table();
  auto shared_table = std::shared_ptr<const TokenTable>(&table, [](const TokenTable*) {});
  JsonTokenConstraint c(shared_table, grammar);
  std::string accepted;
  for (size_t i = 0; i + 1 < doc.size(); i += 2) {
    const int32_t id = (static_cast<uint8_t>(doc[i]) | (static_cast<uint8_t>(doc[i + 1]) << 8)) % table.n_vocab();
    const bool allowed = c.Allows(id);
    switch (table.kind(id)) {
      case TokenTable::Kind::kNever: FUZZ_CHECK(!allowed); break;
      case TokenTable::Kind::kEndOfGeneration: FUZZ_CHECK(allowed == c.Complete()); break;
      case TokenTable::Kind::kText: FUZZ_CHECK(allowed == c.matcher().CanFeed(table.bytes(id))); break;
    }
    if (!allowed) continue;
    c.Accept(id);
    if (table.kind(id) == TokenTable::Kind::kEndOfGeneration) break;
    accepted += table.bytes(id);
  }
  CheckEnd(grammar, c.matcher(), accepted);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::shared_ptr<const JsonGrammar> grammar;
  std::string_view doc = input;
  switch (flags & 3) {
    case 0: grammar = JsonGrammar::AnyValue(); break;
    case 1: grammar = JsonGrammar::AnyObject(); break;
    default: {
      const size_t nul = input.find('\0');
      if (nul == std::string_view::npos) return 0;
      doc = input.substr(nul + 1);
      const auto schema = nlohmann::json::parse(input.substr(0, nul), nullptr, /*allow_exceptions=*/false);
      if (schema.is_discarded()) return 0;
      auto compiled = JsonGrammar::FromSchema(schema);
      if (!compiled.ok()) {
        FUZZ_CHECK(!compiled.error().message().empty());
        return 0;
      }
      grammar = *compiled;
    }
  }
  if (flags & 64) {
    FeedTokens(grammar, doc);
  } else {
    FeedBytes(grammar, doc, (flags & 4) != 0, 1 + ((flags >> 3) & 7));
  }
  return 0;
}
