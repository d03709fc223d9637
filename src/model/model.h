// Model: a loaded Qwen2-family GGUF — the mapped file, its hyperparameters, its weight views and
// its tokenizer. Immutable after loading; any number of InferenceContexts can share it.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "gguf/gguf_reader.h"
#include "model/config.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

namespace bastion {

class Model {
 public:
  // Opens and validates the file; errors say what is wrong with it. Serving and benchmarks want
  // the weights kInMemory (faster decode, base/mapped_file.h); metadata readers kMapped.
  // kernel_level: the SIMD level inference will run at; weights read kInMemory are repacked for
  // its kernels (RepackForKernels), though contexts at any level can use the model.
  static Result<std::unique_ptr<Model>> Load(const std::string& path,
                                             FileResidency residency = FileResidency::kMapped,
                                             SimdLevel kernel_level = DetectSimdLevel());

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const GgufFile& gguf() const { return *gguf_; }
  const std::string& path() const { return path_; }

  // The chat template stored in the file (tokenizer.chat_template), or "".
  const std::string& chat_template() const { return chat_template_; }

  // A short human description: "qwen2 24 layers, 896 embd, Q4_K_M (mostly Q5_0), 494M params".
  std::string Describe() const;
  int64_t ParameterCount() const;

 private:
  Model() = default;

  std::string path_;
  std::unique_ptr<GgufFile> gguf_;
  ModelConfig config_;
  ModelWeights weights_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::string chat_template_;
};

}  // namespace bastion
