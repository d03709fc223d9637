// WriteSyntheticModel: presets, random weights (quantized in parallel, tensor by tensor) and the
// GGUF metadata llama.cpp expects for a qwen2 model.
#include "synth/synth.h"

#include <array>
#include <cmath>
#include <thread>
#include <vector>

#include "base/thread_pool.h"
#include "gguf/gguf_writer.h"
#include "quant/quantize.h"
#include "synth/synth_vocab.h"

namespace bastion {
namespace {

constexpr std::array<SynthPreset, 5> kPresets = {{
    // name            layers embd heads kv  ff     vocab   ctx    tied  theta  eps
    {"qwen2.5-0.5b", 24, 896, 14, 2, 4864, 151936, 32768, true, 1000000.0f, 1e-6f},
    {"qwen2.5-1.5b", 28, 1536, 12, 2, 8960, 151936, 32768, true, 1000000.0f, 1e-6f},
    {"qwen2.5-3b", 36, 2048, 16, 2, 11008, 151936, 32768, true, 1000000.0f, 1e-6f},
    {"qwen2.5-7b", 28, 3584, 28, 4, 18944, 152064, 32768, false, 1000000.0f, 1e-6f},
    // Small enough for tests: milliseconds to write and run. Like Qwen2.5-0.5B, its embedding
    // width (384) is not a multiple of 256, so the K-quant fallbacks (Q5_0, Q8_0, IQ4_NL ...) are
    // exercised while ffn_down (1024 wide) keeps real K-quants. Real Qwen special-token ids are
    // kept only by the full-vocabulary presets. Its training context is the real model's, so a
    // test can ask for generations longer than a fast machine finishes in a second.
    {"tiny", 2, 384, 6, 2, 1024, 4096, 32768, true, 1000000.0f, 1e-6f},
}};

// SplitMix64: a tiny, fast generator; each row gets its own stream so the result does not depend
// on how rows are spread over threads.
struct SplitMix64 {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float Uniform() { return static_cast<float>(Next() >> 40) * (1.0f / 16777216.0f); }
  // Approximately standard normal (Irwin-Hall sum of four uniforms): enough for random weights.
  float Normal() { return (Uniform() + Uniform() + Uniform() + Uniform() - 2.0f) * 1.7320508f; }
};

uint64_t HashName(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (const unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// How a tensor's values are drawn.
struct Recipe {
  float std = 0.0f;
  float mean = 0.0f;
  bool row_lognormal = false;  // multiply each row by exp(N(0, 0.25^2)), as the golden embedding
};

// Fills one tensor: rows of `n_in` values drawn by `recipe`, quantized to `type`, in parallel.
Status FillTensor(std::span<uint8_t> out, GgmlType type, int64_t n_in, int64_t n_rows, const Recipe& recipe,
                  uint64_t seed, ThreadPool& pool) {
  const size_t row_bytes = RowBytes(type, n_in);
  auto job = [&](int ti) {
    std::vector<float> row(static_cast<size_t>(n_in));
    const auto [begin, end] = ThreadPool::Split(n_rows, ti, pool.size());
    for (int64_t r = begin; r < end; ++r) {
      SplitMix64 rng{seed ^ (static_cast<uint64_t>(r) * 0xd1b54a32d192ed03ull)};
      float scale = recipe.std;
      if (recipe.row_lognormal) scale *= std::exp(0.25f * rng.Normal());
      for (auto& v : row) v = recipe.mean + scale * rng.Normal();
      QuantizeRow(type, row.data(), out.data() + static_cast<size_t>(r) * row_bytes, n_in);
    }
  };
  pool.Parallel(job);
  return OkStatus();
}

}  // namespace

const SynthPreset* FindSynthPreset(const std::string& name) {
  for (const auto& p : kPresets) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

std::string SynthPresetNames() {
  std::string s;
  for (const auto& p : kPresets) s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

Status WriteSyntheticModel(const SynthOptions& options, const std::string& path,
                           const std::function<void(const std::string&)>& progress) {
  const SynthPreset* p = FindSynthPreset(options.preset);
  if (p == nullptr) return Error("unknown preset '" + options.preset + "' (known: " + SynthPresetNames() + ")");
  const int head_dim = p->n_embd / p->n_head;
  const int kv_dim = p->n_head_kv * head_dim;
  auto pool = std::make_shared<ThreadPool>(options.n_threads > 0 ? options.n_threads : DefaultThreadCount());

  GgufWriter w;
  const std::string arch = "qwen2";
  w.SetString("general.architecture", arch);
  w.SetString("general.type", "model");
  w.SetString("general.name", std::string("bastion synthetic ") + p->name + " " + FileTypeName(options.file_type));
  w.SetUint32("general.file_type", static_cast<uint32_t>(options.file_type));
  w.SetUint32("general.quantization_version", 2);
  w.SetUint32(arch + ".block_count", p->n_layer);
  w.SetUint32(arch + ".context_length", p->n_ctx);
  w.SetUint32(arch + ".embedding_length", p->n_embd);
  w.SetUint32(arch + ".feed_forward_length", p->n_ff);
  w.SetUint32(arch + ".attention.head_count", p->n_head);
  w.SetUint32(arch + ".attention.head_count_kv", p->n_head_kv);
  w.SetFloat32(arch + ".rope.freq_base", p->rope_theta);
  w.SetFloat32(arch + ".attention.layer_norm_rms_epsilon", p->rms_eps);
  AddSyntheticVocab(p->n_vocab, &w);

  const int n_gqa = p->n_head / p->n_head_kv;
  auto add_matrix = [&](const std::string& name, TensorRole::Kind kind, int layer, int64_t n_in, int64_t n_out,
                        Recipe recipe) {
    TensorRole role{kind, layer, p->n_layer, n_in, n_gqa, !p->tied_embeddings};
    const GgmlType type = TensorTypeFor(options.file_type, role);
    const uint64_t seed = HashName(name, options.seed);
    w.AddTensorFrom(name, type, {n_in, n_out}, [=](std::span<uint8_t> out) -> Status {
      if (progress) progress(name + " " + TypeName(type) + " [" + std::to_string(n_in) + ", " + std::to_string(n_out) + "]");
      return FillTensor(out, type, n_in, n_out, recipe, seed, *pool);
    });
  };
  auto add_vector = [&](const std::string& name, int64_t n, Recipe recipe) {
    const uint64_t seed = HashName(name, options.seed);
    w.AddTensorFrom(name, GgmlType::kF32, {n}, [=](std::span<uint8_t> out) -> Status {
      return FillTensor(out, GgmlType::kF32, n, 1, recipe, seed, *pool);
    });
  };

  const float in_std = 1.0f / std::sqrt(static_cast<float>(p->n_embd));
  const Recipe norm{0.1f / 1.7320508f, 1.0f, false};  // 1 +- 0.1 (roughly)
  add_matrix("token_embd.weight", TensorRole::kTokenEmbd, 0, p->n_embd, p->n_vocab, {0.2f, 0.0f, true});
  for (int i = 0; i < p->n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    add_vector(b + "attn_norm.weight", p->n_embd, norm);
    add_matrix(b + "attn_q.weight", TensorRole::kAttnQ, i, p->n_embd, p->n_embd, {in_std});
    add_vector(b + "attn_q.bias", p->n_embd, {0.3f});
    add_matrix(b + "attn_k.weight", TensorRole::kAttnK, i, p->n_embd, kv_dim, {in_std});
    add_vector(b + "attn_k.bias", kv_dim, {0.3f});
    add_matrix(b + "attn_v.weight", TensorRole::kAttnV, i, p->n_embd, kv_dim, {in_std});
    add_vector(b + "attn_v.bias", kv_dim, {0.1f});
    add_matrix(b + "attn_output.weight", TensorRole::kAttnOutput, i, p->n_embd, p->n_embd,
               {4.0f / std::sqrt(static_cast<float>(p->n_embd))});
    add_vector(b + "ffn_norm.weight", p->n_embd, norm);
    add_matrix(b + "ffn_gate.weight", TensorRole::kFfnGate, i, p->n_embd, p->n_ff, {in_std});
    add_matrix(b + "ffn_up.weight", TensorRole::kFfnUp, i, p->n_embd, p->n_ff, {in_std});
    add_matrix(b + "ffn_down.weight", TensorRole::kFfnDown, i, p->n_ff, p->n_embd,
               {4.0f / std::sqrt(static_cast<float>(p->n_ff))});
  }
  add_vector("output_norm.weight", p->n_embd, norm);
  if (!p->tied_embeddings) {
    add_matrix("output.weight", TensorRole::kOutput, 0, p->n_embd, p->n_vocab, {in_std});
  }
  return w.Write(path);
}

}  // namespace bastion
