#include "certs/challenge_handoff.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "base/log.h"

namespace bastion::certs {
namespace {

using Json = nlohmann::json;

constexpr const char* kLockName = "/.responder.lock";
// A challenge file this old belongs to a renew command that died; CAs give up long before.
constexpr auto kStaleAge = std::chrono::hours(1);

// Tokens are base64url (RFC 8555 section 8.1); anything else is not ours and is ignored, which
// also keeps file names harmless.
bool ValidToken(const std::string& token) {
  if (token.empty() || token.size() > 256) return false;
  for (char c : token) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::optional<acme::ChallengeType> ParseType(const std::string& name) {
  if (name == "http-01") return acme::ChallengeType::kHttp01;
  if (name == "tls-alpn-01") return acme::ChallengeType::kTlsAlpn01;
  return std::nullopt;
}

std::string TypeName(acme::ChallengeType type) {
  return type == acme::ChallengeType::kHttp01 ? "http-01" : "tls-alpn-01";
}

std::string Stem(acme::ChallengeType type, const std::string& token) { return TypeName(type) + "-" + token; }

}  // namespace

bool ServerIsRunning(const std::string& handoff_dir) {
  const std::string lock_path = handoff_dir + kLockName;
  if (!FileExists(lock_path)) return false;
  // Taking the lock succeeds only when nobody holds it; release it at once.
  auto lock = FileLock::Acquire(lock_path, std::chrono::milliseconds(0));
  return !lock.ok();
}

FileChallengeSolver::FileChallengeSolver(std::string handoff_dir, std::chrono::milliseconds ack_timeout)
    : dir_(std::move(handoff_dir)), ack_timeout_(ack_timeout) {}

std::vector<acme::ChallengeType> FileChallengeSolver::Supported() const {
  // The server decides what it can answer; an unsupported type comes back as an error ack and
  // the ACME client moves on to the next type.
  return {acme::ChallengeType::kHttp01, acme::ChallengeType::kTlsAlpn01};
}

Status FileChallengeSolver::Present(acme::ChallengeType type, const std::string& domain, const std::string& token,
                                    const std::string& key_authorization) {
  if (!ValidToken(token)) return Error("challenge token '" + token + "' is not base64url");
  BASTION_RETURN_IF_ERROR(MakeDirectories(dir_, 0700));
  const std::string base = dir_ + "/" + Stem(type, token);
  ::unlink((base + ".ack").c_str());  // a leftover from an earlier try must not count
  Json j = {{"type", TypeName(type)}, {"domain", domain}, {"token", token}, {"key_authorization", key_authorization}};
  BASTION_RETURN_IF_ERROR(WriteFileAtomic(base + ".json", j.dump() + "\n", 0600));
  const auto deadline = std::chrono::steady_clock::now() + ack_timeout_;
  while (std::chrono::steady_clock::now() < deadline) {
    if (FileExists(base + ".ack")) {
      auto ack = ReadFile(base + ".ack", 4096);
      if (ack.ok() && ack->rfind("ok", 0) == 0) return OkStatus();
      if (ack.ok() && !ack->empty()) {
        std::string why = *ack;
        while (!why.empty() && why.back() == '\n') why.pop_back();
        return Error("the running server cannot answer " + TypeName(type) + " for " + domain + ": " + why);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Error("no running bastion server answered the " + TypeName(type) + " challenge handoff in " + dir_ +
               " within " + std::to_string(ack_timeout_.count()) + " ms");
}

void FileChallengeSolver::CleanUp(acme::ChallengeType type, const std::string& /*domain*/, const std::string& token) {
  if (!ValidToken(token)) return;
  const std::string base = dir_ + "/" + Stem(type, token);
  ::unlink((base + ".json").c_str());
  ::unlink((base + ".ack").c_str());
}

ChallengeHandoffResponder::ChallengeHandoffResponder(std::string handoff_dir, acme::ChallengeSolver& solver)
    : dir_(std::move(handoff_dir)), solver_(solver) {}

ChallengeHandoffResponder::~ChallengeHandoffResponder() { Stop(); }

Status ChallengeHandoffResponder::Start(std::chrono::milliseconds interval) {
  BASTION_RETURN_IF_ERROR(MakeDirectories(dir_, 0700));
  // Another server on the same directory may hold it: then both poll (presenting a challenge
  // twice is harmless), and ServerIsRunning is true either way.
  if (auto lock = FileLock::Acquire(dir_ + kLockName, std::chrono::milliseconds(0)); lock.ok()) {
    lock_.emplace(std::move(*lock));
  }
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = false;
  }
  thread_ = std::thread([this, interval] {
    std::unique_lock lock(stop_mutex_);
    while (!stopping_) {
      lock.unlock();
      PollOnce();
      lock.lock();
      stop_cv_.wait_for(lock, interval, [this] { return stopping_; });
    }
  });
  return OkStatus();
}

void ChallengeHandoffResponder::Stop() {
  {
    std::lock_guard lock(stop_mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  for (const auto& [stem, p] : presented_) {
    solver_.CleanUp(p.type, p.domain, p.token);
    ::unlink((dir_ + "/" + stem + ".ack").c_str());
  }
  presented_.clear();
  lock_.reset();
}

size_t ChallengeHandoffResponder::presented_count() const {
  std::lock_guard lock(mutex_);
  return presented_.size();
}

void ChallengeHandoffResponder::PollOnce() {
  std::lock_guard lock(mutex_);
  std::set<std::string> seen;
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.size() <= 5 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
      seen.insert(name.substr(0, name.size() - 5));
    }
    ::closedir(d);
  }
  // Withdrawn (or stale) challenges first.
  for (auto it = presented_.begin(); it != presented_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    solver_.CleanUp(it->second.type, it->second.domain, it->second.token);
    ::unlink((dir_ + "/" + it->first + ".ack").c_str());
    it = presented_.erase(it);
  }
  for (const std::string& stem : seen) {
    if (presented_.count(stem)) continue;
    const std::string path = dir_ + "/" + stem + ".json";
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) continue;
    if (std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime) > kStaleAge) continue;
    if (FileExists(dir_ + "/" + stem + ".ack")) continue;  // answered by another server on this directory
    auto text = ReadFile(path, 64 * 1024);
    if (!text.ok()) continue;
    const Json j = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) continue;
    auto str = [&j](const char* key) {
      auto it = j.find(key);
      return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    const auto type = ParseType(str("type"));
    const std::string domain = str("domain"), token = str("token"), key_auth = str("key_authorization");
    if (!type || !ValidToken(token) || domain.empty() || key_auth.empty() || stem != Stem(*type, token)) continue;
    Status st_present = solver_.Present(*type, domain, token, key_auth);
    const std::string ack = st_present.ok() ? "ok\n" : "error: " + st_present.error().message() + "\n";
    if (st_present.ok()) presented_[stem] = Presented{*type, domain, token};
    if (Status w = WriteFileAtomic(dir_ + "/" + stem + ".ack", ack, 0600); !w.ok()) {
      log::Err("certs", "challenge handoff: " + w.error().message());
    }
  }
}

}  // namespace bastion::certs
