#include "certs/cert_storage.h"

#include <dirent.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "acme/acme_client.h"
#include "base/atomic_file.h"

namespace bastion::certs {
namespace {

using Json = nlohmann::json;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Keeps [a-z0-9.-_]; anything else becomes '_'. "." and ".." (and empty) get a prefix so a
// hostile or odd name can never climb out of its parent directory.
std::string SafeName(const std::string& text) {
  std::string out;
  for (char c : Lower(text)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    out.push_back(ok ? c : '_');
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

int64_t ToUnix(TimePoint t) { return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count(); }
TimePoint FromUnix(int64_t s) { return TimePoint(std::chrono::seconds(s)); }

void PutTime(Json& j, const char* key, TimePoint t) { j[key] = FormatTime(t); }
void PutOptTime(Json& j, const char* key, const std::optional<TimePoint>& t) {
  if (t) j[key] = FormatTime(*t);
}

// Fields of unexpected type are treated as absent: meta.json is advisory, never fatal.
std::optional<TimePoint> GetTime(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return ParseTime(it->get<std::string>());
}
std::string GetString(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Status RenameDurably(const std::string& from, const std::string& to, const std::string& dir) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return Error("renaming " + from + " to " + to + ": " + std::strerror(errno));
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return OkStatus();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

std::string ResolveAcmeDirectoryUrl(const std::string& flag) {
  if (flag.empty() || flag == "production" || flag == "letsencrypt") return acme::kLetsEncryptDirectory;
  if (flag == "staging") return acme::kLetsEncryptStagingDirectory;
  return flag;
}

std::vector<std::string> NormalizeDomains(const std::vector<std::string>& domains) {
  std::vector<std::string> out;
  for (const std::string& d : domains) {
    std::string n = Lower(d);
    while (!n.empty() && (n.back() == '.' || n.back() == ' ')) n.pop_back();  // "example.com." is the same name
    while (!n.empty() && n.front() == ' ') n.erase(n.begin());
    if (!n.empty()) out.push_back(n);
  }
  // Sorted, so the set names the same directory whatever the order of --domain flags (serve's
  // config sorts them too).
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string CaDirName(const std::string& directory_url) {
  std::string rest = directory_url;
  if (auto scheme = rest.find("://"); scheme != std::string::npos) rest = rest.substr(scheme + 3);
  rest = rest.substr(0, rest.find('/'));
  if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);  // no userinfo in names
  std::replace(rest.begin(), rest.end(), ':', '-');
  return SafeName(rest);
}

std::string DomainDirName(const std::string& domain) {
  std::string d = Lower(domain);
  if (d.rfind("*.", 0) == 0) d = "wildcard_" + d.substr(1);
  return SafeName(d);
}

CertPaths CertPathsFor(const std::string& state_dir, const std::string& directory_url, const std::string& first_domain) {
  CertPaths p;
  const std::string parent = state_dir + "/certs/" + CaDirName(directory_url);
  const std::string name = DomainDirName(first_domain);
  p.dir = parent + "/" + name;
  p.cert = p.dir + "/cert.pem";
  p.key = p.dir + "/key.pem";
  p.next_key = p.dir + "/next-key.pem";
  p.meta = p.dir + "/meta.json";
  p.lock = parent + "/" + name + ".lock";
  return p;
}

std::string AccountKeyPath(const std::string& state_dir, const std::string& directory_url) {
  return state_dir + "/acme/" + CaDirName(directory_url) + "/account.key";
}

std::string ChallengeHandoffDir(const std::string& state_dir) { return state_dir + "/acme/challenges"; }

std::string FormatTime(TimePoint t) {
  const std::time_t tt = static_cast<std::time_t>(ToUnix(t));
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<TimePoint> ParseTime(const std::string& text) {
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  return FromUnix(static_cast<int64_t>(::timegm(&tm)));
}

std::string MetaToJson(const CertMeta& m) {
  Json j = Json::object();
  j["directory_url"] = m.directory_url;
  j["domains"] = m.domains;
  j["issuer"] = m.issuer;
  j["serial"] = m.serial_hex;
  PutTime(j, "not_before", m.not_before);
  PutTime(j, "not_after", m.not_after);
  PutTime(j, "issued_at", m.issued_at);
  j["ari_cert_id"] = m.ari_cert_id;
  PutOptTime(j, "next_renewal", m.next_renewal);
  PutOptTime(j, "ari_window_start", m.ari_window_start);
  PutOptTime(j, "ari_window_end", m.ari_window_end);
  j["last_error"] = m.last_error;
  PutOptTime(j, "last_error_at", m.last_error_at);
  PutOptTime(j, "next_attempt", m.next_attempt);
  j["consecutive_failures"] = m.consecutive_failures;
  return j.dump(2) + "\n";
}

Result<CertMeta> MetaFromJson(const std::string& text) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Error("meta.json is not a JSON object");
  CertMeta m;
  m.directory_url = GetString(j, "directory_url");
  if (auto it = j.find("domains"); it != j.end() && it->is_array()) {
    for (const Json& d : *it) {
      if (d.is_string()) m.domains.push_back(d.get<std::string>());
    }
  }
  m.issuer = GetString(j, "issuer");
  m.serial_hex = GetString(j, "serial");
  m.not_before = GetTime(j, "not_before").value_or(TimePoint{});
  m.not_after = GetTime(j, "not_after").value_or(TimePoint{});
  m.issued_at = GetTime(j, "issued_at").value_or(TimePoint{});
  m.ari_cert_id = GetString(j, "ari_cert_id");
  m.next_renewal = GetTime(j, "next_renewal");
  m.ari_window_start = GetTime(j, "ari_window_start");
  m.ari_window_end = GetTime(j, "ari_window_end");
  m.last_error = GetString(j, "last_error");
  m.last_error_at = GetTime(j, "last_error_at");
  m.next_attempt = GetTime(j, "next_attempt");
  if (auto it = j.find("consecutive_failures"); it != j.end() && it->is_number_integer()) {
    m.consecutive_failures = static_cast<int>(std::clamp<int64_t>(it->get<int64_t>(), 0, 1000));
  }
  return m;
}

FileSignature StatSignature(const std::string& path) {
  FileSignature s;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return s;
}

bool CoversDomains(const tls::CertifiedKey& cert, const std::vector<std::string>& domains) {
  for (const std::string& d : domains) {
    bool covered = false;
    for (const std::string& n : cert.names()) {
      if (n == d) covered = true;
      // "*.example.com" covers "a.example.com" (one label), not "example.com" or "a.b.example.com".
      if (n.size() > 2 && n.rfind("*.", 0) == 0) {
        const size_t dot = d.find('.');
        if (dot != std::string::npos && dot > 0 && d.substr(dot) == n.substr(1)) covered = true;
      }
    }
    if (!covered) return false;
  }
  return true;
}

Result<StoredCertificate> LoadCertificateFiles(const CertPaths& paths) {
  StoredCertificate s;
  s.signature = StatSignature(paths.cert);
  if (!s.signature.exists) return Error(paths.cert + ": no certificate stored");
  BASTION_ASSIGN_OR_RETURN(s.chain_pem, ReadFile(paths.cert, 1 << 20));
  // key.pem first; next-key.pem when a write was interrupted between its two renames.
  std::string first_error;
  for (const std::string& key_path : {paths.key, paths.next_key}) {
    if (!FileExists(key_path)) continue;
    auto key = ReadFile(key_path, 1 << 20);
    if (!key.ok()) {
      if (first_error.empty()) first_error = key.error().message();
      continue;
    }
    auto parsed = tls::CertifiedKey::FromPem(s.chain_pem, *key);
    if (parsed.ok()) {
      s.cert = std::move(*parsed);
      s.key_pem = std::move(*key);
      break;
    }
    if (first_error.empty()) first_error = key_path + ": " + parsed.error().message();
  }
  if (!s.cert) {
    return Error(paths.cert + ": unusable (" + (first_error.empty() ? "no key file" : first_error) + ")");
  }

  // meta.json describes this certificate only when its serial matches.
  std::optional<CertMeta> meta;
  if (FileExists(paths.meta)) {
    if (auto text = ReadFile(paths.meta, 1 << 20); text.ok()) {
      if (auto m = MetaFromJson(*text); m.ok() && m->serial_hex == s.cert->serial_hex()) meta = std::move(*m);
    }
  }
  s.meta_was_stale = !meta.has_value();
  if (!meta) {
    meta.emplace();
    meta->domains = s.cert->names();
    meta->issued_at = s.cert->not_before();
  }
  // The certificate is the truth for what it says about itself.
  meta->issuer = s.cert->issuer();
  meta->serial_hex = s.cert->serial_hex();
  meta->not_before = s.cert->not_before();
  meta->not_after = s.cert->not_after();
  s.meta = std::move(*meta);
  return s;
}

Status WriteMeta(const CertPaths& paths, const CertMeta& meta) {
  BASTION_RETURN_IF_ERROR(MakeDirectories(paths.dir, 0700));
  return WriteFileAtomic(paths.meta, MetaToJson(meta), 0600);
}

Status WriteCertificateFiles(const CertPaths& paths, const std::string& chain_pem, const std::string& key_pem,
                             const CertMeta& meta) {
  BASTION_RETURN_IF_ERROR(MakeDirectories(paths.dir, 0700));
  BASTION_RETURN_IF_ERROR(WriteFileAtomic(paths.next_key, key_pem, 0600));
  BASTION_RETURN_IF_ERROR(WriteFileAtomic(paths.cert, chain_pem, 0644));  // commit point
  BASTION_RETURN_IF_ERROR(RenameDurably(paths.next_key, paths.key, paths.dir));
  return WriteMeta(paths, meta);
}

std::vector<CertPaths> ListStoredCertificates(const std::string& state_dir) {
  std::vector<CertPaths> out;
  const std::string root = state_dir + "/certs";
  for (const std::string& ca : ListDir(root)) {
    const std::string ca_dir = root + "/" + ca;
    if (!IsDir(ca_dir)) continue;
    for (const std::string& name : ListDir(ca_dir)) {
      const std::string dir = ca_dir + "/" + name;
      if (!IsDir(dir)) continue;
      CertPaths p;
      p.dir = dir;
      p.cert = dir + "/cert.pem";
      p.key = dir + "/key.pem";
      p.next_key = dir + "/next-key.pem";
      p.meta = dir + "/meta.json";
      p.lock = ca_dir + "/" + name + ".lock";
      out.push_back(std::move(p));
    }
  }
  return out;
}

}  // namespace bastion::certs
