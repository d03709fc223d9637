// Synthetic models: GGUF files with the exact shapes, tensor names and per-tensor weight types of
// real Qwen2.5 models, filled with seeded random weights, plus a byte-level BPE vocabulary of the
// real size with Qwen's special tokens at their real ids.
//
// Real weights cannot be downloaded everywhere bastion is built and tested, but speed depends
// only on shapes and types, so benchmarks run on these files — and llama.cpp loads them too, so
// both engines can be timed on the very same file. The weights follow the recipe of the golden
// test models (shared/golden/README.md) so the logits are numerically healthy.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/result.h"
#include "synth/type_mix.h"

namespace bastion {

struct SynthPreset {
  const char* name;
  int n_layer;
  int n_embd;
  int n_head;
  int n_head_kv;
  int n_ff;
  int n_vocab;
  int n_ctx;
  bool tied_embeddings;
  float rope_theta;
  float rms_eps;
};

// nullptr when unknown.
const SynthPreset* FindSynthPreset(const std::string& name);
std::string SynthPresetNames();

struct SynthOptions {
  std::string preset = "qwen2.5-0.5b";
  FileType file_type = FileType::kQ4_K_M;
  uint64_t seed = 1;
  int n_threads = 0;  // 0 = all cores
};

// Writes the model atomically. progress (optional) gets one line per tensor.
Status WriteSyntheticModel(const SynthOptions& options, const std::string& path,
                           const std::function<void(const std::string&)>& progress = nullptr);

}  // namespace bastion
