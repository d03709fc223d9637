// ModelRegistry: the models this server serves, by the names clients use for them.
//
// Each entry pairs a loaded Model with the Engine that runs it, plus what the listing endpoints
// report (/api/tags, /v1/models, /api/show, /api/ps): size, modification time, SHA-256 digest of
// the file (computed in the background at startup, like Ollama's blob digests), quantization and
// parameter count.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "model/model.h"

namespace bastion::api {

struct ServedModel {
  std::string name;            // as listed: "qwen2.5:0.5b"
  std::string file_path;
  const Model* model = nullptr;
  engine::Engine* engine = nullptr;
  uint64_t size_bytes = 0;
  int64_t modified_unix = 0;   // file modification time
  int64_t loaded_unix = 0;     // when this server loaded it
  std::string family;          // general.architecture: "qwen2"
  std::string quantization;    // "Q4_K_M"
  std::string parameter_size;  // "494.03M"
};

class ModelRegistry {
 public:
  ModelRegistry() = default;
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Fills the reported facts from the model and file, and starts hashing the file.
  void Add(std::string name, const std::string& file_path, const Model* model, engine::Engine* engine);

  // By name; "name" and "name:latest" are the same model, as in Ollama. nullptr if unknown.
  const ServedModel* Find(std::string_view name) const;
  const std::vector<std::unique_ptr<ServedModel>>& models() const { return models_; }

  // "sha256:<hex>" once hashed, "" before.
  std::string Digest(const ServedModel& model) const;

 private:
  std::vector<std::unique_ptr<ServedModel>> models_;
  mutable std::mutex mutex_;
  std::vector<std::string> digests_;  // parallel to models_, guarded by mutex_
  std::vector<std::thread> hashers_;
};

// "494.03M", "1.5B" — Ollama's parameter_size formatting.
std::string FormatParameterCount(int64_t n);

// The name a model file is served under by default: the file name without directories and
// without ".gguf".
std::string DefaultModelName(const std::string& file_path);

}  // namespace bastion::api
