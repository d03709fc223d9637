#include "store/hf_source.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "store/json_parse.h"
#include "store/sha256.h"

namespace bastion::store {
namespace {

constexpr int kMaxRelativeRedirects = 5;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsDelimiter(char c) { return c == '-' || c == '.' || c == '_'; }

// A repo file path we are willing to put into a URL: segments of [A-Za-z0-9._+-], none "." or
// "..", none starting with '-'.
bool IsSafeRepoPath(std::string_view path) {
  if (path.empty() || path.size() > 512) return false;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    const std::string_view seg = path.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == ".." || seg.front() == '-') return false;
    for (const char c : seg) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || c == '+')) return false;
    }
    start = end + 1;
  }
  return true;
}

// "-00001-of-00003" at the end of a stem: a split GGUF.
bool IsSplitStem(std::string_view stem) {
  const size_t of = stem.rfind("-of-");
  if (of == std::string_view::npos || of < 6) return false;
  auto digits = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return stem[of - 6] == '-' && digits(stem.substr(of - 5, 5)) && digits(stem.substr(of + 4));
}

// Whether `stem` (lower case) carries `quant` (lower case) between delimiters.
bool CarriesQuant(std::string_view stem, std::string_view quant) {
  for (size_t pos = stem.find(quant); pos != std::string_view::npos; pos = stem.find(quant, pos + 1)) {
    const bool left = pos == 0 || IsDelimiter(stem[pos - 1]);
    const size_t end = pos + quant.size();
    const bool right = end == stem.size() || IsDelimiter(stem[end]);
    if (left && right) return true;
  }
  return false;
}

std::optional<uint64_t> ParseSize(const std::string* value) {
  if (value == nullptr) return std::nullopt;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), v);
  if (ec != std::errc() || end != value->data() + value->size()) return std::nullopt;
  return v;
}

std::string HubError(int status, const std::string& what) {
  switch (status) {
    case 401:
    case 403:
      return what + ": access denied (HTTP " + std::to_string(status) +
             "); a gated or private repo needs HF_TOKEN with access to it";
    case 404: return what + ": not found (HTTP 404): check the repository and file name";
    default: return what + ": HTTP " + std::to_string(status);
  }
}

}  // namespace

std::string Sha256FromEtag(std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  auto hex = NormalizeSha256(etag);
  return hex.ok() && etag.size() == 64 ? *hex : "";
}

Result<std::string> ChooseGgufForQuant(std::string_view api_json, std::string_view quant, const std::string& repo) {
  const std::string what = "Hugging Face repo " + repo;
  BASTION_ASSIGN_OR_RETURN(nlohmann::json j, ParseJsonBounded(api_json, what + ": model info", 32));
  if (!j.is_object()) return Error(what + ": model info is not a JSON object");
  const auto siblings = j.find("siblings");
  if (siblings == j.end() || !siblings->is_array()) return Error(what + ": model info has no 'siblings' list of files");
  const std::string q = Lower(quant);
  std::vector<std::string> ggufs, singles, splits;
  for (const auto& s : *siblings) {
    if (!s.is_object()) continue;
    const auto f = s.find("rfilename");
    if (f == s.end() || !f->is_string()) continue;
    const std::string name = f->get<std::string>();
    const std::string lower = Lower(name);
    if (!lower.ends_with(".gguf") || !IsSafeRepoPath(name)) continue;
    ggufs.push_back(name);
    const std::string base = lower.substr(lower.find_last_of('/') == std::string::npos ? 0 : lower.find_last_of('/') + 1);
    const std::string stem = base.substr(0, base.size() - 5);
    if (!CarriesQuant(stem, q)) continue;
    (IsSplitStem(stem) ? splits : singles).push_back(name);
  }
  auto list = [](const std::vector<std::string>& v) {
    std::string out;
    for (size_t i = 0; i < v.size() && i < 12; ++i) out += (i ? ", " : "") + v[i];
    if (v.size() > 12) out += ", ... (" + std::to_string(v.size()) + " in all)";
    return out;
  };
  if (singles.size() == 1) return singles[0];
  if (singles.size() > 1) {
    std::sort(singles.begin(), singles.end());
    return Error(what + ": several .gguf files match " + std::string(quant) + ": " + list(singles) +
                 "; name one with hf.co/" + repo + "/FILE.gguf");
  }
  if (!splits.empty()) {
    return Error(what + ": " + std::string(quant) + " is published only as a split GGUF (" + list(splits) +
                 "), which bastion cannot load; choose another quantization");
  }
  if (ggufs.empty()) return Error(what + ": has no .gguf files");
  return Error(what + ": no .gguf file for " + std::string(quant) + "; the repo has " + list(ggufs));
}

Result<ResolvedBlob> ResolveHuggingFace(const ModelRef& ref, const SourceEndpoints& endpoints,
                                        const FetchOptions& options) {
  HeaderList auth;
  if (!endpoints.hf_token.empty()) auth.emplace_back("Authorization", "Bearer " + endpoints.hf_token);
  std::string file = ref.hf_file;
  if (file.empty()) {
    FetchRequest info;
    info.url = endpoints.hf_endpoint + "/api/models/" + ref.hf_repo;
    info.headers = auth;
    info.headers.emplace_back("Accept", "application/json");
    BASTION_ASSIGN_OR_RETURN(FetchResponse r, Fetch(info, options));
    if (r.status != 200) return Error(HubError(r.status, "GET " + info.url));
    BASTION_ASSIGN_OR_RETURN(file, ChooseGgufForQuant(r.body, ref.hf_quant, ref.hf_repo));
  }
  if (!IsSafeRepoPath(file)) return Error("unsafe file name '" + file + "' in Hugging Face repo " + ref.hf_repo);

  const std::string resolve = endpoints.hf_endpoint + "/" + ref.hf_repo + "/resolve/" + ref.hf_revision + "/" + file;
  FetchRequest head;
  head.method = "HEAD";
  head.url = resolve;
  head.headers = auth;
  head.follow_redirects = false;  // the LFS headers are on the hub's own reply, not the CDN's
  FetchResponse r;
  for (int hop = 0;; ++hop) {
    BASTION_ASSIGN_OR_RETURN(r, Fetch(head, options));
    const std::string* location = r.Header("location");
    // A renamed repo answers with a relative redirect to the new name and no LFS headers.
    if (r.status >= 300 && r.status < 400 && r.Header("x-linked-etag") == nullptr && location != nullptr &&
        location->starts_with("/") && !location->starts_with("//") && hop < kMaxRelativeRedirects) {
      head.url = endpoints.hf_endpoint + *location;
      continue;
    }
    break;
  }
  if (r.status >= 400 || r.status < 200) {
    std::string msg = HubError(r.status, "HEAD " + head.url);
    if (ref.name.starts_with("qwen2.5:") && r.status == 404) {
      msg += " (the larger Qwen2.5 files are published split in parts, which bastion cannot load; try another "
             "type or ollama://" + ref.name + ")";
    }
    return Error(msg);
  }
  ResolvedBlob blob;
  blob.url = head.url;
  blob.headers = auth;
  blob.file_name = file;
  if (const std::string* v = r.Header("x-linked-etag")) blob.sha256 = Sha256FromEtag(*v);
  if (blob.sha256.empty()) {
    if (const std::string* v = r.Header("etag")) blob.sha256 = Sha256FromEtag(*v);
  }
  blob.size = ParseSize(r.Header("x-linked-size"));
  if (!blob.size && r.status == 200) blob.size = ParseSize(r.Header("content-length"));
  return blob;
}

}  // namespace bastion::store
