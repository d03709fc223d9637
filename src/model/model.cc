// Model::Load: GGUF -> config, weights and tokenizer.
#include "model/model.h"

#include <algorithm>
#include <cstdio>

namespace bastion {
namespace {

// Adapts the tokenizer.ggml.* metadata (as convert_hf_to_gguf.py writes it) to TokenizerData.
Result<TokenizerData> ReadTokenizerData(const GgufFile& gguf) {
  TokenizerData d;
  BASTION_ASSIGN_OR_RETURN(d.model, gguf.GetString("tokenizer.ggml.model"));
  if (gguf.Find("tokenizer.ggml.pre") != nullptr) {
    BASTION_ASSIGN_OR_RETURN(d.pre, gguf.GetString("tokenizer.ggml.pre"));
  } else {
    d.pre = "default";
  }
  BASTION_ASSIGN_OR_RETURN(auto tokens, gguf.GetStringArray("tokenizer.ggml.tokens"));
  d.tokens.assign(tokens.begin(), tokens.end());
  if (gguf.Find("tokenizer.ggml.token_type") != nullptr) {
    BASTION_ASSIGN_OR_RETURN(auto types, gguf.GetInt32Array("tokenizer.ggml.token_type"));
    d.token_types.assign(types.begin(), types.end());
  }
  if (gguf.Find("tokenizer.ggml.merges") != nullptr) {
    BASTION_ASSIGN_OR_RETURN(auto merges, gguf.GetStringArray("tokenizer.ggml.merges"));
    d.merges.assign(merges.begin(), merges.end());
  }
  auto optional_id = [&](const char* key, int32_t* out) -> Status {
    if (gguf.Find(key) == nullptr) return OkStatus();
    BASTION_ASSIGN_OR_RETURN(uint64_t v, gguf.GetUint(key));
    if (v >= d.tokens.size()) {
      return Error(std::string("key '") + key + "': token id " + std::to_string(v) + " out of range (vocabulary has " +
                   std::to_string(d.tokens.size()) + " tokens)");
    }
    *out = static_cast<int32_t>(v);
    return OkStatus();
  };
  BASTION_RETURN_IF_ERROR(optional_id("tokenizer.ggml.bos_token_id", &d.bos_id));
  BASTION_RETURN_IF_ERROR(optional_id("tokenizer.ggml.eos_token_id", &d.eos_id));
  BASTION_RETURN_IF_ERROR(optional_id("tokenizer.ggml.eot_token_id", &d.eot_id));
  BASTION_RETURN_IF_ERROR(optional_id("tokenizer.ggml.padding_token_id", &d.pad_id));
  if (gguf.Find("tokenizer.ggml.add_bos_token") != nullptr) {
    BASTION_ASSIGN_OR_RETURN(d.add_bos, gguf.GetBool("tokenizer.ggml.add_bos_token"));
  }
  return d;
}

}  // namespace

Result<std::unique_ptr<Model>> Model::Load(const std::string& path, FileResidency residency, SimdLevel kernel_level) {
  auto model = std::unique_ptr<Model>(new Model());
  model->path_ = path;
  BASTION_ASSIGN_OR_RETURN(model->gguf_, GgufFile::Open(path, residency));
  const GgufFile& gguf = *model->gguf_;
  auto context = [&](const Error& e) { return e.WithContext(path); };

  auto config = ReadModelConfig(gguf);
  if (!config.ok()) return context(config.error());
  model->config_ = *config;

  auto weights = BindModelWeights(gguf, model->config_);
  if (!weights.ok()) return context(weights.error());
  model->weights_ = std::move(weights).value();
  if (auto repacked = RepackForKernels(*model->gguf_, kernel_level, &model->weights_); !repacked.ok()) {
    return context(repacked.error());
  }

  auto data = ReadTokenizerData(gguf);
  if (!data.ok()) return context(data.error().WithContext("tokenizer"));
  if (static_cast<int>(data->tokens.size()) > model->config_.n_vocab) {
    return context(Error("tokenizer has " + std::to_string(data->tokens.size()) +
                         " tokens but token_embd has only " + std::to_string(model->config_.n_vocab) + " rows"));
  }
  auto tokenizer = Tokenizer::Create(std::move(data).value());
  if (!tokenizer.ok()) return context(tokenizer.error().WithContext("tokenizer"));
  model->tokenizer_ = std::move(tokenizer).value();

  if (gguf.Find("tokenizer.chat_template") != nullptr) {
    auto tmpl = gguf.GetString("tokenizer.chat_template");
    if (tmpl.ok()) model->chat_template_ = *tmpl;
  }
  return model;
}

int64_t Model::ParameterCount() const {
  int64_t n = 0;
  for (const GgufTensorInfo& t : gguf_->tensors()) n += t.n_elements;
  return n;
}

std::string Model::Describe() const {
  // The most common 2-D weight type by bytes names the quantization ("mostly Q5_0").
  std::vector<std::pair<size_t, std::string>> by_type;
  for (const GgufTensorInfo& t : gguf_->tensors()) {
    if (t.shape.size() < 2) continue;
    const std::string name = TypeName(t.type);
    bool found = false;
    for (auto& [bytes, type] : by_type) {
      if (type == name) {
        bytes += t.size_bytes;
        found = true;
      }
    }
    if (!found) by_type.emplace_back(t.size_bytes, name);
  }
  std::sort(by_type.rbegin(), by_type.rend());
  std::string types;
  for (size_t i = 0; i < by_type.size() && i < 4; ++i) types += (i ? "/" : "") + by_type[i].second;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s, %d layers, %d embd, %d heads (%d kv), %d ff, vocab %d, %.0fM params, %s",
                config_.architecture.c_str(), config_.n_layer, config_.n_embd, config_.n_head, config_.n_head_kv,
                config_.n_ff, config_.n_vocab, static_cast<double>(ParameterCount()) / 1e6, types.c_str());
  return buf;
}

}  // namespace bastion
