#include "store/model_ref.h"

#include <array>
#include <cctype>

namespace bastion::store {
namespace {

constexpr size_t kMaxRefLength = 2048;
constexpr size_t kMaxNameLength = 200;

constexpr const char* kUsage =
    "expected qwen2.5:<size>[-instruct[-<type>]], hf.co/OWNER/REPO[:QUANT], hf.co/OWNER/REPO/FILE.gguf, "
    "ollama://[NAMESPACE/]MODEL[:TAG] or an https:// URL";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Lower(s.substr(0, prefix.size())) == prefix;
}

// A path component of a repo or model name: letters, digits, '.', '_', '-', not starting with
// '.' or '-' (so never "." or ".."), at most 96 characters (Hugging Face's limit).
bool IsNameComponent(std::string_view s, bool allow_plus = false) {
  if (s.empty() || s.size() > 96 || s.front() == '.' || s.front() == '-') return false;
  for (const char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' || (allow_plus && c == '+'))) {
      return false;
    }
  }
  return true;
}

// Qwen's file-name spelling of each type, and the aliases a user may type.
constexpr std::array<const char*, 9> kQwenTypes = {"fp16", "q8_0", "q6_k", "q5_k_m", "q5_0",
                                                   "q4_k_m", "q4_0", "q3_k_m", "q2_k"};

bool IsQwenType(std::string_view t) {
  for (const char* k : kQwenTypes) {
    if (t == k) return true;
  }
  return false;
}

struct QwenSize {
  const char* tag;   // "0.5b"
  const char* repo;  // "0.5B"
};
constexpr std::array<QwenSize, 4> kQwenSizes = {{{"0.5b", "0.5B"}, {"1.5b", "1.5B"}, {"3b", "3B"}, {"7b", "7B"}}};

Result<ModelRef> ParseQwenShortName(std::string_view text) {
  const size_t colon = text.find(':');
  const std::string model = Lower(text.substr(0, colon));
  if (model != "qwen2.5") return Error("unknown model reference '" + std::string(text) + "': " + kUsage);
  std::string tag = colon == std::string_view::npos ? "latest" : Lower(text.substr(colon + 1));
  // Ollama's qwen2.5:latest is the 7B instruct model in Q4_K_M.
  const std::string resolved = tag == "latest" ? "7b" : tag;
  const QwenSize* size = nullptr;
  std::string rest;
  for (const QwenSize& s : kQwenSizes) {
    const std::string_view st = s.tag;
    if (resolved.rfind(st, 0) == 0 && (resolved.size() == st.size() || resolved[st.size()] == '-')) {
      size = &s;
      rest = resolved.substr(st.size());
    }
  }
  std::string type = "q4_k_m";
  if (size != nullptr && !rest.empty()) {
    // "-instruct", "-instruct-<type>", or "-<type>".
    if (rest.rfind("-instruct", 0) == 0) rest = rest.substr(9);
    if (!rest.empty()) {
      type = rest.substr(1);
      if (type == "f16") type = "fp16";
      if (rest[0] != '-' || !IsQwenType(type)) size = nullptr;
    }
  }
  if (size == nullptr) {
    return Error("unknown tag '" + tag + "' for qwen2.5: expected <size>[-instruct[-<type>]] with size 0.5b, 1.5b, 3b " +
                 "or 7b and type one of " + KnownQwenTypes() + " (default q4_k_m), or latest");
  }
  ModelRef r;
  r.kind = SourceKind::kHuggingFace;
  r.name = "qwen2.5:" + tag;
  r.hf_repo = std::string("Qwen/Qwen2.5-") + size->repo + "-Instruct-GGUF";
  r.hf_file = std::string("qwen2.5-") + size->tag + "-instruct-" + type + ".gguf";
  return r;
}

Result<ModelRef> ParseHuggingFace(std::string_view text, std::string_view rest) {
  // rest: OWNER/REPO[:QUANT] or OWNER/REPO/PATH/TO/FILE.gguf
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return Error("'" + std::string(text) + "': expected hf.co/OWNER/REPO");
  const std::string_view owner = rest.substr(0, slash);
  std::string_view after = rest.substr(slash + 1);
  const size_t next = after.find_first_of("/:");
  const std::string_view repo = after.substr(0, next);
  if (!IsNameComponent(owner) || !IsNameComponent(repo)) {
    return Error("'" + std::string(text) + "': owner and repository names are letters, digits, '.', '_' and '-'");
  }
  ModelRef r;
  r.kind = SourceKind::kHuggingFace;
  r.hf_repo = std::string(owner) + "/" + std::string(repo);
  if (next != std::string_view::npos && after[next] == '/') {
    const std::string_view file = after.substr(next + 1);
    size_t start = 0;
    while (start <= file.size()) {
      const size_t end = std::min(file.find('/', start), file.size());
      if (!IsNameComponent(file.substr(start, end - start), /*allow_plus=*/true)) {
        return Error("'" + std::string(text) + "': bad file path '" + std::string(file) + "' in the repository");
      }
      start = end + 1;
    }
    if (!StartsWithNoCase(std::string_view(file).substr(file.size() >= 5 ? file.size() - 5 : 0), ".gguf")) {
      return Error("'" + std::string(text) + "': the file must be a .gguf file");
    }
    r.hf_file = std::string(file);
    r.name = "hf.co/" + r.hf_repo + "/" + r.hf_file;
    return r;
  }
  std::string quant = next == std::string_view::npos ? "" : std::string(after.substr(next + 1));
  if (quant.empty() || Lower(quant) == "latest") quant = "Q4_K_M";  // Ollama's default for hf.co names
  if (quant.size() > 32) return Error("'" + std::string(text) + "': quantization name too long");
  for (const char c : quant) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return Error("'" + std::string(text) + "': a quantization is letters, digits and '_' (like Q4_K_M)");
    }
  }
  r.hf_quant = Upper(quant);
  r.name = "hf.co/" + r.hf_repo + ":" + r.hf_quant;
  return r;
}

Result<ModelRef> ParseOllama(std::string_view text, std::string_view rest) {
  const size_t colon = rest.find(':');
  const std::string_view path = rest.substr(0, colon);
  std::string tag = colon == std::string_view::npos ? "latest" : std::string(rest.substr(colon + 1));
  const size_t slash = path.find('/');
  const std::string_view ns = slash == std::string_view::npos ? "library" : path.substr(0, slash);
  const std::string_view model = slash == std::string_view::npos ? path : path.substr(slash + 1);
  if (!IsNameComponent(ns) || !IsNameComponent(model) || !IsNameComponent(tag)) {
    return Error("'" + std::string(text) +
                 "': expected ollama://[NAMESPACE/]MODEL[:TAG], each part letters, digits, '.', '_' and '-'");
  }
  ModelRef r;
  r.kind = SourceKind::kOllama;
  r.ollama_repo = Lower(ns) + "/" + Lower(model);
  r.ollama_tag = Lower(tag);
  r.name = "ollama://" + (ns == "library" ? "" : Lower(ns) + "/") + Lower(model) + ":" + r.ollama_tag;
  return r;
}

Result<ModelRef> ParseUrl(std::string_view text) {
  const size_t scheme_end = text.find("://");
  const std::string_view after = text.substr(scheme_end + 3);
  const size_t path_start = after.find_first_of("/?#");
  const std::string_view authority = after.substr(0, path_start);
  if (authority.empty()) return Error("'" + std::string(text) + "': the URL has no host");
  if (authority.find('@') != std::string_view::npos) {
    return Error("'" + std::string(text) + "': credentials in URLs are not supported");
  }
  std::string_view path = path_start == std::string_view::npos ? "" : after.substr(path_start);
  path = path.substr(0, path.find_first_of("?#"));
  const std::string_view file = path.substr(path.find_last_of('/') == std::string_view::npos ? 0 : path.find_last_of('/') + 1);
  if (file.empty()) return Error("'" + std::string(text) + "': the URL does not name a file");
  ModelRef r;
  r.kind = SourceKind::kUrl;
  r.url = std::string(text);
  std::string name(file);
  if (name.size() > 5 && StartsWithNoCase(std::string_view(name).substr(name.size() - 5), ".gguf")) name.resize(name.size() - 5);
  // The default name is the file's; characters a name cannot hold become '-'.
  for (char& c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '-';
  }
  if (name.size() > kMaxNameLength) name.resize(kMaxNameLength);
  r.name = name;
  return r;
}

}  // namespace

const char* SourceKindName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kHuggingFace: return "huggingface";
    case SourceKind::kOllama: return "ollama";
    case SourceKind::kUrl: return "url";
  }
  return "?";
}

std::string ModelRef::Source() const {
  switch (kind) {
    case SourceKind::kHuggingFace: return "hf.co/" + hf_repo + (hf_file.empty() ? ":" + hf_quant : "/" + hf_file);
    case SourceKind::kOllama: return "ollama://" + ollama_repo + ":" + ollama_tag;
    case SourceKind::kUrl: return url;
  }
  return "";
}

bool IsValidModelName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (const char c : name) {
    if (c <= ' ' || c >= 0x7f) return false;
  }
  return true;
}

std::string KnownQwenTypes() {
  std::string out;
  for (const char* t : kQwenTypes) out += (out.empty() ? "" : ", ") + std::string(t);
  return out;
}

Result<ModelRef> ParseModelRef(std::string_view text) {
  if (text.empty()) return Error(std::string("empty model reference: ") + kUsage);
  if (text.size() > kMaxRefLength) return Error("model reference longer than " + std::to_string(kMaxRefLength) + " characters");
  for (const char c : text) {
    if (c <= ' ' || c >= 0x7f) return Error("model reference contains a space, control or non-ASCII character");
  }
  Result<ModelRef> ref = [&]() -> Result<ModelRef> {
    if (StartsWithNoCase(text, "https://") || StartsWithNoCase(text, "http://")) return ParseUrl(text);
    if (StartsWithNoCase(text, "ollama://")) return ParseOllama(text, text.substr(9));
    if (StartsWithNoCase(text, "hf.co/")) return ParseHuggingFace(text, text.substr(6));
    if (StartsWithNoCase(text, "huggingface.co/")) return ParseHuggingFace(text, text.substr(15));
    if (text.find("://") != std::string_view::npos) {
      return Error("unsupported scheme in '" + std::string(text) + "': " + kUsage);
    }
    return ParseQwenShortName(text);
  }();
  // Each part is bounded, but a Hugging Face file path or an Ollama namespace, model and tag
  // together can still make a name the store cannot hold (found by store_parsers_fuzz).
  if (ref.ok() && !IsValidModelName(ref->name)) {
    return Error("'" + std::string(text.substr(0, 80)) + "...': the model name it gives is longer than " +
                 std::to_string(kMaxNameLength) + " characters");
  }
  return ref;
}

}  // namespace bastion::store
