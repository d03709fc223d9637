// ModelWeights: typed views of a Qwen2 model's tensors inside the mapped GGUF file.
//
// 2-D weights stay in the file's mapping in their own type (never expanded to floats); the small
// 1-D tensors (norm weights, biases) are converted to owned float vectors at load time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "kernels/matmul.h"
#include "model/config.h"

namespace bastion {

class GgufFile;

struct LayerWeights {
  std::vector<float> attn_norm;  // (n_embd)
  WeightMatrix wq;               // (n_embd -> q_dim)
  WeightMatrix wk;               // (n_embd -> kv_dim)
  WeightMatrix wv;               // (n_embd -> kv_dim)
  std::vector<float> bq;         // (q_dim), zeros when the file has no bias
  std::vector<float> bk;         // (kv_dim)
  std::vector<float> bv;         // (kv_dim)
  WeightMatrix wo;               // (q_dim -> n_embd)
  std::vector<float> ffn_norm;   // (n_embd)
  WeightMatrix w_gate;           // (n_embd -> n_ff)
  WeightMatrix w_up;             // (n_embd -> n_ff)
  WeightMatrix w_down;           // (n_ff -> n_embd)
};

struct ModelWeights {
  WeightMatrix token_embd;       // (n_embd) x n_vocab rows
  std::vector<LayerWeights> layers;
  std::vector<float> output_norm;  // (n_embd)
  WeightMatrix output;           // (n_embd -> n_vocab): token_embd when tied

  // Bytes of weights one decoded token reads: every layer matrix plus the output head
  // (the embedding row lookup is negligible). Used for GB/s figures.
  size_t DecodeBytesPerToken() const;
  // Total bytes of all 2-D weights in the file.
  size_t TotalMatrixBytes() const;
};

// Reads the hyperparameters of a qwen2 GGUF. Errors name the key and what was expected.
Result<ModelConfig> ReadModelConfig(const GgufFile& gguf);

// Binds every tensor of the model, checking names, shapes (expected vs actual) and types.
Result<ModelWeights> BindModelWeights(const GgufFile& gguf, const ModelConfig& config);

// Rewrites the matrices that `level`'s kernels prefer in another layout (kernels/weight_layout.h)
// in place and records the layout in their WeightMatrix, when the file's bytes were read into
// memory (FileResidency::kInMemory); a mapped file is left as it is. The output head is one of
// them, and with it the embedding table when the two are tied (embedding lookups read rows
// through DequantizeLayoutRow). Every level's kernels accept the result.
Status RepackForKernels(GgufFile& gguf, SimdLevel level, ModelWeights* weights);

}  // namespace bastion
