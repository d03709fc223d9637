// API keys: the file in the state directory that `bastion keys` edits, and the loaded store that
// `bastion serve` checks each request against.
//
// A key is a random secret ("bst_" + 43 base64url characters = 256 random bits) that the client
// presents as `Authorization: Bearer <secret>` or `X-Api-Key: <secret>`. Only its SHA-256 is kept
// on disk, in <state-dir>/keys.json (mode 0600, versioned JSON):
//
//   {"version": 1, "keys": [{"name": "ci", "prefix": "bst_AbC123", "hash": "sha256:<64 hex>",
//     "scope": "inference", "created": "2026-11-26T08:51:24Z", "expires": "2027-01-01T00:00:00Z",
//     "rate": 2.5, "burst": 10, "max_concurrent": 2}]}
//
// Every change is lock, re-read, modify, write (FileLock on <state-dir>/keys.lock, then
// WriteFileAtomic), so two `bastion keys` processes never lose each other's update and a reader
// never sees a torn file. A running server notices the new file with KeyStore::ReloadIfChanged().
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace bastion::keys {

using TimePoint = std::chrono::system_clock::time_point;

// What a key may do. Admin implies inference.
enum class Scope { kInference, kAdmin };

const char* ScopeName(Scope scope);  // "inference" / "admin"
std::optional<Scope> ParseScope(std::string_view text);

// Everything about a key except its secret (and its hash): safe to show, log and hand to the
// request path.
struct KeyInfo {
  std::string name;    // unique, [A-Za-z0-9._-]{1,64}
  std::string prefix;  // "bst_" + the first 6 characters of the random part, for display
  Scope scope = Scope::kInference;
  std::optional<double> rate;          // requests per second (may be fractional), > 0
  std::optional<int64_t> burst;        // extra requests above the rate (nginx burst), >= 0
  std::optional<int64_t> max_concurrent;  // concurrent generations, >= 1
  TimePoint created{};
  std::optional<TimePoint> expires;  // the key is refused from this instant on

  bool Allows(Scope needed) const { return scope == Scope::kAdmin || needed == Scope::kInference; }
  bool ExpiredAt(TimePoint now) const { return expires.has_value() && now >= *expires; }
};

using Sha256 = std::array<uint8_t, 32>;

// One entry of the keys file.
struct StoredKey {
  KeyInfo info;
  Sha256 hash{};  // SHA-256 of the secret
};

// ---- Validation and formats (all pure; used by the CLI, the store and the fuzz target) ----

bool IsValidKeyName(std::string_view name);

// "2026-12-31" (00:00:00 UTC that day) or RFC 3339 ("2026-12-31T23:59:59Z",
// "2026-12-31T23:59:59.5+02:00", lower-case t/z accepted). Years 1970..2199
// (system_clock counts nanoseconds in 64 bits and ends in 2262).
Result<TimePoint> ParseTime(std::string_view text);
// RFC 3339 in UTC with whole seconds: "2026-12-31T23:59:59Z".
std::string FormatTime(TimePoint t);

// "2", "2.5", "2/s", "2r/s", "120r/m", "120/m" -> requests per second (> 0, finite).
Result<double> ParseRate(std::string_view text);

// The keys file. Parse rejects anything it does not fully understand (wrong version, bad name,
// duplicate name or hash, bad hash, bad time, out-of-range limit, nesting, size) with a message
// naming the key and field; it never trusts a length or a count from the file.
constexpr size_t kMaxKeysFileBytes = 4u << 20;
constexpr size_t kMaxKeys = 10000;
Result<std::vector<StoredKey>> ParseKeysFile(std::string_view text);
std::string SerializeKeysFile(const std::vector<StoredKey>& keys);

// SHA-256 of a presented secret.
Sha256 HashSecret(std::string_view secret);

// A new random secret ("bst_" + base64url of 32 bytes from the OpenSSL CSPRNG).
Result<std::string> GenerateSecret();

// The secret a client presented, from the values of its Authorization and X-Api-Key headers
// (nullptr when absent; pass http::Request::Header("authorization") etc.).
//   Authorization: Bearer <key>   scheme case-insensitive, one or more spaces/tabs before the key
//   X-Api-Key: <key>
// The key must be a token68-like string (A-Z a-z 0-9 - . _ ~ + / and trailing '='), at most
// 512 bytes. A malformed header of either kind, or both headers carrying different keys, gives
// nothing (the request is then unauthenticated: 401). An Authorization header with another
// scheme (Basic ...) is not a key and is ignored, so X-Api-Key still works behind a proxy that
// uses Basic auth for itself.
std::optional<std::string> ExtractPresentedKey(const std::string* authorization, const std::string* x_api_key);

// ---- The state directory (what `bastion keys` does) ----

std::string KeysFilePath(const std::string& state_dir);  // <state-dir>/keys.json
std::string KeysLockPath(const std::string& state_dir);  // <state-dir>/keys.lock

// What `keys create` asks for.
struct KeySpec {
  std::string name;
  Scope scope = Scope::kInference;
  std::optional<double> rate;
  std::optional<int64_t> burst;
  std::optional<int64_t> max_concurrent;
  std::optional<TimePoint> expires;
};

struct CreatedKey {
  std::string secret;  // shown once, never stored
  KeyInfo info;
};

// Validates the spec, then under the lock: reads the file (absent = no keys), refuses a name that
// exists, adds the key and writes the file (0600). Creates the state directory (0700) if needed.
Result<CreatedKey> CreateKey(const std::string& state_dir, const KeySpec& spec, TimePoint now);

// The keys in the file (empty when there is no file), in file order (creation order).
Result<std::vector<KeyInfo>> ListKeys(const std::string& state_dir);

// Removes the key called `name` under the lock. Returns false when there is no such key (the
// file is left alone).
Result<bool> RevokeKey(const std::string& state_dir, const std::string& name);

// ---- The loaded store (what `bastion serve` holds) ----

// Thread-safe: Authenticate, empty, List and ReloadIfChanged may be called from any thread at any
// time. Lookups work on an immutable snapshot; a reload swaps the snapshot pointer.
class KeyStore {
 public:
  using LogFn = std::function<void(const std::string&)>;  // one line, no newline

  // Loads <state-dir>/keys.json. A missing file is an empty store (no keys); a corrupt or
  // unreadable one is an error, so a server never starts with keys it could not read.
  // `log` receives reload errors and warnings (default: stderr, "bastion: keys: ...").
  static Result<std::unique_ptr<KeyStore>> Load(const std::string& state_dir, LogFn log = {});

  // The key whose secret this is, unless it is unknown or expired at `now`. Constant time in the
  // secret: every stored hash is compared with CRYPTO_memcmp, with no early exit.
  std::optional<KeyInfo> Authenticate(std::string_view presented_secret, TimePoint now) const;

  bool empty() const;
  size_t size() const;
  std::vector<KeyInfo> List() const;

  // Cheap (one stat) when nothing changed: call it every second or on every request. Re-reads the
  // file when its inode, size, mtime or ctime changed. A file that disappeared means no keys; a
  // corrupt or unreadable file keeps the previous keys and logs the error (once per version of the
  // file). Returns true when the keys were replaced. When another thread is already reloading it
  // returns false at once instead of waiting.
  bool ReloadIfChanged();

  // The message of the last failed (re)load, empty after a good one: for status pages.
  std::string last_error() const;

  const std::string& path() const { return path_; }

 private:
  struct Snapshot;
  struct FileSignature {
    bool exists = false;
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const FileSignature&) const = default;
  };

  KeyStore(std::string path, LogFn log);
  static Result<FileSignature> Stat(const std::string& path);
  // Reads and parses the file.
  Result<std::shared_ptr<const Snapshot>> Read() const;
  std::shared_ptr<const Snapshot> snapshot() const;

  const std::string path_;
  const LogFn log_;
  std::mutex reload_mu_;  // one reload at a time; guards signature_
  FileSignature signature_;
  mutable std::mutex mu_;  // guards snapshot_ and last_error_
  std::shared_ptr<const Snapshot> snapshot_;
  std::string last_error_;
};

}  // namespace bastion::keys
