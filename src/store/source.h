// Where the hubs are and what a resolved source looks like: the base URLs (configurable, so a
// mirror or a test's own imitation hub can stand in for the real ones) and the one blob a pull
// downloads, with what the hub says its digest and size are.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "store/http_fetch.h"

namespace bastion::store {

struct SourceEndpoints {
  std::string hf_endpoint = "https://huggingface.co";           // HF_ENDPOINT
  std::string ollama_registry = "https://registry.ollama.ai";   // BASTION_OLLAMA_REGISTRY
  std::string hf_token;  // HF_TOKEN: sent as "Authorization: Bearer" to hf_endpoint only

  // Reads HF_ENDPOINT, BASTION_OLLAMA_REGISTRY and HF_TOKEN; a base URL must be http(s)://HOST...
  // (trailing '/' removed).
  static Result<SourceEndpoints> FromEnvironment();
};

// Checks and normalizes a base URL (scheme http or https, a host, no query); `what` names it.
Result<std::string> NormalizeBaseUrl(std::string_view url, const std::string& what);

// The host[:port] part of an http(s) URL, lower-cased; "" when there is none.
std::string UrlHost(std::string_view url);

struct ResolvedBlob {
  std::string url;      // GET this (redirects followed)
  HeaderList headers;   // sent with the GET (Authorization for a gated HF repo)
  std::string sha256;   // expected digest, hex; "" when the source gives none
  std::optional<uint64_t> size;
  std::string file_name;  // for messages: "qwen2.5-0.5b-instruct-q4_k_m.gguf"
};

}  // namespace bastion::store
