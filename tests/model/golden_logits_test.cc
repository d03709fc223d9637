// Logits against llama.cpp's (shared/golden): per stored position, NMSE within the model's
// suggested tolerance and the same top-1 wherever llama.cpp's top-1 margin is at least tau.
// Runs at the best SIMD level and at the scalar reference level.
#include <gtest/gtest.h>

#include <algorithm>

#include "golden_cases.h"
#include "model/sampler.h"
#include "test_util.h"

namespace bastion::testing {
namespace {

struct LogitsParam {
  GoldenCase c;
  SimdLevel level;
};

std::vector<LogitsParam> Params() {
  std::vector<LogitsParam> out;
  for (const GoldenCase& c : LoadGoldenCases("logits")) {
    out.push_back({c, DetectSimdLevel()});
    // The scalar reference too, on the shorter sequences (it is slow by design).
    if (c.json["n_tokens"].get<int>() <= 200 && DetectSimdLevel() != SimdLevel::kScalar) {
      out.push_back({c, SimdLevel::kScalar});
    }
  }
  if (out.empty()) out.push_back({{"absent", "logits", "", {}}, SimdLevel::kScalar});
  return out;
}

void PrintTo(const LogitsParam& p, std::ostream* os) { *os << p.c.id << " at " << SimdLevelName(p.level); }

class GoldenLogits : public ::testing::TestWithParam<LogitsParam> {};

TEST_P(GoldenLogits, MatchLlamaCpp) {
  BASTION_REQUIRE_SHARED(shared);
  const LogitsParam& p = GetParam();
  const nlohmann::json& j = p.c.json;
  const Model& model = GoldenModel(p.c.model);
  const auto tokens = j["tokens"].get<std::vector<int32_t>>();
  const auto positions = j["positions"].get<std::vector<int>>();
  const auto margins = j["top1_margin"].get<std::vector<double>>();
  const auto ref = ReadF32File(shared + "/golden/" + j["file"].get<std::string>());
  const int n_vocab = model.config().n_vocab;
  ASSERT_EQ(ref.size(), positions.size() * static_cast<size_t>(n_vocab));

  ContextOptions o;
  o.n_ctx = std::max<int>(256, static_cast<int>(tokens.size()));
  o.simd = p.level;
  auto ctx = InferenceContext::Create(model, o);
  ASSERT_TRUE(ctx.ok()) << ctx.error().message();
  std::vector<float> logits;
  const Status st = (*ctx)->Evaluate(0, tokens, LogitsMode::kAll, &logits);
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_EQ(logits.size(), tokens.size() * static_cast<size_t>(n_vocab));

  const double tol = NmseTolerance(p.c.model);
  const double tau = Tau(p.c.model);
  double worst = 0;
  for (size_t r = 0; r < positions.size(); ++r) {
    const float* got = logits.data() + static_cast<size_t>(positions[r]) * n_vocab;
    const float* want = ref.data() + r * n_vocab;
    const double nmse = Nmse(got, want, n_vocab);
    worst = std::max(worst, nmse);
    EXPECT_LE(nmse, tol) << "position " << positions[r];
    if (margins[r] >= tau) {
      EXPECT_EQ(Sampler::Argmax({got, static_cast<size_t>(n_vocab)}), Sampler::Argmax({want, static_cast<size_t>(n_vocab)}))
          << "position " << positions[r] << " (llama.cpp margin " << margins[r] << ")";
    }
  }
  RecordProperty("worst_nmse", std::to_string(worst));
}

INSTANTIATE_TEST_SUITE_P(Shared, GoldenLogits, ::testing::ValuesIn(Params()),
                         [](const ::testing::TestParamInfo<LogitsParam>& info) {
                           return SafeName(info.param.c.id) + "_" + SimdLevelName(info.param.level);
                         });

}  // namespace
}  // namespace bastion::testing
