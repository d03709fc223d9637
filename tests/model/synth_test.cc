// Synthetic models: the per-tensor type mix follows llama-quantize for Qwen2.5-0.5B shapes, and
// a written model loads, runs and generates.
#include "synth/synth.h"

#include <gtest/gtest.h>

#include <map>

#include "gguf/gguf_reader.h"
#include "model/generator.h"
#include "model/model.h"
#include "test_util.h"

namespace bastion {
namespace {

TensorRole Role(TensorRole::Kind kind, int layer, int64_t row) {
  return TensorRole{kind, layer, 24, row, 7, false};
}

TEST(TypeMix, Qwen05BQ4KM) {
  const FileType f = FileType::kQ4_K_M;
  // 896-wide rows cannot hold 256-blocks: Q4_K falls back to Q5_0, Q6_K to Q8_0.
  EXPECT_EQ(TensorTypeFor(f, Role(TensorRole::kTokenEmbd, 0, 896)), GgmlType::kQ8_0);
  EXPECT_EQ(TensorTypeFor(f, Role(TensorRole::kAttnQ, 5, 896)), GgmlType::kQ5_0);
  EXPECT_EQ(TensorTypeFor(f, Role(TensorRole::kFfnUp, 5, 896)), GgmlType::kQ5_0);
  // attn_v: Q6_K (-> Q8_0) on the use_more_bits layers (0-2, 5, 8, ..., 20, 21-23), else Q5_0.
  EXPECT_EQ(TensorTypeFor(f, Role(TensorRole::kAttnV, 0, 896)), GgmlType::kQ8_0);
  EXPECT_EQ(TensorTypeFor(f, Role(TensorRole::kAttnV, 5, 896)), GgmlType::kQ8_0);
  EXPECT_EQ(TensorTypeFor(f, Role(TensorRole::kAttnV, 6, 896)), GgmlType::kQ5_0);
  // ffn_down has 4864-wide rows (19 x 256): real K-quants.
  EXPECT_EQ(TensorTypeFor(f, Role(TensorRole::kFfnDown, 0, 4864)), GgmlType::kQ6_K);
  EXPECT_EQ(TensorTypeFor(f, Role(TensorRole::kFfnDown, 6, 4864)), GgmlType::kQ4_K);
  EXPECT_EQ(TensorTypeFor(f, Role(TensorRole::kFfnDown, 23, 4864)), GgmlType::kQ6_K);
}

TEST(TypeMix, OtherFileTypes) {
  EXPECT_EQ(TensorTypeFor(FileType::kQ8_0, Role(TensorRole::kTokenEmbd, 0, 896)), GgmlType::kQ8_0);
  EXPECT_EQ(TensorTypeFor(FileType::kQ8_0, Role(TensorRole::kFfnDown, 0, 4864)), GgmlType::kQ8_0);
  EXPECT_EQ(TensorTypeFor(FileType::kQ4_0, Role(TensorRole::kTokenEmbd, 0, 896)), GgmlType::kQ8_0);
  EXPECT_EQ(TensorTypeFor(FileType::kQ4_0, Role(TensorRole::kAttnK, 3, 896)), GgmlType::kQ4_0);
  EXPECT_EQ(TensorTypeFor(FileType::kF16, Role(TensorRole::kTokenEmbd, 0, 896)), GgmlType::kF16);
  EXPECT_EQ(TensorTypeFor(FileType::kBF16, Role(TensorRole::kFfnDown, 0, 4864)), GgmlType::kBF16);
  EXPECT_EQ(TensorTypeFor(FileType::kQ6_K, Role(TensorRole::kFfnGate, 0, 896)), GgmlType::kQ8_0);
  EXPECT_EQ(TensorTypeFor(FileType::kQ6_K, Role(TensorRole::kFfnDown, 0, 4864)), GgmlType::kQ6_K);
  EXPECT_EQ(TensorTypeFor(FileType::kQ5_K_M, Role(TensorRole::kAttnQ, 3, 896)), GgmlType::kQ5_1);
  EXPECT_EQ(TensorTypeFor(FileType::kQ2_K, Role(TensorRole::kAttnQ, 3, 896)), GgmlType::kIQ4_NL);
  EXPECT_EQ(TensorTypeFor(FileType::kQ2_K, Role(TensorRole::kFfnDown, 3, 4864)), GgmlType::kQ3_K);
  EXPECT_EQ(ParseFileType("q4_k_m"), FileType::kQ4_K_M);
  EXPECT_FALSE(ParseFileType("q9_9").has_value());
}

class SynthTiny : public ::testing::TestWithParam<const char*> {};

TEST_P(SynthTiny, WritesLoadsAndGenerates) {
  const std::string dir = testing::TempDir(std::string("synth_") + GetParam());
  const std::string path = dir + "/tiny.gguf";
  SynthOptions o;
  o.preset = "tiny";
  o.file_type = *ParseFileType(GetParam());
  o.n_threads = 2;
  const Status st = WriteSyntheticModel(o, path);
  ASSERT_TRUE(st.ok()) << st.error().message();

  auto model = Model::Load(path);
  ASSERT_TRUE(model.ok()) << model.error().message();
  EXPECT_EQ((*model)->config().n_layer, 2);
  EXPECT_EQ((*model)->tokenizer().n_vocab(), 4096);
  std::map<std::string, int> types;
  for (const auto& t : (*model)->gguf().tensors()) ++types[TypeName(t.type)];
  // 384-wide rows take the K-quant fallbacks, 1024-wide ffn_down keeps K-quants.
  if (std::string(GetParam()) == "Q2_K") {
    EXPECT_GT(types["IQ4_NL"], 0);
    EXPECT_GT(types["Q3_K"], 0);
  }
  if (std::string(GetParam()) == "Q4_K_M") {
    EXPECT_GT(types["Q5_0"], 0);
    EXPECT_GT(types["Q8_0"], 0);
    EXPECT_GT(types["Q4_K"] + types["Q6_K"], 0);
  }

  ContextOptions co;
  co.n_ctx = 128;
  auto ctx = InferenceContext::Create(**model, co);
  ASSERT_TRUE(ctx.ok());
  Generator gen(**ctx);
  GenerationParams gp;
  gp.sampling.temperature = 0.0f;
  gp.max_tokens = 8;
  gp.ignore_eos = true;
  const auto prompt = (*model)->tokenizer().Encode("hello world", false);
  ASSERT_FALSE(prompt.empty());
  auto r1 = gen.Generate(prompt, gp, nullptr);
  ASSERT_TRUE(r1.ok()) << r1.error().message();
  EXPECT_EQ(r1->tokens.size(), 8u);
  // Deterministic: same seed, same weights, same greedy output.
  Generator gen2(**ctx);
  auto r2 = gen2.Generate(prompt, gp, nullptr);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r1->tokens, r2->tokens);
}

INSTANTIATE_TEST_SUITE_P(Types, SynthTiny,
                         ::testing::Values("F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K_M", "Q5_K_M",
                                           "Q6_K", "Q3_K_M", "Q2_K"));

TEST(Synth, UnknownPresetIsAnError) {
  SynthOptions o;
  o.preset = "qwen9";
  const Status st = WriteSyntheticModel(o, testing::TempDir("synth_bad") + "/x.gguf");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("qwen9"), std::string::npos);
}

}  // namespace
}  // namespace bastion
