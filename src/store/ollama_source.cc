#include "store/ollama_source.h"

#include "store/json_parse.h"
#include "store/sha256.h"

namespace bastion::store {

Result<OllamaLayer> ParseOllamaManifest(std::string_view text) {
  BASTION_ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonBounded(text, "registry manifest", 16));
  if (!j.is_object()) return Error("registry manifest: expected a JSON object");
  if (const auto v = j.find("schemaVersion"); v != j.end() && !(v->is_number_integer() && v->get<int64_t>() == 2)) {
    return Error("registry manifest: expected schemaVersion 2, found " + v->dump().substr(0, 40));
  }
  const auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array()) return Error("registry manifest: no 'layers' array");
  for (const auto& layer : *layers) {
    if (!layer.is_object()) return Error("registry manifest: a layer is not an object");
    const auto media = layer.find("mediaType");
    if (media == layer.end() || !media->is_string() || media->get<std::string>() != kOllamaModelMediaType) continue;
    const auto digest = layer.find("digest");
    const auto size = layer.find("size");
    if (digest == layer.end() || !digest->is_string()) return Error("registry manifest: the model layer has no digest");
    const std::string d = digest->get<std::string>();
    if (!d.starts_with("sha256:")) {
      return Error("registry manifest: model layer digest '" + d.substr(0, 80) + "' is not sha256:<hex>");
    }
    auto hex = NormalizeSha256(d);
    if (!hex.ok()) return hex.error().WithContext("registry manifest: model layer digest");
    if (size == layer.end() || !size->is_number_integer() || size->get<int64_t>() < 0) {
      return Error("registry manifest: the model layer's size is not a non-negative integer");
    }
    return OllamaLayer{*hex, size->get<uint64_t>()};
  }
  return Error(std::string("registry manifest: no layer of media type ") + kOllamaModelMediaType);
}

Result<ResolvedBlob> ResolveOllama(const ModelRef& ref, const SourceEndpoints& endpoints, const FetchOptions& options) {
  FetchRequest req;
  req.url = endpoints.ollama_registry + "/v2/" + ref.ollama_repo + "/manifests/" + ref.ollama_tag;
  req.headers.emplace_back("Accept", kDockerManifestV2);
  req.max_body_bytes = 1u << 20;
  BASTION_ASSIGN_OR_RETURN(FetchResponse r, Fetch(req, options));
  if (r.status == 404) return Error("GET " + req.url + ": " + ref.Source() + " not found in the registry (HTTP 404)");
  if (r.status != 200) return Error("GET " + req.url + ": HTTP " + std::to_string(r.status));
  // The registry names the manifest by its digest: check it when it does.
  if (const std::string* d = r.Header("docker-content-digest")) {
    auto expected = NormalizeSha256(*d);
    Sha256 h;
    h.Update(r.body);
    const std::string got = h.FinishHex();
    if (!expected.ok() || *expected != got) {
      return Error("GET " + req.url + ": manifest digest mismatch: Docker-Content-Digest says " + *d + ", content is sha256:" + got);
    }
  }
  auto layer = ParseOllamaManifest(r.body);
  if (!layer.ok()) return layer.error().WithContext("GET " + req.url);
  ResolvedBlob blob;
  blob.url = endpoints.ollama_registry + "/v2/" + ref.ollama_repo + "/blobs/sha256:" + layer->sha256;
  blob.sha256 = layer->sha256;
  blob.size = layer->size;
  blob.file_name = "sha256:" + layer->sha256;
  return blob;
}

}  // namespace bastion::store
