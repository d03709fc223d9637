// JsonTokenConstraint over tokenizers: which token kinds are ever allowed, end of generation only
// when complete, the Sampler driving generation through the constraint, and — with shared/ —
// random token walks and Allows() timings on the full Qwen2.5 vocabulary (151,936 tokens).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "grammar/json_constraint.h"
#include "grammar_test_util.h"
#include "model/model.h"
#include "model/sampler.h"
#include "random_schema.h"
#include "small_vocab.h"
#include "test_util.h"

namespace bastion::grammar {
namespace {

using nlohmann::json;
using testing::MustCompile;

int32_t Id(const Tokenizer& t, const std::string& text) {
  const auto id = t.FindToken(BytesToByteLevel(text));
  if (!id) {
    ADD_FAILURE() << "no token " << text;
    return 0;
  }
  return *id;
}

TEST(JsonTokenConstraint, TokenKinds) {
  const auto tok = testing::MakeSmallTokenizer();
  const auto table = TokenTable::Build(*tok);
  const int32_t im_end = *tok->FindToken("<|im_end|>");
  const int32_t endoftext = *tok->FindToken("<|endoftext|>");
  EXPECT_EQ(table->kind(im_end), TokenTable::Kind::kEndOfGeneration);
  EXPECT_EQ(table->kind(endoftext), TokenTable::Kind::kEndOfGeneration);
  EXPECT_EQ(table->kind(*tok->FindToken("<|im_start|>")), TokenTable::Kind::kNever);
  EXPECT_EQ(table->kind(*tok->FindToken("<tool_call>")), TokenTable::Kind::kNever);
  EXPECT_EQ(table->kind(*tok->FindToken("[PAD]")), TokenTable::Kind::kNever);
  EXPECT_EQ(table->bytes(Id(*tok, "{\"")), "{\"");

  JsonTokenConstraint c(table, JsonGrammar::AnyValue());
  EXPECT_FALSE(c.Allows(im_end));  // nothing written yet
  EXPECT_FALSE(c.Allows(-1));
  EXPECT_FALSE(c.Allows(table->n_vocab()));
  EXPECT_TRUE(c.Allows(Id(*tok, "{\"")));
  EXPECT_TRUE(c.Allows(Id(*tok, "12")));
  EXPECT_FALSE(c.Allows(Id(*tok, "}]")));
  c.Accept(Id(*tok, "12"));
  EXPECT_TRUE(c.Complete());
  EXPECT_TRUE(c.Allows(im_end));
  EXPECT_TRUE(c.Allows(endoftext));
  EXPECT_TRUE(c.Allows(Id(*tok, "0.")));  // 120. continues the number
  EXPECT_FALSE(c.Allows(*tok->FindToken("<tool_call>")));
  c.Accept(Id(*tok, "0."));
  EXPECT_FALSE(c.Complete());
  EXPECT_FALSE(c.Allows(im_end));
  c.Accept(Id(*tok, "12"));
  c.Accept(im_end);
  EXPECT_FALSE(c.Allows(Id(*tok, "12")));
}

TEST(JsonTokenConstraint, TokensSpanningStructure) {
  const auto tok = testing::MakeSmallTokenizer();
  const auto g = MustCompile(R"({"properties":{"name":{"type":"string"}},"required":["name"]})");
  JsonTokenConstraint c(*tok, g);
  EXPECT_FALSE(c.Allows(Id(*tok, "[{")));
  ASSERT_TRUE(c.Allows(Id(*tok, "{\"")));
  c.Accept(Id(*tok, "{\""));
  EXPECT_FALSE(c.Allows(Id(*tok, "ab")));  // not a key
  ASSERT_TRUE(c.Allows(Id(*tok, "name")));
  c.Accept(Id(*tok, "name"));
  ASSERT_TRUE(c.Allows(Id(*tok, "\":\"")));
  c.Accept(Id(*tok, "\":\""));
  ASSERT_TRUE(c.Allows(Id(*tok, "\xE6\x97")));  // a partial UTF-8 sequence is fine inside a string
  c.Accept(Id(*tok, "\xE6\x97"));
  EXPECT_FALSE(c.Allows(Id(*tok, "ab")));       // but must be continued correctly
  ASSERT_TRUE(c.Allows(Id(*tok, "\xA5")));
  c.Accept(Id(*tok, "\xA5"));
  ASSERT_TRUE(c.Allows(Id(*tok, "\"}")));
  c.Accept(Id(*tok, "\"}"));
  EXPECT_TRUE(c.Complete());
  EXPECT_FALSE(c.Allows(Id(*tok, "\n\n\n")));  // blank lines are not allowed
  EXPECT_TRUE(c.Allows(Id(*tok, "\n  ")));
}

TEST(JsonTokenConstraintDeathTest, AcceptingADisallowedTokenIsABug) {
  const auto tok = testing::MakeSmallTokenizer();
  JsonTokenConstraint c(*tok, JsonGrammar::AnyObject());
  EXPECT_DEATH(c.Accept(Id(*tok, "12")), "does not allow");
  EXPECT_DEATH(c.Accept(*tok->FindToken("<|im_end|>")), "before the JSON is complete");
}

TEST(JsonTokenConstraint, SamplerGeneratesValidJson) {
  const auto tok = testing::MakeSmallTokenizer();
  const auto table = TokenTable::Build(*tok);
  const json schema = json::parse(R"({"type":"object","properties":{
      "id":{"type":"integer"},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":3},
      "note":{"anyOf":[{"type":"string","maxLength":8},{"type":"null"}]}},"required":["id","tags","note"]})");
  const auto grammar = MustCompile(schema.dump());
  std::mt19937 gen(7);
  std::normal_distribution<float> noise(0.0f, 2.0f);
  for (int run = 0; run < 50; ++run) {
    SamplingParams params;
    params.seed = 1000 + run;
    params.temperature = run % 5 == 0 ? 0.0f : 1.0f;
    Sampler sampler(params);
    JsonTokenConstraint c(table, grammar);
    std::vector<int32_t> history;
    std::string text;
    for (int step = 0; step < 2000; ++step) {
      std::vector<float> logits(table->n_vocab());
      for (float& l : logits) l = noise(gen);
      logits[Id(*tok, "ab")] += 6.0f;  // the "model" would rather write prose
      const int32_t id = sampler.Sample(logits, history, [&](int32_t t) { return c.Allows(t); });
      ASSERT_GE(id, 0);
      c.Accept(id);
      history.push_back(id);
      if (tok->IsEndOfGeneration(id)) break;
      text += table->bytes(id);
    }
    ASSERT_TRUE(c.Complete()) << text;
    const json parsed = json::parse(text);
    EXPECT_TRUE(testing::Valid(schema, parsed, schema)) << text;
  }
}

// ---- the real vocabulary (shared/) ----

struct RealVocab {
  std::unique_ptr<Model> model;
  std::shared_ptr<const TokenTable> table;
  double table_ms = 0;
};

const RealVocab* LoadRealVocab(const std::string& shared) {
  static RealVocab vocab = [&] {
    RealVocab v;
    auto model = Model::Load(shared + "/models/golden/realvocab-tiny-f16.gguf");
    EXPECT_TRUE(model.ok()) << (model.ok() ? "" : model.error().message());
    if (!model.ok()) return v;
    v.model = std::move(model).value();
    const auto start = std::chrono::steady_clock::now();
    v.table = TokenTable::Build(v.model->tokenizer());
    v.table_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return v;
  }();
  return vocab.table ? &vocab : nullptr;
}

TEST(JsonTokenConstraintRealVocab, RandomWalks) {
  BASTION_REQUIRE_SHARED(shared);
  const RealVocab* v = LoadRealVocab(shared);
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(v->table->n_vocab(), 151936);
  const Tokenizer& tok = v->model->tokenizer();
  testing::Rng r(99);
  std::vector<json> schemas = {
      json(true), json{{"type", "object"}},
      json::parse(R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
          "email":{"type":"string","format":"email"},"tags":{"type":"array","items":{"type":"string"}}},
          "required":["name","age"],"additionalProperties":false})"),
  };
#ifdef NDEBUG
  const size_t kSchemas = 40;
#else
  const size_t kSchemas = 12;  // sanitizer builds are ~20x slower
#endif
  while (schemas.size() < kSchemas) {
    json s = testing::RandomRootSchema(r);
    if (JsonGrammar::FromSchema(s).ok()) schemas.push_back(s);
  }
  int documents = 0, abandoned = 0;
  for (const json& schema : schemas) {
    const auto grammar = *JsonGrammar::FromSchema(schema);
    JsonTokenConstraint c(v->table, grammar);
    std::string text;
    bool done = false;
    for (int step = 0; step < 800 && !done; ++step) {
      if (c.Complete() && r.Chance(0.3)) {
        ASSERT_TRUE(c.Allows(tok.eos_id()));
        done = true;
        break;
      }
      // Early on: random tokens until one is allowed. Late (or after many misses): scan the
      // vocabulary, preferring short tokens and closing brackets so the walk ends.
      int32_t chosen = -1;
      for (int tries = 0; tries < 4000 && chosen < 0 && text.size() <= 200; ++tries) {
        const int32_t id = r.Uniform(v->table->n_vocab());
        if (c.Allows(id)) chosen = id;
      }
      if (chosen < 0) {
        std::vector<int32_t> allowed, closers;
        for (int32_t id = 0; id < v->table->n_vocab(); ++id) {
          if (v->table->kind(id) != TokenTable::Kind::kText || v->table->bytes(id).size() > 2 || !c.Allows(id)) continue;
          allowed.push_back(id);
          const char b = v->table->bytes(id)[0];
          if (b == '}' || b == ']' || b == '"' || b == '0') closers.push_back(id);
        }
        if (allowed.empty()) {
          for (int32_t id = 0; id < v->table->n_vocab(); ++id) {
            if (v->table->kind(id) == TokenTable::Kind::kText && c.Allows(id)) allowed.push_back(id);
          }
        }
        if (allowed.empty()) {
          ASSERT_TRUE(c.Complete()) << "dead end after " << text;
          done = true;
          break;
        }
        chosen = !closers.empty() && r.Chance(0.7) ? r.Pick(closers) : r.Pick(allowed);
      }
      if (v->table->kind(chosen) == TokenTable::Kind::kEndOfGeneration) {
        done = true;
        break;
      }
      c.Accept(chosen);
      text += v->table->bytes(chosen);
    }
    if (!done) {  // an open object still waiting for a required key typed by chance
      ++abandoned;
      continue;
    }
    const json parsed = json::parse(text, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << text;
    EXPECT_TRUE(testing::Valid(schema, parsed, schema)) << text << " schema " << schema.dump();
    ++documents;
  }
  EXPECT_GE(documents, static_cast<int>(kSchemas) * 3 / 4);
  std::printf("real-vocabulary walks: %d documents, %d abandoned\n", documents, abandoned);
}

// Times Allows() in a few states: the sampler's worst case is a full scan of the vocabulary.
TEST(JsonTokenConstraintRealVocab, AllowsTimings) {
  BASTION_REQUIRE_SHARED(shared);
  const RealVocab* v = LoadRealVocab(shared);
  ASSERT_NE(v, nullptr);
  const auto g = MustCompile(R"({"type":"object","properties":{"name":{"type":"string"},
      "age":{"type":"integer"},"city":{"enum":["Paris","Berlin","Tokyo"]},
      "tags":{"type":"array","items":{"type":"string"}}},"required":["name","age","city"]})");
  const std::pair<const char*, const char*> states[] = {
      {"start (wants '{')", ""},
      {"object, wants a key", "{"},
      {"inside a key", "{\"na"},
      {"inside a string value", "{\"name\":\"Jo"},
      {"inside a number", "{\"name\":\"Jo\",\"age\":4"},
      {"inside an enum", "{\"name\":\"Jo\",\"age\":4,\"city\":\"Be"},
      {"array of strings", "{\"name\":\"Jo\",\"age\":4,\"tags\":["},
  };
  std::printf("TokenTable::Build over %d tokens: %.1f ms\n", v->table->n_vocab(), v->table_ms);
  for (const auto& [what, prefix] : states) {
    JsonTokenConstraint c(v->table, g);
    JsonMatcher probe(g);
    ASSERT_TRUE(probe.Feed(prefix)) << prefix;
    // Feed the prefix byte by byte through the constraint with single-byte tokens.
    for (const char ch : std::string(prefix)) c.Accept(*v->model->tokenizer().FindToken(BytesToByteLevel(std::string(1, ch))));
    int allowed = 0;
    double first_scan_ms = 0, best_ms = 1e9;
    for (int rep = 0; rep < 5; ++rep) {
      // Accepting nothing keeps the state; a new constraint would lose the warm scratch space,
      // so the first repetition also pays for computing the allowed-byte set.
      const auto start = std::chrono::steady_clock::now();
      int n = 0;
      for (int32_t id = 0; id < v->table->n_vocab(); ++id) n += c.Allows(id);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (rep == 0) first_scan_ms = ms;
      best_ms = std::min(best_ms, ms);
      allowed = n;
    }
    // What every sampled token pays once: the allowed-next-byte set of the new state.
    const auto start = std::chrono::steady_clock::now();
    size_t sink = 0;
    for (int rep = 0; rep < 100; ++rep) sink += c.matcher().NextBytes().count();
    const double next_bytes_us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / 100;
    EXPECT_GT(sink, 0u);
    std::printf("%-26s allowed %6d / %d  full scan %5.2f ms (first %5.2f ms)  %4.1f ns per Allows  "
                "NextBytes %5.1f us\n",
                what, allowed, v->table->n_vocab(), best_ms, first_scan_ms, best_ms * 1e6 / v->table->n_vocab(),
                next_bytes_us);
    EXPECT_GT(allowed, 0) << what;
    EXPECT_LT(best_ms, 2000.0) << what;  // a regression guard that holds even under sanitizers
  }
}

}  // namespace
}  // namespace bastion::grammar
