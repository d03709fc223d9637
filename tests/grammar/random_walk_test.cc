// Random walks: from the start state, repeatedly pick a random allowed byte (or token of a small
// byte-level vocabulary) until the document is complete, then parse it with nlohmann::json and
// validate it against the schema with the independent validator of random_schema.h — over
// hundreds of random schemas. Along the way: no dead ends, NextBytes agrees with CanFeed, and
// Allows agrees with CanFeed on every token.
#include <gtest/gtest.h>

#include <bitset>
#include <cstdio>
#include <string>
#include <vector>

#include "grammar/json_constraint.h"
#include "grammar_test_util.h"
#include "random_schema.h"
#include "small_vocab.h"

namespace bastion::grammar {
namespace {

using nlohmann::json;
using testing::Rng;

// Bytes a walk prefers: structure, short literals and numbers, a few escapes and UTF-8 leads.
const std::string kInteresting = std::string("{}[],:\" -.eE+0123456789tfnrulsa\\ubx\n") + "\xC3\xA9\xE6\x97\xA5";
// Once a walk is long, it steers to the end: close what is open, keep new values small.
const std::string kClosers = "}]\"0ntf1:,";
constexpr size_t kSoftLimit = 300;

// Sanitizer/debug builds are ~20x slower; they run a third of the iterations.
int Iterations(int n) {
#ifdef NDEBUG
  return n;
#else
  return n / 3;
#endif
}
// A walk through an object that admits any key but still needs a particular required one may
// never type that key by chance; such walks are abandoned (and counted), not failed.
constexpr size_t kHardLimit = 1500;

uint8_t ChooseByte(Rng& r, const std::bitset<256>& next, size_t length) {
  std::vector<uint8_t> allowed;
  for (int b = 0; b < 256; ++b) {
    if (next[b]) allowed.push_back(static_cast<uint8_t>(b));
  }
  if (length > kSoftLimit && r.Chance(0.9)) {
    for (char c : kClosers) {
      if (next[static_cast<uint8_t>(c)]) return static_cast<uint8_t>(c);
    }
  }
  if (next['"'] && r.Chance(0.15)) return '"';
  if (r.Chance(0.9)) {
    std::vector<uint8_t> nice;
    for (char c : kInteresting) {
      if (next[static_cast<uint8_t>(c)]) nice.push_back(static_cast<uint8_t>(c));
    }
    if (!nice.empty()) return r.Pick(nice);
  }
  return r.Pick(allowed);
}

enum class Walk { kDone, kAbandoned, kFailed };

// Walks one document into *out.
Walk WalkBytes(Rng& r, const std::shared_ptr<const JsonGrammar>& grammar, const json& schema, std::string* out) {
  JsonMatcher m(grammar);
  std::string doc;
  for (;;) {
    const std::bitset<256> next = m.NextBytes();
    const bool complete = m.Complete();
    if (!next.any() && !complete) {
      ADD_FAILURE() << "dead end after " << ::testing::PrintToString(doc) << " schema " << schema.dump();
      return Walk::kFailed;
    }
    if (complete && (!next.any() || r.Chance(0.3))) break;
    if (doc.size() > kHardLimit) return Walk::kAbandoned;
    const uint8_t b = ChooseByte(r, next, doc.size());
    const std::string one(1, static_cast<char>(b));
    if (!m.Feed(one)) {
      ADD_FAILURE() << "NextBytes offered a byte Feed refused";
      return Walk::kFailed;
    }
    doc += one;
  }
  *out = doc;
  return Walk::kDone;
}

void CheckDocument(const std::string& doc, const std::shared_ptr<const JsonGrammar>& grammar, const json& schema) {
  const json parsed = json::parse(doc, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(parsed.is_discarded()) << "not JSON: " << ::testing::PrintToString(doc) << " schema " << schema.dump();
  EXPECT_TRUE(testing::Valid(schema, parsed, schema))
      << "invalid: " << ::testing::PrintToString(doc) << " schema " << schema.dump();
  EXPECT_TRUE(grammar->Matches(parsed)) << "Matches disagrees: " << doc << " schema " << schema.dump();
}

TEST(JsonRandomWalk, BytesOverRandomSchemas) {
  Rng r(12345);
  int compiled = 0, documents = 0, abandoned = 0;
  size_t total_bytes = 0;
  const int schemas = Iterations(400);
  for (int i = 0; i < schemas; ++i) {
    const json schema = testing::RandomRootSchema(r);
    auto grammar = JsonGrammar::FromSchema(schema);
    if (!grammar.ok()) continue;  // unsatisfiable random combinations
    ++compiled;
    for (int walk = 0; walk < 3; ++walk) {
      std::string doc;
      const Walk w = WalkBytes(r, *grammar, schema, &doc);
      if (w == Walk::kFailed) return;
      if (w == Walk::kAbandoned) {
        ++abandoned;
        continue;
      }
      CheckDocument(doc, *grammar, schema);
      ++documents;
      total_bytes += doc.size();
    }
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(compiled, schemas * 3 / 4);
  EXPECT_LT(abandoned, documents / 10);
  std::printf("byte walks: %d schemas compiled of %d, %d documents (%.1f bytes average), %d abandoned\n", compiled,
              schemas, documents, static_cast<double>(total_bytes) / documents, abandoned);
}

TEST(JsonRandomInstances, ValidDocumentsAreAccepted) {
  Rng r(2024);
  int checked = 0, pretty = 0;
  for (int i = 0; i < Iterations(600); ++i) {
    const json schema = testing::RandomRootSchema(r);
    auto grammar = JsonGrammar::FromSchema(schema);
    if (!grammar.ok()) continue;
    for (int k = 0; k < 5; ++k) {
      const auto value = testing::RandomInstance(r, schema, schema);
      if (!value || !testing::Valid(schema, *value, schema)) continue;
      EXPECT_TRUE((*grammar)->Matches(*value)) << value->dump() << " schema " << schema.dump();
      EXPECT_ACCEPTS(*grammar, value->dump());
      ++checked;
      if (!testing::HasContainerMember(schema)) {
        EXPECT_ACCEPTS(*grammar, value->dump(2));
        ++pretty;
      }
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "schema " << schema.dump();
        return;
      }
    }
  }
  EXPECT_GT(checked, Iterations(1000));
  std::printf("valid instances accepted: %d compact, %d pretty-printed\n", checked, pretty);
}

TEST(JsonRandomWalk, BytesOverAnyValue) {
  Rng r(777);
  const json any = true;
  for (int walk = 0; walk < Iterations(300); ++walk) {
    std::string doc;
    ASSERT_EQ(WalkBytes(r, JsonGrammar::AnyValue(), any, &doc), Walk::kDone);
    CheckDocument(doc, JsonGrammar::AnyValue(), any);
    std::string obj_doc;
    ASSERT_EQ(WalkBytes(r, JsonGrammar::AnyObject(), json{{"type", "object"}}, &obj_doc), Walk::kDone);
    CheckDocument(obj_doc, JsonGrammar::AnyObject(), json{{"type", "object"}});
  }
}

TEST(JsonRandomWalk, TokensOverRandomSchemas) {
  const auto tokenizer = testing::MakeSmallTokenizer();
  const auto table = TokenTable::Build(*tokenizer);
  Rng r(4242);
  int documents = 0, abandoned = 0;
  for (int i = 0; i < Iterations(300); ++i) {
    const json schema = testing::RandomRootSchema(r);
    auto grammar = JsonGrammar::FromSchema(schema);
    if (!grammar.ok()) continue;
    for (int walk = 0; walk < 2; ++walk) {
      JsonTokenConstraint c(table, *grammar);
      std::string doc;
      bool done = false;
      for (size_t step = 0; step < 1000 && !done; ++step) {
        std::vector<int32_t> allowed, closers;
        bool eog_allowed = false;
        for (int32_t id = 0; id < table->n_vocab(); ++id) {
          const bool ok = c.Allows(id);
          const auto kind = table->kind(id);
          const bool expected = kind == TokenTable::Kind::kText ? c.matcher().CanFeed(table->bytes(id))
                                : kind == TokenTable::Kind::kEndOfGeneration ? c.Complete()
                                                                             : false;
          ASSERT_EQ(ok, expected) << "token " << id << " after " << ::testing::PrintToString(doc);
          if (!ok) continue;
          if (kind == TokenTable::Kind::kEndOfGeneration) {
            eog_allowed = true;
            continue;
          }
          allowed.push_back(id);
          if (kClosers.find(table->bytes(id)[0]) != std::string::npos) closers.push_back(id);
        }
        ASSERT_TRUE(eog_allowed || !allowed.empty()) << "dead end after " << ::testing::PrintToString(doc);
        if (eog_allowed && (allowed.empty() || r.Chance(0.3))) {
          c.Accept(tokenizer->eos_id());
          done = true;
          break;
        }
        const int32_t id = doc.size() > kSoftLimit && !closers.empty() ? r.Pick(closers) : r.Pick(allowed);
        c.Accept(id);
        doc += table->bytes(id);
      }
      if (!done) {
        ++abandoned;
        continue;
      }
      EXPECT_FALSE(c.Allows(0)) << "nothing is allowed after end of generation";
      CheckDocument(doc, *grammar, schema);
      ++documents;
    }
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(documents, Iterations(400));
  EXPECT_LT(abandoned, documents / 10);
  std::printf("token walks: %d documents, %d abandoned\n", documents, abandoned);
}

}  // namespace
}  // namespace bastion::grammar
