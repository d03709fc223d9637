#include "store/model_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "store/json_parse.h"
#include "store/model_ref.h"
#include "store/sha256.h"

namespace bastion::store {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr size_t kMaxManifestBytes = 64 * 1024;
// Escaped names up to this length are the file name as is (every name of today's stores fits).
constexpr size_t kMaxEscapedNameLength = 200;

Result<std::string> StringField(const json& j, const char* key, bool required) {
  const auto it = j.find(key);
  if (it == j.end()) {
    if (required) return Error(std::string("missing field '") + key + "'");
    return std::string();
  }
  if (!it->is_string()) return Error(std::string("field '") + key + "': expected a string, found " + it->type_name());
  return it->get<std::string>();
}

Result<int64_t> IntField(const json& j, const char* key, bool required) {
  const auto it = j.find(key);
  if (it == j.end()) {
    if (required) return Error(std::string("missing field '") + key + "'");
    return int64_t{0};
  }
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t{INT64_MAX}) ||
      it->get<int64_t>() < 0) {
    return Error(std::string("field '") + key + "': expected a non-negative integer, found " + it->dump().substr(0, 40));
  }
  return it->get<int64_t>();
}

std::string Errno() { return std::strerror(errno); }

}  // namespace

std::string Manifest::DigestHex() const { return digest.size() > 7 ? digest.substr(7) : ""; }

Result<Manifest> ParseManifest(std::string_view text) {
  BASTION_ASSIGN_OR_RETURN(json j, ParseJsonBounded(text, "manifest", 8));
  if (!j.is_object()) return Error("manifest: expected a JSON object");
  auto field_error = [](const Error& e) { return e.WithContext("manifest"); };
  Manifest m;
  auto str = [&](const char* key, bool required, std::string* out) -> Status {
    auto v = StringField(j, key, required);
    if (!v.ok()) return field_error(v.error());
    *out = std::move(v).value();
    return OkStatus();
  };
  auto num = [&](const char* key, bool required, int64_t* out) -> Status {
    auto v = IntField(j, key, required);
    if (!v.ok()) return field_error(v.error());
    *out = *v;
    return OkStatus();
  };
  BASTION_RETURN_IF_ERROR(str("name", true, &m.name));
  BASTION_RETURN_IF_ERROR(str("source", false, &m.source));
  BASTION_RETURN_IF_ERROR(str("source_url", false, &m.source_url));
  BASTION_RETURN_IF_ERROR(str("digest", true, &m.digest));
  int64_t size = 0;
  BASTION_RETURN_IF_ERROR(num("size", true, &size));
  m.size = static_cast<uint64_t>(size);
  BASTION_RETURN_IF_ERROR(str("weight_type", false, &m.weight_type));
  BASTION_RETURN_IF_ERROR(str("architecture", false, &m.architecture));
  BASTION_RETURN_IF_ERROR(num("parameters", false, &m.parameters));
  BASTION_RETURN_IF_ERROR(num("context_length", false, &m.context_length));
  BASTION_RETURN_IF_ERROR(str("added", false, &m.added));
  if (!IsValidModelName(m.name)) return Error("manifest: invalid model name '" + m.name.substr(0, 64) + "'");
  if (!m.digest.starts_with("sha256:") || !IsSha256Hex(m.digest.substr(7))) {
    return Error("manifest: field 'digest': expected sha256:<64 hex digits>, found '" + m.digest.substr(0, 80) + "'");
  }
  auto lowered = NormalizeSha256(m.digest);
  m.digest = "sha256:" + *lowered;
  return m;
}

std::string SerializeManifest(const Manifest& m) {
  nlohmann::ordered_json j;
  j["schema_version"] = 1;
  j["name"] = m.name;
  j["source"] = m.source;
  j["source_url"] = m.source_url;
  j["digest"] = m.digest;
  j["size"] = m.size;
  j["weight_type"] = m.weight_type;
  j["architecture"] = m.architecture;
  j["parameters"] = m.parameters;
  j["context_length"] = m.context_length;
  j["added"] = m.added;
  // Names and URLs come from users and hubs: keep the file ASCII whatever they hold.
  return j.dump(2, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace) + "\n";
}

std::string EscapeModelName(std::string_view name) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    const bool plain = std::isalnum(c) || c == '_' || c == '-' || (c == '.' && i > 0);
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (out.size() <= kMaxEscapedNameLength) return out;
  // Escaping can triple a name (a 200-character name of '/' and ':' is 600), past the 255 bytes a
  // file name may hold with ".json" and WriteFileAtomic's temporary suffix. Such a name keeps a
  // readable prefix and ends in its SHA-256, so distinct names still get distinct files; '~' is
  // never produced by the escaping above, so no shorter name's file can look like this one.
  size_t cut = kMaxEscapedNameLength - 1 - 64;
  while (cut > 0 && (out[cut - 1] == '%' || (cut >= 2 && out[cut - 2] == '%'))) --cut;  // keep %XX whole
  Sha256 hash;
  hash.Update(name);
  return out.substr(0, cut) + "~" + hash.FinishHex();
}

std::string NowRfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<int64_t> ParseRfc3339(std::string_view text) {
  if (text.size() != 20 || text[19] != 'Z') return std::nullopt;
  std::tm tm{};
  const std::string s(text);
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

ModelStore::ModelStore(std::string state_dir) : root_(std::move(state_dir) + "/models") {}

std::string ModelStore::BlobPath(std::string_view sha256_hex) const {
  return root_ + "/blobs/sha256-" + std::string(sha256_hex);
}

std::string ModelStore::ManifestPath(std::string_view name) const {
  return root_ + "/manifests/" + EscapeModelName(name) + ".json";
}

std::string ModelStore::PartialPath(std::string_view key) const {
  return root_ + "/blobs/" + std::string(key) + ".partial";
}

Status ModelStore::EnsureDirectories() const {
  BASTION_RETURN_IF_ERROR(MakeDirectories(root_ + "/blobs", 0755));
  return MakeDirectories(root_ + "/manifests", 0755);
}

Result<FileLock> ModelStore::Lock(std::chrono::milliseconds timeout) const {
  BASTION_RETURN_IF_ERROR(MakeDirectories(root_, 0755));
  return FileLock::Acquire(root_ + "/.lock", timeout);
}

Result<std::optional<Manifest>> ModelStore::Find(std::string_view name) const {
  if (!IsValidModelName(name)) return std::optional<Manifest>();
  const std::string path = ManifestPath(name);
  if (!FileExists(path)) return std::optional<Manifest>();
  BASTION_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxManifestBytes));
  auto m = ParseManifest(text);
  if (!m.ok()) return m.error().WithContext(path);
  if (m->name != name) return Error(path + ": holds the manifest of '" + m->name + "', not '" + std::string(name) + "'");
  return std::optional<Manifest>(std::move(m).value());
}

std::vector<Manifest> ModelStore::List(std::vector<std::string>* problems) const {
  std::vector<Manifest> out;
  std::error_code ec;
  fs::directory_iterator it(root_ + "/manifests", ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const std::string file = it->path().filename().string();
    if (file.size() <= 5 || !file.ends_with(".json")) continue;  // temporaries of WriteFileAtomic
    auto text = ReadFile(it->path().string(), kMaxManifestBytes);
    Result<Manifest> m = text.ok() ? ParseManifest(*text) : Result<Manifest>(text.error());
    if (m.ok() && EscapeModelName(m->name) + ".json" != file) {
      m = Error("holds the manifest of '" + m->name + "' under another file name");
    }
    if (!m.ok()) {
      if (problems != nullptr) problems->push_back(it->path().string() + ": " + m.error().message());
      continue;
    }
    out.push_back(std::move(m).value());
  }
  std::sort(out.begin(), out.end(), [](const Manifest& a, const Manifest& b) { return a.name < b.name; });
  return out;
}

Status ModelStore::Commit(const std::string& verified_file, const Manifest& manifest) const {
  if (!IsValidModelName(manifest.name)) return Error("invalid model name '" + manifest.name + "'");
  BASTION_ASSIGN_OR_RETURN(std::string hex, NormalizeSha256(manifest.digest));
  BASTION_RETURN_IF_ERROR(EnsureDirectories());
  BASTION_ASSIGN_OR_RETURN(FileLock lock, Lock());
  const std::string blob = BlobPath(hex);
  if (!verified_file.empty()) {
    // The same bytes may already be there (another pull won the race): keep that one.
    if (FileExists(blob)) {
      ::unlink(verified_file.c_str());
    } else {
      ::chmod(verified_file.c_str(), 0644);
      if (::rename(verified_file.c_str(), blob.c_str()) != 0) {
        return Error("moving " + verified_file + " to " + blob + ": " + Errno());
      }
    }
  }
  struct stat st {};
  if (::stat(blob.c_str(), &st) != 0) return Error("blob " + blob + " is missing: " + Errno());
  if (static_cast<uint64_t>(st.st_size) != manifest.size) {
    return Error("blob " + blob + " has " + std::to_string(st.st_size) + " bytes, the manifest says " +
                 std::to_string(manifest.size));
  }
  return WriteFileAtomic(ManifestPath(manifest.name), SerializeManifest(manifest), 0644);
}

Result<bool> ModelStore::Remove(std::string_view name) const {
  if (!IsValidModelName(name)) return false;
  const std::string path = ManifestPath(name);
  BASTION_ASSIGN_OR_RETURN(FileLock lock, Lock());
  if (!FileExists(path)) return false;
  auto text = ReadFile(path, kMaxManifestBytes);
  std::optional<Manifest> removed;
  if (text.ok()) {
    auto m = ParseManifest(*text);
    if (m.ok()) removed = std::move(m).value();
  }
  if (::unlink(path.c_str()) != 0) return Error("removing " + path + ": " + Errno());
  if (removed) {
    // Delete the blob unless another name still refers to it. A manifest we cannot parse keeps
    // nothing alive: it names no digest we could trust.
    bool referenced = false;
    for (const Manifest& m : List()) referenced = referenced || m.digest == removed->digest;
    if (!referenced) {
      const std::string blob = BlobPath(removed->DigestHex());
      if (::unlink(blob.c_str()) != 0 && errno != ENOENT) return Error("removing " + blob + ": " + Errno());
    }
  }
  return true;
}

Status ModelStore::Copy(std::string_view source, std::string_view destination) const {
  if (!IsValidModelName(destination)) {
    return Error("invalid model name '" + std::string(destination.substr(0, 64)) +
                 "': 1 to 200 printable characters without spaces");
  }
  BASTION_ASSIGN_OR_RETURN(std::optional<Manifest> m, Find(source));
  if (!m) return Error("model '" + std::string(source) + "' not found");
  m->name = std::string(destination);
  m->added = NowRfc3339();
  return Commit("", *m);
}

Result<ModelLocation> ResolveModelArgument(const std::string& state_dir, const std::string& argument) {
  std::error_code ec;
  if (fs::is_regular_file(argument, ec)) return ModelLocation{argument, "", std::nullopt};
  if (fs::exists(argument, ec)) return Error("model '" + argument + "' is not a regular file");
  ModelStore store(state_dir);
  BASTION_ASSIGN_OR_RETURN(std::optional<Manifest> m, store.Find(argument));
  const bool looks_like_path = argument.starts_with("/") || argument.starts_with("./") ||
                               argument.starts_with("../") || argument.ends_with(".gguf");
  if (!m && looks_like_path) {
    return Error("model file '" + argument + "' does not exist (nor is there a model of that name in " + store.root() + ")");
  }
  if (!m) {
    return Error("model '" + argument + "' is neither a file nor a model in " + store.root() +
                 " (`bastion list` shows the store; `bastion pull " + argument + "` adds it)");
  }
  const std::string blob = store.BlobPath(m->DigestHex());
  if (!FileExists(blob)) return Error("model '" + argument + "': its blob " + blob + " is missing; pull it again");
  return ModelLocation{blob, m->name, std::move(m)};
}

}  // namespace bastion::store
