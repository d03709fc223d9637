#include "keys/key_store.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "base/atomic_file.h"
#include "base/json_depth.h"
#include "base/log.h"

namespace bastion::keys {
namespace {

constexpr std::string_view kSecretPrefix = "bst_";
constexpr size_t kSecretRandomBytes = 32;
constexpr size_t kDisplayChars = 6;  // random characters shown after "bst_" in listings
constexpr size_t kMaxPresentedKeyBytes = 512;
constexpr int kFileVersion = 1;
constexpr int kMaxJsonDepth = 8;  // the format needs 3 ({ "keys": [ { ... } ] })
constexpr double kMaxRate = 1e6;
constexpr int64_t kMaxBurst = 1'000'000'000;
constexpr int64_t kMaxConcurrent = 1'000'000;
constexpr std::chrono::milliseconds kLockTimeout{10000};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsOws(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
  return s;
}

// Quotes untrusted text for an error message: printable ASCII only, bounded length, so a hostile
// file cannot put control characters or megabytes into a log line.
std::string Quote(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

std::string Base64Url(const uint8_t* data, size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (n - i == 1) {
    const uint32_t v = uint32_t{data[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string HashToText(const Sha256& h) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (const uint8_t b : h) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

std::optional<Sha256> HashFromText(std::string_view text) {
  constexpr std::string_view kTag = "sha256:";
  if (text.size() != kTag.size() + 64 || text.substr(0, kTag.size()) != kTag) return std::nullopt;
  text.remove_prefix(kTag.size());
  Sha256 out{};
  for (size_t i = 0; i < out.size(); ++i) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      const char c = text[2 * i + static_cast<size_t>(k)];
      int d;
      if (IsDigit(c)) {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else {
        return std::nullopt;  // lower-case only: that is what SerializeKeysFile writes
      }
      v = v * 16 + d;
    }
    out[i] = static_cast<uint8_t>(v);
  }
  return out;
}

bool IsValidPrefix(std::string_view p) {
  if (p.empty() || p.size() > 32) return false;
  for (const char c : p) {
    if (!IsAlnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

// Parses exactly `n` digits at `s[pos]`.
std::optional<int> Digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!IsDigit(s[i])) return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}


using Json = nlohmann::json;

Result<int64_t> GetInt(const Json& j, const char* field, int64_t min, int64_t max) {
  int64_t v;
  if (j.is_number_unsigned()) {
    const uint64_t u = j.get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return Error(std::string(field) + ": " + std::to_string(u) + " is larger than " + std::to_string(max));
    v = static_cast<int64_t>(u);
  } else if (j.is_number_integer()) {
    v = j.get<int64_t>();
  } else {
    return Error(std::string(field) + ": expected an integer, found " + j.type_name());
  }
  if (v < min || v > max) {
    return Error(std::string(field) + ": " + std::to_string(v) + " is outside " + std::to_string(min) + ".." + std::to_string(max));
  }
  return v;
}

Result<std::string> GetString(const Json& obj, const char* field) {
  const auto it = obj.find(field);
  if (it == obj.end()) return Error(std::string("missing \"") + field + "\"");
  if (!it->is_string()) return Error(std::string(field) + ": expected a string, found " + it->type_name());
  return it->get<std::string>();
}

// The value of an optional field, or nullptr when absent or null.
const Json* Optional(const Json& obj, const char* field) {
  const auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<StoredKey> KeyFromJson(const Json& j) {
  if (!j.is_object()) return Error(std::string("expected an object, found ") + j.type_name());
  StoredKey k;
  BASTION_ASSIGN_OR_RETURN(k.info.name, GetString(j, "name"));
  if (!IsValidKeyName(k.info.name)) return Error("name " + Quote(k.info.name) + " is not 1..64 of A-Z a-z 0-9 . _ -");
  const auto in_key = [&](const Error& e) { return e.WithContext("key " + Quote(k.info.name)); };

  auto prefix = GetString(j, "prefix");
  if (!prefix.ok()) return in_key(prefix.error());
  if (!IsValidPrefix(*prefix)) return in_key(Error("prefix " + Quote(*prefix) + " is not 1..32 of A-Z a-z 0-9 . _ -"));
  k.info.prefix = *prefix;

  auto hash = GetString(j, "hash");
  if (!hash.ok()) return in_key(hash.error());
  const auto h = HashFromText(*hash);
  if (!h) return in_key(Error("hash: expected \"sha256:\" and 64 lower-case hex digits, found " + Quote(*hash)));
  k.hash = *h;

  auto scope = GetString(j, "scope");
  if (!scope.ok()) return in_key(scope.error());
  const auto s = ParseScope(*scope);
  if (!s) return in_key(Error("scope: expected \"inference\" or \"admin\", found " + Quote(*scope)));
  k.info.scope = *s;

  auto created = GetString(j, "created");
  if (!created.ok()) return in_key(created.error());
  auto created_t = ParseTime(*created);
  if (!created_t.ok()) return in_key(created_t.error().WithContext("created"));
  k.info.created = *created_t;

  if (const Json* e = Optional(j, "expires")) {
    if (!e->is_string()) return in_key(Error(std::string("expires: expected a string, found ") + e->type_name()));
    auto t = ParseTime(e->get_ref<const std::string&>());
    if (!t.ok()) return in_key(t.error().WithContext("expires"));
    k.info.expires = *t;
  }
  if (const Json* r = Optional(j, "rate")) {
    if (!r->is_number()) return in_key(Error(std::string("rate: expected a number, found ") + r->type_name()));
    const double v = r->get<double>();
    if (!(v > 0 && v <= kMaxRate)) return in_key(Error("rate: " + r->dump() + " is not in (0, 1e6] requests/s"));
    k.info.rate = v;
  }
  if (const Json* b = Optional(j, "burst")) {
    auto v = GetInt(*b, "burst", 0, kMaxBurst);
    if (!v.ok()) return in_key(v.error());
    k.info.burst = *v;
  }
  if (const Json* m = Optional(j, "max_concurrent")) {
    auto v = GetInt(*m, "max_concurrent", 1, kMaxConcurrent);
    if (!v.ok()) return in_key(v.error());
    k.info.max_concurrent = *v;
  }
  return k;
}

Result<bool> StatExists(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return Error("cannot stat " + path + ": " + std::strerror(errno));
}

// The keys in the file; no file = no keys.
Result<std::vector<StoredKey>> ReadKeysFile(const std::string& path) {
  BASTION_ASSIGN_OR_RETURN(const bool exists, StatExists(path));
  if (!exists) return std::vector<StoredKey>{};
  BASTION_ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxKeysFileBytes));
  auto keys = ParseKeysFile(text);
  if (!keys.ok()) return keys.error().WithContext(path);
  return keys;
}

void DefaultLog(const std::string& line) { log::Warn("keys", line); }

}  // namespace

const char* ScopeName(Scope scope) { return scope == Scope::kAdmin ? "admin" : "inference"; }

std::optional<Scope> ParseScope(std::string_view text) {
  if (text == "inference") return Scope::kInference;
  if (text == "admin") return Scope::kAdmin;
  return std::nullopt;
}

bool IsValidKeyName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    if (!IsAlnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

Result<TimePoint> ParseTime(std::string_view text) {
  using namespace std::chrono;
  const auto bad = [&](const std::string& why) {
    return Error("time " + Quote(text) + ": " + why + " (expected YYYY-MM-DD or RFC 3339, e.g. 2027-01-31T12:00:00Z)");
  };
  const auto y = Digits(text, 0, 4), mo = Digits(text, 5, 2), d = Digits(text, 8, 2);
  if (!y || !mo || !d || text[4] != '-' || text[7] != '-') return bad("bad date");
  if (*y < 1970 || *y >= 2200) return bad("year outside 1970..2199");
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return bad("no such date");
  // Arithmetic in seconds: system_clock counts nanoseconds in 64 bits, which ends in 2262, so
  // the range is checked before converting.
  sys_seconds t = sys_days(ymd);
  if (text.size() == 10) return TimePoint(t);

  const char sep = text[10];
  if (sep != 'T' && sep != 't' && sep != ' ') return bad("expected 'T' after the date");
  const auto hh = Digits(text, 11, 2), mm = Digits(text, 14, 2), ss = Digits(text, 17, 2);
  if (!hh || !mm || !ss || text[13] != ':' || text[16] != ':') return bad("bad time of day");
  if (*hh > 23 || *mm > 59 || *ss > 59) return bad("time of day out of range");
  t += hours(*hh) + minutes(*mm) + seconds(*ss);
  size_t pos = 19;
  if (pos < text.size() && text[pos] == '.') {
    // Fractions of a second are accepted and dropped: expiry is kept to the second.
    ++pos;
    const size_t start = pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    if (pos == start) return bad("no digits after '.'");
  }
  if (pos >= text.size()) return bad("missing time zone ('Z' or +hh:mm)");
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    const int sign = text[pos] == '+' ? 1 : -1;
    const auto oh = Digits(text, pos + 1, 2), om = Digits(text, pos + 4, 2);
    if (!oh || !om || text[pos + 3] != ':') return bad("bad time zone offset");
    if (*oh > 23 || *om > 59) return bad("time zone offset out of range");
    // 12:00+02:00 is 10:00Z.
    t -= sign * (hours(*oh) + minutes(*om));
    pos += 6;
  } else {
    return bad("bad time zone");
  }
  if (pos != text.size()) return bad("unexpected text after the time");
  // An offset can move the instant out of the years FormatTime writes and this function reads.
  if (t < sys_days(year{1970} / 1 / 1) || t >= sys_days(year{2200} / 1 / 1)) return bad("outside the years 1970..2199 in UTC");
  return TimePoint(t);
}

std::string FormatTime(TimePoint t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto day_start = floor<days>(secs);
  const year_month_day ymd{day_start};
  const hh_mm_ss hms{secs - day_start};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return buf;
}

Result<double> ParseRate(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return Error("rate " + Quote(text) + ": " + why + " (expected e.g. 5, 0.5, 5/s, 5r/s or 30r/m)");
  };
  std::string_view number = text;
  double per = 1.0;
  if (const size_t slash = text.find('/'); slash != std::string_view::npos) {
    const std::string_view unit = text.substr(slash + 1);
    if (unit == "s") {
      per = 1.0;
    } else if (unit == "m") {
      per = 60.0;
    } else {
      return bad("unit must be /s or /m");
    }
    number = text.substr(0, slash);
    if (!number.empty() && number.back() == 'r') number.remove_suffix(1);
  }
  if (number.empty()) return bad("no number");
  // from_chars alone: no locale, no leading '+'/spaces, no hex or "inf".
  for (const char c : number) {
    if (!IsDigit(c) && c != '.') return bad("not a plain decimal number");
  }
  double v = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
  if (ec != std::errc() || end != number.data() + number.size()) return bad("not a number");
  v /= per;
  if (!(v > 0) || !std::isfinite(v)) return bad("must be greater than 0");
  if (v > kMaxRate) return bad("larger than 1e6 requests/s");
  return v;
}

Result<std::vector<StoredKey>> ParseKeysFile(std::string_view text) {
  if (text.size() > kMaxKeysFileBytes) return Error("keys file larger than " + std::to_string(kMaxKeysFileBytes) + " bytes");
  if (JsonNestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth) return Error("keys file nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  Json doc;
  try {
    doc = Json::parse(text);
  } catch (const Json::exception& e) {
    return Error(std::string("keys file is not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) return Error(std::string("keys file: expected a JSON object, found ") + doc.type_name());
  const auto version = doc.find("version");
  if (version == doc.end()) return Error("keys file: missing \"version\"");
  auto v = GetInt(*version, "version", 0, 1'000'000);
  if (!v.ok()) return v.error().WithContext("keys file");
  if (*v != kFileVersion) {
    return Error("keys file: version " + std::to_string(*v) + " is not supported (this bastion reads version " +
                 std::to_string(kFileVersion) + ")");
  }
  const auto list = doc.find("keys");
  if (list == doc.end()) return Error("keys file: missing \"keys\"");
  if (!list->is_array()) return Error(std::string("keys file: \"keys\": expected an array, found ") + list->type_name());
  if (list->size() > kMaxKeys) return Error("keys file: more than " + std::to_string(kMaxKeys) + " keys");

  std::vector<StoredKey> keys;
  keys.reserve(list->size());
  std::unordered_set<std::string> names;
  std::unordered_set<std::string> hashes;
  for (size_t i = 0; i < list->size(); ++i) {
    auto k = KeyFromJson((*list)[i]);
    if (!k.ok()) return k.error().WithContext("keys file: keys[" + std::to_string(i) + "]");
    if (!names.insert(k->info.name).second) return Error("keys file: two keys named " + Quote(k->info.name));
    // Two entries with one secret would make the key ambiguous (which scope, which limits?).
    if (!hashes.insert(std::string(k->hash.begin(), k->hash.end())).second) {
      return Error("keys file: key " + Quote(k->info.name) + " has the same hash as another key");
    }
    keys.push_back(std::move(*k));
  }
  return keys;
}

std::string SerializeKeysFile(const std::vector<StoredKey>& keys) {
  // ordered_json keeps the fields in this order, which reads better than alphabetical.
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const StoredKey& k : keys) {
    nlohmann::ordered_json j;
    j["name"] = k.info.name;
    j["prefix"] = k.info.prefix;
    j["hash"] = HashToText(k.hash);
    j["scope"] = ScopeName(k.info.scope);
    j["created"] = FormatTime(k.info.created);
    if (k.info.expires) j["expires"] = FormatTime(*k.info.expires);
    if (k.info.rate) j["rate"] = *k.info.rate;
    if (k.info.burst) j["burst"] = *k.info.burst;
    if (k.info.max_concurrent) j["max_concurrent"] = *k.info.max_concurrent;
    list.push_back(std::move(j));
  }
  nlohmann::ordered_json doc;
  doc["version"] = kFileVersion;
  doc["keys"] = std::move(list);
  return doc.dump(2) + "\n";
}

// Why plain SHA-256 and not a password KDF (bcrypt, Argon2): the secrets are 256 random bits from
// the CSPRNG, not something a person chose. A KDF's cost only helps against guessing low-entropy
// passwords; nobody can enumerate 2^256 candidates at any speed, so a fast hash loses nothing and
// keeps every request's check at microseconds (a KDF would make each request cost milliseconds of
// CPU, which is itself a denial-of-service lever).
Sha256 HashSecret(std::string_view secret) {
  Sha256 out{};
  ::SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), out.data());
  return out;
}

Result<std::string> GenerateSecret() {
  uint8_t bytes[kSecretRandomBytes];
  if (::RAND_bytes(bytes, sizeof bytes) != 1) {
    char buf[256];
    ::ERR_error_string_n(::ERR_get_error(), buf, sizeof buf);
    return Error(std::string("cannot get random bytes for a key: ") + buf);
  }
  std::string secret = std::string(kSecretPrefix) + Base64Url(bytes, sizeof bytes);
  ::OPENSSL_cleanse(bytes, sizeof bytes);
  return secret;
}

namespace {

enum class HeaderKey { kAbsent, kKey, kMalformed };

// token68 (RFC 9110 section 11.2), the syntax of a Bearer credential (RFC 6750 section 2.1).
bool IsToken68(std::string_view s) {
  if (s.empty() || s.size() > kMaxPresentedKeyBytes) return false;
  size_t i = 0;
  while (i < s.size() && (IsAlnum(s[i]) || s[i] == '-' || s[i] == '.' || s[i] == '_' || s[i] == '~' || s[i] == '+' || s[i] == '/')) ++i;
  if (i == 0) return false;
  while (i < s.size() && s[i] == '=') ++i;
  return i == s.size();
}

HeaderKey FromAuthorization(std::string_view value, std::string* key) {
  value = TrimOws(value);
  size_t sp = 0;
  while (sp < value.size() && !IsOws(value[sp])) ++sp;
  const std::string_view scheme = value.substr(0, sp);
  bool bearer = scheme.size() == 6;
  for (size_t i = 0; bearer && i < 6; ++i) bearer = Lower(scheme[i]) == "bearer"[i];
  if (!bearer) return HeaderKey::kAbsent;  // another scheme (Basic ...) is not an API key
  const std::string_view token = TrimOws(value.substr(sp));
  if (!IsToken68(token)) return HeaderKey::kMalformed;
  *key = std::string(token);
  return HeaderKey::kKey;
}

}  // namespace

std::optional<std::string> ExtractPresentedKey(const std::string* authorization, const std::string* x_api_key) {
  std::string from_auth, from_header;
  const HeaderKey a = authorization != nullptr ? FromAuthorization(*authorization, &from_auth) : HeaderKey::kAbsent;
  HeaderKey x = HeaderKey::kAbsent;
  if (x_api_key != nullptr) {
    const std::string_view v = TrimOws(*x_api_key);
    if (IsToken68(v)) {
      from_header = std::string(v);
      x = HeaderKey::kKey;
    } else {
      x = HeaderKey::kMalformed;
    }
  }
  if (a == HeaderKey::kMalformed || x == HeaderKey::kMalformed) return std::nullopt;
  if (a == HeaderKey::kKey && x == HeaderKey::kKey) {
    // Two different keys in one request: refusing beats guessing which one the client meant.
    if (from_auth != from_header) return std::nullopt;
    return from_auth;
  }
  if (a == HeaderKey::kKey) return from_auth;
  if (x == HeaderKey::kKey) return from_header;
  return std::nullopt;
}

std::string KeysFilePath(const std::string& state_dir) { return state_dir + "/keys.json"; }
std::string KeysLockPath(const std::string& state_dir) { return state_dir + "/keys.lock"; }

Result<CreatedKey> CreateKey(const std::string& state_dir, const KeySpec& spec, TimePoint now) {
  if (!IsValidKeyName(spec.name)) return Error("key name " + Quote(spec.name) + " must be 1..64 of A-Z a-z 0-9 . _ -");
  if (spec.rate && !(*spec.rate > 0 && *spec.rate <= kMaxRate)) return Error("rate must be in (0, 1e6] requests/s");
  if (spec.burst && !spec.rate) return Error("a burst needs a rate (--rate)");
  if (spec.burst && (*spec.burst < 0 || *spec.burst > kMaxBurst)) return Error("burst must be in 0.." + std::to_string(kMaxBurst));
  if (spec.max_concurrent && (*spec.max_concurrent < 1 || *spec.max_concurrent > kMaxConcurrent)) {
    return Error("max concurrent generations must be in 1.." + std::to_string(kMaxConcurrent));
  }
  if (spec.expires && *spec.expires <= now) return Error("expiry " + FormatTime(*spec.expires) + " is not in the future");

  BASTION_RETURN_IF_ERROR(MakeDirectories(state_dir, 0700));
  // Lock, re-read, modify, write: a concurrent `keys create` or `revoke` waits here, then sees
  // this one's result, so neither update is lost.
  BASTION_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(KeysLockPath(state_dir), kLockTimeout));
  const std::string path = KeysFilePath(state_dir);
  BASTION_ASSIGN_OR_RETURN(std::vector<StoredKey> keys, ReadKeysFile(path));
  for (const StoredKey& k : keys) {
    if (k.info.name == spec.name) return Error("a key named " + Quote(spec.name) + " already exists (revoke it first)");
  }
  if (keys.size() >= kMaxKeys) return Error("the keys file already holds " + std::to_string(kMaxKeys) + " keys");

  BASTION_ASSIGN_OR_RETURN(std::string secret, GenerateSecret());
  StoredKey k;
  k.info.name = spec.name;
  k.info.prefix = secret.substr(0, kSecretPrefix.size() + kDisplayChars);
  k.info.scope = spec.scope;
  k.info.rate = spec.rate;
  k.info.burst = spec.burst;
  k.info.max_concurrent = spec.max_concurrent;
  k.info.created = std::chrono::floor<std::chrono::seconds>(now);
  if (spec.expires) k.info.expires = std::chrono::floor<std::chrono::seconds>(*spec.expires);
  k.hash = HashSecret(secret);
  keys.push_back(k);
  BASTION_RETURN_IF_ERROR(WriteFileAtomic(path, SerializeKeysFile(keys), 0600));
  return CreatedKey{std::move(secret), std::move(k.info)};
}

Result<std::vector<KeyInfo>> ListKeys(const std::string& state_dir) {
  // No lock: WriteFileAtomic's rename means a reader sees the old file or the new one.
  BASTION_ASSIGN_OR_RETURN(std::vector<StoredKey> keys, ReadKeysFile(KeysFilePath(state_dir)));
  std::vector<KeyInfo> out;
  out.reserve(keys.size());
  for (StoredKey& k : keys) out.push_back(std::move(k.info));
  return out;
}

Result<bool> RevokeKey(const std::string& state_dir, const std::string& name) {
  const std::string path = KeysFilePath(state_dir);
  BASTION_ASSIGN_OR_RETURN(const bool exists, StatExists(path));
  if (!exists) return false;  // no file, no key; and no lock file created in a stray directory
  BASTION_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(KeysLockPath(state_dir), kLockTimeout));
  BASTION_ASSIGN_OR_RETURN(std::vector<StoredKey> keys, ReadKeysFile(path));
  const size_t before = keys.size();
  std::erase_if(keys, [&](const StoredKey& k) { return k.info.name == name; });
  if (keys.size() == before) return false;
  BASTION_RETURN_IF_ERROR(WriteFileAtomic(path, SerializeKeysFile(keys), 0600));
  return true;
}

// ---- KeyStore ----

struct KeyStore::Snapshot {
  std::vector<StoredKey> keys;
};

KeyStore::KeyStore(std::string path, LogFn log)
    : path_(std::move(path)), log_(log ? std::move(log) : LogFn(DefaultLog)) {}

Result<KeyStore::FileSignature> KeyStore::Stat(const std::string& path) {
  FileSignature sig;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return sig;  // exists = false
    return Error("cannot stat " + path + ": " + std::strerror(errno));
  }
  sig.exists = true;
  sig.dev = st.st_dev;
  sig.ino = st.st_ino;
  sig.size = st.st_size;
  sig.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  sig.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
  return sig;
}

Result<std::shared_ptr<const KeyStore::Snapshot>> KeyStore::Read() const {
  BASTION_ASSIGN_OR_RETURN(std::string text, ReadFile(path_, kMaxKeysFileBytes));
  auto keys = ParseKeysFile(text);
  if (!keys.ok()) return keys.error().WithContext(path_);
  auto snap = std::make_shared<Snapshot>();
  snap->keys = std::move(*keys);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

Result<std::unique_ptr<KeyStore>> KeyStore::Load(const std::string& state_dir, LogFn log) {
  std::unique_ptr<KeyStore> store(new KeyStore(KeysFilePath(state_dir), std::move(log)));
  // The signature is taken before the read: if the file changes in between, the next
  // ReloadIfChanged sees a different signature and reads it again (never the reverse).
  BASTION_ASSIGN_OR_RETURN(const FileSignature sig, Stat(store->path_));
  store->signature_ = sig;
  if (!sig.exists) {
    store->snapshot_ = std::make_shared<const Snapshot>();
    return store;
  }
  BASTION_ASSIGN_OR_RETURN(store->snapshot_, store->Read());
  // Only hashes are in the file, but anyone who can write it can add a key of their own.
  struct stat st;
  if (::stat(store->path_.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    store->log_(store->path_ + " has mode " + mode + "; it should be 0600 (chmod 600 " + store->path_ + ")");
  }
  return store;
}

std::shared_ptr<const KeyStore::Snapshot> KeyStore::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

std::optional<KeyInfo> KeyStore::Authenticate(std::string_view presented_secret, TimePoint now) const {
  const std::shared_ptr<const Snapshot> snap = snapshot();
  const Sha256 h = HashSecret(presented_secret);
  // Every stored hash is compared, each with CRYPTO_memcmp and without stopping at a match, so the
  // time taken says nothing about how much of which hash matched.
  const StoredKey* found = nullptr;
  for (const StoredKey& k : snap->keys) {
    const bool match = ::CRYPTO_memcmp(k.hash.data(), h.data(), h.size()) == 0;
    if (match && found == nullptr) found = &k;
  }
  if (found == nullptr || found->info.ExpiredAt(now)) return std::nullopt;
  return found->info;
}

bool KeyStore::empty() const { return snapshot()->keys.empty(); }
size_t KeyStore::size() const { return snapshot()->keys.size(); }

std::vector<KeyInfo> KeyStore::List() const {
  const std::shared_ptr<const Snapshot> snap = snapshot();
  std::vector<KeyInfo> out;
  out.reserve(snap->keys.size());
  for (const StoredKey& k : snap->keys) out.push_back(k.info);
  return out;
}

std::string KeyStore::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

bool KeyStore::ReloadIfChanged() {
  std::unique_lock<std::mutex> reload(reload_mu_, std::try_to_lock);
  if (!reload.owns_lock()) return false;
  // Logs a failure once, not on every poll while the same problem lasts.
  const auto fail = [&](const std::string& message) {
    bool changed;
    size_t kept;
    {
      std::lock_guard<std::mutex> lock(mu_);
      changed = last_error_ != message;
      last_error_ = message;
      kept = snapshot_->keys.size();
    }
    if (changed) log_(message + "; keeping the previous " + std::to_string(kept) + " key(s)");
  };
  auto sig = Stat(path_);
  if (!sig.ok()) {
    fail(sig.error().message());
    return false;
  }
  if (*sig == signature_) return false;
  signature_ = *sig;
  std::shared_ptr<const Snapshot> next;
  if (!sig->exists) {
    next = std::make_shared<const Snapshot>();
  } else {
    auto read = Read();
    if (!read.ok()) {
      fail(read.error().message());
      return false;
    }
    next = std::move(*read);
  }
  const size_t n = next->keys.size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_ = std::move(next);
    last_error_.clear();
  }
  log_(sig->exists ? "reloaded " + path_ + ": " + std::to_string(n) + " key(s)" : path_ + " was removed: no keys");
  return true;
}

}  // namespace bastion::keys
