// Helpers for the grammar tests: compile a schema from text, and feed a document byte by byte,
// reporting where it was refused while checking the matcher's invariants at every byte (the
// allowed-byte set agrees with CanFeed, and there is never a dead end).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "grammar/json_constraint.h"

namespace bastion::grammar::testing {

inline std::shared_ptr<const JsonGrammar> MustCompile(std::string_view schema_text) {
  auto grammar = JsonGrammar::FromSchema(nlohmann::json::parse(schema_text));
  EXPECT_TRUE(grammar.ok()) << schema_text << ": " << (grammar.ok() ? "" : grammar.error().message());
  return grammar.ok() ? *grammar : JsonGrammar::AnyValue();
}

inline std::string CompileError(std::string_view schema_text) {
  auto grammar = JsonGrammar::FromSchema(nlohmann::json::parse(schema_text));
  EXPECT_FALSE(grammar.ok()) << schema_text << " compiled";
  return grammar.ok() ? "" : grammar.error().message();
}

struct Trace {
  int rejected_at = -1;  // index of the first refused byte, -1 if all were accepted
  bool complete = false;
};

inline Trace Run(const std::shared_ptr<const JsonGrammar>& grammar, std::string_view doc) {
  JsonMatcher m(grammar);
  Trace t;
  for (size_t i = 0; i < doc.size(); ++i) {
    const std::bitset<256> next = m.NextBytes();
    EXPECT_TRUE(next.any() || m.Complete()) << "dead end after " << doc.substr(0, i);
    const uint8_t b = static_cast<uint8_t>(doc[i]);
    const bool ok = m.Feed(doc.substr(i, 1));
    EXPECT_EQ(ok, next[b]) << "NextBytes disagrees with Feed at byte " << i << " of " << doc;
    if (!ok) {
      t.rejected_at = static_cast<int>(i);
      // A refused byte leaves the state unchanged.
      EXPECT_EQ(m.NextBytes(), next);
      break;
    }
  }
  t.complete = m.Complete();
  // Whole-string feeding agrees with byte-by-byte feeding.
  JsonMatcher whole(grammar);
  if (t.rejected_at < 0) EXPECT_TRUE(whole.Feed(doc)) << doc;
  else EXPECT_FALSE(whole.Feed(doc)) << doc;
  return t;
}

}  // namespace bastion::grammar::testing

// The document is accepted and complete.
#define EXPECT_ACCEPTS(matcher_grammar, doc)                                              \
  do {                                                                            \
    const auto t_ = ::bastion::grammar::testing::Run((matcher_grammar), (doc));           \
    EXPECT_EQ(t_.rejected_at, -1) << "refused " << ::testing::PrintToString(std::string(doc)); \
    EXPECT_TRUE(t_.complete) << "incomplete " << ::testing::PrintToString(std::string(doc));   \
  } while (0)

// Every byte is accepted but the document is not complete.
#define EXPECT_PREFIX(matcher_grammar, doc)                                               \
  do {                                                                            \
    const auto t_ = ::bastion::grammar::testing::Run((matcher_grammar), (doc));           \
    EXPECT_EQ(t_.rejected_at, -1) << "refused " << ::testing::PrintToString(std::string(doc)); \
    EXPECT_FALSE(t_.complete) << "complete " << ::testing::PrintToString(std::string(doc));    \
  } while (0)

// The byte at `index` is the first one refused.
#define EXPECT_REJECTS_AT(matcher_grammar, doc, index)                                    \
  do {                                                                            \
    const auto t_ = ::bastion::grammar::testing::Run((matcher_grammar), (doc));           \
    EXPECT_EQ(t_.rejected_at, (index)) << ::testing::PrintToString(std::string(doc));          \
  } while (0)
