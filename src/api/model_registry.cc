// ModelRegistry: entries, name lookup and background file hashing.
#include "api/model_registry.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "synth/type_mix.h"

namespace bastion::api {
namespace {

// SHA-256 of a file in hex, or "" if it cannot be read.
std::string Sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return "";
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  char two[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(two, sizeof two, "%02x", md[i]);
    hex += two;
  }
  return hex;
}

// The quantization name as Ollama reports it: from general.file_type when present.
std::string QuantizationName(const Model& model) {
  const GgufFile& gguf = model.gguf();
  if (gguf.Find("general.file_type") != nullptr) {
    auto ftype = gguf.GetUint("general.file_type");
    if (ftype.ok()) {
      const char* name = FileTypeName(static_cast<FileType>(*ftype));
      if (std::string(name) != "?") return name;
    }
  }
  return TypeName(model.weights().layers.empty() ? model.weights().output.type : model.weights().layers[0].w_gate.type);
}

}  // namespace

std::string FormatParameterCount(int64_t n) {
  char buf[32];
  if (n >= 1000000000) {
    std::snprintf(buf, sizeof buf, "%.1fB", static_cast<double>(n) / 1e9);
  } else if (n >= 1000000) {
    std::snprintf(buf, sizeof buf, "%.2fM", static_cast<double>(n) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  }
  return buf;
}

std::string DefaultModelName(const std::string& file_path) {
  std::string name = file_path.substr(file_path.find_last_of('/') + 1);
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".gguf") == 0) name.resize(name.size() - 5);
  return name;
}

ModelRegistry::~ModelRegistry() {
  for (auto& t : hashers_) t.join();
}

void ModelRegistry::Add(std::string name, const std::string& file_path, const Model* model, engine::Engine* engine) {
  auto m = std::make_unique<ServedModel>();
  m->name = std::move(name);
  m->file_path = file_path;
  m->model = model;
  m->engine = engine;
  struct stat st {};
  if (::stat(file_path.c_str(), &st) == 0) {
    m->size_bytes = static_cast<uint64_t>(st.st_size);
    m->modified_unix = static_cast<int64_t>(st.st_mtime);
  }
  m->loaded_unix = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  m->family = model->config().architecture;
  m->quantization = QuantizationName(*model);
  m->parameter_size = FormatParameterCount(model->ParameterCount());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    digests_.emplace_back();
  }
  const size_t index = models_.size();
  models_.push_back(std::move(m));
  hashers_.emplace_back([this, index, file_path] {
    std::string hex = Sha256File(file_path);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!hex.empty()) digests_[index] = "sha256:" + hex;
  });
}

const ServedModel* ModelRegistry::Find(std::string_view name) const {
  auto base = [](std::string_view n) {
    constexpr std::string_view kLatest = ":latest";
    if (n.size() > kLatest.size() && n.substr(n.size() - kLatest.size()) == kLatest) n.remove_suffix(kLatest.size());
    return n;
  };
  for (const auto& m : models_) {
    if (base(m->name) == base(name)) return m.get();
  }
  return nullptr;
}

std::string ModelRegistry::Digest(const ServedModel& model) const {
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < models_.size(); ++i) {
    if (models_[i].get() == &model) return digests_[i];
  }
  return "";
}

}  // namespace bastion::api
