// Greedy continuations against llama.cpp's (shared/golden). Robust cases (every step's margin
// >= tau) must match token for token; fragile ones are teacher-forced: the golden ids are fed
// back, the argmax must match at steps whose margin is >= tau, and the step logits must be
// within the NMSE tolerance at every step that has stored logits.
#include <gtest/gtest.h>

#include "golden_cases.h"
#include "model/generator.h"
#include "model/sampler.h"
#include "test_util.h"

namespace bastion::testing {
namespace {

std::vector<GoldenCase> Params() {
  auto cases = LoadGoldenCases("greedy");
  if (cases.empty()) cases.push_back({"absent", "greedy", "", {}});
  return cases;
}

class GoldenGreedy : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenGreedy, MatchLlamaCpp) {
  BASTION_REQUIRE_SHARED(shared);
  const GoldenCase& c = GetParam();
  const nlohmann::json& j = c.json;
  const Model& model = GoldenModel(c.model);
  const auto prompt = j["prompt"].get<std::vector<int32_t>>();
  const auto generated = j["generated"].get<std::vector<int32_t>>();
  const auto margins = j["margins"].get<std::vector<double>>();
  const bool fragile = j["fragile"].get<bool>();
  const double tau = Tau(c.model);
  const double tol = NmseTolerance(c.model);
  const int n_vocab = model.config().n_vocab;

  ContextOptions o;
  o.n_ctx = 512;
  auto ctx = InferenceContext::Create(model, o);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message();

  if (!fragile) {
    GenerationParams params;
    params.sampling.temperature = 0.0f;
    params.max_tokens = static_cast<int>(generated.size());
    params.ignore_eos = true;
    Generator gen(**ctx);
    auto result = gen.Generate(prompt, params, nullptr);
    ASSERT_TRUE(result.ok()) << result.error().message();
    EXPECT_EQ(result->tokens, generated);
  }

  // Teacher-forced: one-token decodes as llama.cpp did, compared step by step.
  (*ctx)->TruncateSlot(0, 0);
  std::vector<float> logits;
  ASSERT_TRUE((*ctx)->Evaluate(0, prompt, LogitsMode::kLast, &logits).ok());
  // Step logits are stored for some cases only (and then for the first steps only).
  std::vector<float> steps;
  if (j.contains("step_logits_file")) steps = ReadF32File(shared + "/golden/" + j["step_logits_file"].get<std::string>());
  const size_t stored_steps = steps.size() / n_vocab;
  for (size_t s = 0; s < generated.size(); ++s) {
    if (margins[s] >= tau) {
      EXPECT_EQ(Sampler::Argmax(logits), generated[s]) << "step " << s << " (margin " << margins[s] << ")";
    }
    if (s < stored_steps) {
      EXPECT_LE(Nmse(logits.data(), steps.data() + s * n_vocab, n_vocab), tol) << "step " << s;
    }
    const int32_t next[] = {generated[s]};
    ASSERT_TRUE((*ctx)->Evaluate(0, next, LogitsMode::kLast, &logits).ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Shared, GoldenGreedy, ::testing::ValuesIn(Params()),
                         [](const ::testing::TestParamInfo<GoldenCase>& info) { return SafeName(info.param.id); });

}  // namespace
}  // namespace bastion::testing
