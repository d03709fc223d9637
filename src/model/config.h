// ModelConfig: the hyperparameters of a Qwen2-family model, read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>

namespace bastion {

struct ModelConfig {
  std::string architecture;  // "qwen2"
  std::string name;          // general.name, for display
  int n_layer = 0;
  int n_embd = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int head_dim = 0;  // n_embd / n_head unless the file says otherwise
  int n_ff = 0;
  int n_vocab = 0;   // rows of token_embd
  int n_ctx_train = 0;
  float rms_norm_eps = 1e-6f;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // linear RoPE scaling: positions are multiplied by this
  bool tied_embeddings = true;   // no output.weight: logits use token_embd

  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
  int gqa_ratio() const { return n_head / n_head_kv; }
};

}  // namespace bastion
