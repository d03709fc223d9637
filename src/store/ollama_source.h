// The Ollama registry (an OCI distribution registry): a model name and tag -> the GGUF layer.
//
//   GET {registry}/v2/{namespace}/{model}/manifests/{tag}
//       Accept: application/vnd.docker.distribution.manifest.v2+json
//       -> {"schemaVersion": 2, "layers": [{"mediaType": "application/vnd.ollama.image.model",
//           "digest": "sha256:<hex>", "size": N}, ...]}
//       (when the reply has Docker-Content-Digest, the manifest's own SHA-256 must match it)
//   GET {registry}/v2/{namespace}/{model}/blobs/sha256:<hex>     redirects followed (the CDN)
//
// Only the model layer is pulled: the template, system prompt, parameters and license layers are
// out of scope (bastion uses the Qwen2.5 chat template and its own defaults).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "store/model_ref.h"
#include "store/source.h"

namespace bastion::store {

inline constexpr const char* kOllamaModelMediaType = "application/vnd.ollama.image.model";
inline constexpr const char* kDockerManifestV2 = "application/vnd.docker.distribution.manifest.v2+json";

struct OllamaLayer {
  std::string sha256;  // hex
  uint64_t size = 0;
};

// The model layer of a registry manifest; errors say what is malformed or missing.
Result<OllamaLayer> ParseOllamaManifest(std::string_view json);

Result<ResolvedBlob> ResolveOllama(const ModelRef& ref, const SourceEndpoints& endpoints, const FetchOptions& options);

}  // namespace bastion::store
