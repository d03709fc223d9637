// Reading Qwen2 hyperparameters and binding tensors, with expected-vs-actual errors.
#include "model/weights.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/thread_pool.h"
#include "gguf/gguf_reader.h"
#include "kernels/weight_layout.h"
#include "quant/quantize.h"

namespace bastion {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A positive integer hyperparameter that fits an int.
Result<int> GetDim(const GgufFile& gguf, const std::string& key) {
  BASTION_ASSIGN_OR_RETURN(uint64_t v, gguf.GetUint(key));
  if (v == 0 || v > (1u << 24)) return Error("key '" + key + "': value " + std::to_string(v) + " is out of range");
  return static_cast<int>(v);
}

Result<const GgufTensorInfo*> RequireTensor(const GgufFile& gguf, const std::string& name,
                                            std::vector<int64_t> shape) {
  const GgufTensorInfo* t = gguf.FindTensor(name);
  if (t == nullptr) return Error("tensor '" + name + "' is missing");
  if (t->shape != shape) {
    return Error("tensor '" + name + "': expected shape " + ShapeString(shape) + ", got " + ShapeString(t->shape));
  }
  return t;
}

Result<WeightMatrix> BindMatrix(const GgufFile& gguf, const std::string& name, int64_t n_in, int64_t n_out) {
  BASTION_ASSIGN_OR_RETURN(const GgufTensorInfo* t, RequireTensor(gguf, name, {n_in, n_out}));
  const auto info = LookupType(static_cast<uint32_t>(t->type));
  if (!info || !info->supported) {
    return Error("tensor '" + name + "' has weight type " + TypeIdName(static_cast<uint32_t>(t->type)) +
                 ", which bastion does not support");
  }
  WeightMatrix w;
  w.type = t->type;
  w.n_in = n_in;
  w.n_out = n_out;
  w.data = t->data;
  w.row_bytes = RowBytes(t->type, n_in);
  return w;
}

// A 1-D tensor as floats (F32, F16 or BF16 in the file).
Result<std::vector<float>> BindVector(const GgufFile& gguf, const std::string& name, int64_t n) {
  BASTION_ASSIGN_OR_RETURN(const GgufTensorInfo* t, RequireTensor(gguf, name, {n}));
  if (t->type != GgmlType::kF32 && t->type != GgmlType::kF16 && t->type != GgmlType::kBF16) {
    return Error("tensor '" + name + "': expected type F32, F16 or BF16, got " + TypeIdName(static_cast<uint32_t>(t->type)));
  }
  std::vector<float> v(static_cast<size_t>(n));
  DequantizeRow(t->type, t->data, v.data(), n);
  return v;
}

// Biases are optional in the format (Qwen2 has them); absent means zero.
Result<std::vector<float>> BindOptionalVector(const GgufFile& gguf, const std::string& name, int64_t n) {
  if (gguf.FindTensor(name) == nullptr) return std::vector<float>(static_cast<size_t>(n), 0.0f);
  return BindVector(gguf, name, n);
}

}  // namespace

size_t ModelWeights::DecodeBytesPerToken() const {
  size_t total = output.total_bytes();
  for (const LayerWeights& l : layers) {
    total += l.wq.total_bytes() + l.wk.total_bytes() + l.wv.total_bytes() + l.wo.total_bytes() +
             l.w_gate.total_bytes() + l.w_up.total_bytes() + l.w_down.total_bytes();
  }
  return total;
}

size_t ModelWeights::TotalMatrixBytes() const {
  size_t total = DecodeBytesPerToken();
  if (output.data != token_embd.data) total += token_embd.total_bytes();
  return total;
}

Result<ModelConfig> ReadModelConfig(const GgufFile& gguf) {
  ModelConfig c;
  BASTION_ASSIGN_OR_RETURN(c.architecture, gguf.GetString("general.architecture"));
  if (c.architecture != "qwen2") {
    return Error("architecture '" + c.architecture + "' is not supported (bastion runs qwen2 models)");
  }
  if (gguf.Find("general.name") != nullptr) {
    auto name = gguf.GetString("general.name");
    if (name.ok()) c.name = *name;
  }
  const std::string a = c.architecture + ".";
  BASTION_ASSIGN_OR_RETURN(c.n_layer, GetDim(gguf, a + "block_count"));
  BASTION_ASSIGN_OR_RETURN(c.n_embd, GetDim(gguf, a + "embedding_length"));
  BASTION_ASSIGN_OR_RETURN(c.n_ff, GetDim(gguf, a + "feed_forward_length"));
  BASTION_ASSIGN_OR_RETURN(c.n_head, GetDim(gguf, a + "attention.head_count"));
  c.n_head_kv = c.n_head;
  if (gguf.Find(a + "attention.head_count_kv") != nullptr) {
    BASTION_ASSIGN_OR_RETURN(c.n_head_kv, GetDim(gguf, a + "attention.head_count_kv"));
  }
  if (c.n_head % c.n_head_kv != 0) {
    return Error("attention.head_count " + std::to_string(c.n_head) + " is not a multiple of head_count_kv " +
                 std::to_string(c.n_head_kv));
  }
  c.head_dim = c.n_embd / c.n_head;
  if (gguf.Find(a + "attention.key_length") != nullptr) {
    BASTION_ASSIGN_OR_RETURN(c.head_dim, GetDim(gguf, a + "attention.key_length"));
    if (gguf.Find(a + "attention.value_length") != nullptr) {
      BASTION_ASSIGN_OR_RETURN(int v_len, GetDim(gguf, a + "attention.value_length"));
      if (v_len != c.head_dim) return Error("attention.value_length differs from key_length; not supported");
    }
  }
  if (c.head_dim % 2 != 0 || c.head_dim > 512) {
    return Error("head dimension " + std::to_string(c.head_dim) + " is not supported (must be even, <= 512)");
  }
  if (gguf.Find(a + "context_length") != nullptr) {
    BASTION_ASSIGN_OR_RETURN(c.n_ctx_train, GetDim(gguf, a + "context_length"));
  }
  if (gguf.Find(a + "attention.layer_norm_rms_epsilon") != nullptr) {
    BASTION_ASSIGN_OR_RETURN(c.rms_norm_eps, gguf.GetFloat(a + "attention.layer_norm_rms_epsilon"));
  }
  if (gguf.Find(a + "rope.freq_base") != nullptr) {
    BASTION_ASSIGN_OR_RETURN(c.rope_freq_base, gguf.GetFloat(a + "rope.freq_base"));
  }
  if (!(c.rms_norm_eps > 0.0f && c.rms_norm_eps < 1.0f)) return Error("rms_norm_epsilon out of range");
  if (!(c.rope_freq_base > 1.0f)) return Error("rope.freq_base must be > 1");
  // RoPE scaling: none and linear are supported; YaRN etc. would silently give wrong answers.
  std::string scaling = "none";
  if (gguf.Find(a + "rope.scaling.type") != nullptr) {
    BASTION_ASSIGN_OR_RETURN(scaling, gguf.GetString(a + "rope.scaling.type"));
  }
  if (scaling == "linear") {
    BASTION_ASSIGN_OR_RETURN(float factor, gguf.GetFloat(a + "rope.scaling.factor"));
    if (!(factor >= 1.0f)) return Error("rope.scaling.factor must be >= 1");
    c.rope_freq_scale = 1.0f / factor;
  } else if (scaling != "none") {
    return Error("RoPE scaling type '" + scaling + "' is not supported");
  }
  const GgufTensorInfo* embd = gguf.FindTensor("token_embd.weight");
  if (embd == nullptr) return Error("tensor 'token_embd.weight' is missing");
  if (embd->shape.size() != 2 || embd->shape[0] != c.n_embd) {
    return Error("tensor 'token_embd.weight': expected shape [" + std::to_string(c.n_embd) + ", n_vocab], got " +
                 ShapeString(embd->shape));
  }
  c.n_vocab = static_cast<int>(embd->shape[1]);
  c.tied_embeddings = gguf.FindTensor("output.weight") == nullptr;
  return c;
}

Result<ModelWeights> BindModelWeights(const GgufFile& gguf, const ModelConfig& c) {
  ModelWeights w;
  BASTION_ASSIGN_OR_RETURN(w.token_embd, BindMatrix(gguf, "token_embd.weight", c.n_embd, c.n_vocab));
  BASTION_ASSIGN_OR_RETURN(w.output_norm, BindVector(gguf, "output_norm.weight", c.n_embd));
  if (c.tied_embeddings) {
    w.output = w.token_embd;
  } else {
    BASTION_ASSIGN_OR_RETURN(w.output, BindMatrix(gguf, "output.weight", c.n_embd, c.n_vocab));
  }
  w.layers.resize(c.n_layer);
  for (int i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string p = "blk." + std::to_string(i) + ".";
    BASTION_ASSIGN_OR_RETURN(l.attn_norm, BindVector(gguf, p + "attn_norm.weight", c.n_embd));
    BASTION_ASSIGN_OR_RETURN(l.wq, BindMatrix(gguf, p + "attn_q.weight", c.n_embd, c.q_dim()));
    BASTION_ASSIGN_OR_RETURN(l.wk, BindMatrix(gguf, p + "attn_k.weight", c.n_embd, c.kv_dim()));
    BASTION_ASSIGN_OR_RETURN(l.wv, BindMatrix(gguf, p + "attn_v.weight", c.n_embd, c.kv_dim()));
    BASTION_ASSIGN_OR_RETURN(l.bq, BindOptionalVector(gguf, p + "attn_q.bias", c.q_dim()));
    BASTION_ASSIGN_OR_RETURN(l.bk, BindOptionalVector(gguf, p + "attn_k.bias", c.kv_dim()));
    BASTION_ASSIGN_OR_RETURN(l.bv, BindOptionalVector(gguf, p + "attn_v.bias", c.kv_dim()));
    BASTION_ASSIGN_OR_RETURN(l.wo, BindMatrix(gguf, p + "attn_output.weight", c.q_dim(), c.n_embd));
    BASTION_ASSIGN_OR_RETURN(l.ffn_norm, BindVector(gguf, p + "ffn_norm.weight", c.n_embd));
    BASTION_ASSIGN_OR_RETURN(l.w_gate, BindMatrix(gguf, p + "ffn_gate.weight", c.n_embd, c.n_ff));
    BASTION_ASSIGN_OR_RETURN(l.w_up, BindMatrix(gguf, p + "ffn_up.weight", c.n_embd, c.n_ff));
    BASTION_ASSIGN_OR_RETURN(l.w_down, BindMatrix(gguf, p + "ffn_down.weight", c.n_ff, c.n_embd));
  }
  return w;
}

Status RepackForKernels(GgufFile& gguf, SimdLevel level, ModelWeights* weights) {
  std::vector<std::pair<WeightMatrix*, WeightLayout>> candidates;
  // Tied embeddings: `output` is a copy of token_embd's binding (the same bytes read the same
  // way), repacked with it below, so it is neither a candidate nor an "other" matrix it would
  // overlap. (A file whose output.weight is token_embd's bytes as another type or shape is not
  // tied: the overlap check below leaves both alone.)
  const WeightMatrix& e = weights->token_embd;
  const WeightMatrix& o = weights->output;
  const bool tied = o.data == e.data && o.type == e.type && o.n_in == e.n_in && o.n_out == e.n_out &&
                    o.row_bytes == e.row_bytes;
  std::vector<const WeightMatrix*> all = {&weights->token_embd};
  if (!tied) all.push_back(&weights->output);
  auto consider = [&](WeightMatrix* m) {
    const WeightLayout layout = PreferredLayout(m->type, m->n_in, m->n_out, level);
    if (layout != WeightLayout::kFile) candidates.emplace_back(m, layout);
  };
  // The output head (and so the embedding table it is tied to: lookups unpack their rows,
  // DequantizeLayoutRow).
  consider(&weights->token_embd);
  if (!tied) consider(&weights->output);
  for (LayerWeights& l : weights->layers) {
    for (WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      all.push_back(m);
      consider(m);
    }
  }
  // A matrix whose bytes overlap another's (a crafted file can point two tensors at the same
  // data) stays as it is: repacking it would change what the other one reads.
  auto overlaps_another = [&](const std::pair<WeightMatrix*, WeightLayout>& candidate) {
    const WeightMatrix* m = candidate.first;
    const uint8_t* begin = m->data;
    const uint8_t* end = m->data + m->total_bytes();
    return std::any_of(all.begin(), all.end(), [&](const WeightMatrix* o) {
      return o != m && o->data < end && begin < o->data + o->total_bytes();
    });
  };
  std::erase_if(candidates, overlaps_another);
  if (candidates.empty()) return OkStatus();

  // Only where the bytes were read into memory: EditInMemory calls nothing for a mapped file
  // (whose pages are the page cache's), and every layout stays kFile.
  const uint8_t* base = gguf.mapped_file().data();
  // The matrices are disjoint (checked above), so one thread per core takes whole matrices, the
  // largest first, from a shared counter: repacking is a pass over most of the file (about
  // 0.27 s per GB on one core for the K-quant layouts).
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a.first->total_bytes() > b.first->total_bytes(); });
  auto repack = [&](std::span<uint8_t> bytes) {
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < candidates.size();) {
        auto [m, layout] = candidates[i];
        RepackRows(layout, m->type, m->n_in, bytes.data() + (m->data - base), m->row_bytes, m->n_out);
        m->layout = layout;
      }
    };
    const int n_threads = std::min<int>(DefaultThreadCount(), static_cast<int>(candidates.size()));
    std::vector<std::thread> helpers;
    for (int t = 1; t < n_threads; ++t) helpers.emplace_back(work);
    work();
    for (std::thread& h : helpers) h.join();
  };
  if (auto edited = gguf.mutable_mapped_file().EditInMemory(repack); !edited.ok()) return edited.error();
  if (tied) weights->output.layout = weights->token_embd.layout;
  return OkStatus();
}

}  // namespace bastion
