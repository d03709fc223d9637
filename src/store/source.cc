#include "store/source.h"

#include <cctype>
#include <cstdlib>

namespace bastion::store {

std::string UrlHost(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return "";
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (rest.find('@') != std::string_view::npos) rest = rest.substr(rest.rfind('@') + 1);
  std::string out(rest);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<std::string> NormalizeBaseUrl(std::string_view url, const std::string& what) {
  std::string lower(url.substr(0, 8));
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!lower.starts_with("https://") && !lower.starts_with("http://")) {
    return Error(what + " '" + std::string(url.substr(0, 200)) + "': expected an http:// or https:// URL");
  }
  for (const char c : url) {
    if (c <= ' ' || c >= 0x7f || c == '?' || c == '#') {
      return Error(what + " '" + std::string(url.substr(0, 200)) + "': a base URL has no spaces, query or fragment");
    }
  }
  if (UrlHost(url).empty()) return Error(what + " '" + std::string(url) + "': no host");
  std::string out(url);
  while (out.ends_with("/")) out.pop_back();
  return out;
}

Result<SourceEndpoints> SourceEndpoints::FromEnvironment() {
  SourceEndpoints e;
  if (const char* v = std::getenv("HF_ENDPOINT"); v != nullptr && v[0] != '\0') {
    BASTION_ASSIGN_OR_RETURN(e.hf_endpoint, NormalizeBaseUrl(v, "HF_ENDPOINT"));
  }
  if (const char* v = std::getenv("BASTION_OLLAMA_REGISTRY"); v != nullptr && v[0] != '\0') {
    BASTION_ASSIGN_OR_RETURN(e.ollama_registry, NormalizeBaseUrl(v, "BASTION_OLLAMA_REGISTRY"));
  }
  if (const char* v = std::getenv("HF_TOKEN"); v != nullptr) e.hf_token = v;
  return e;
}

}  // namespace bastion::store
