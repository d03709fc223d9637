// ACME HTTP-01 (RFC 8555 section 8.3) answers: GET /.well-known/acme-challenge/{token} gets the
// key authorization as text/plain. The plain-HTTP listener (port 80 with --domain) consults this
// before redirecting everything else to HTTPS.
//
// CONTRACT (shared by src/http, src/acme and the certificate lifecycle manager): thread-safe;
// the ACME client Puts a token before it tells the CA to validate and Removes it afterwards.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace bastion::http {

class AcmeHttp01Responder {
 public:
  static constexpr std::string_view kPathPrefix = "/.well-known/acme-challenge/";

  void Put(const std::string& token, const std::string& key_authorization) {
    std::lock_guard lock(mutex_);
    tokens_[token] = key_authorization;
  }
  void Remove(const std::string& token) {
    std::lock_guard lock(mutex_);
    tokens_.erase(token);
  }
  std::optional<std::string> Find(std::string_view token) const {
    std::lock_guard lock(mutex_);
    auto it = tokens_.find(token);
    if (it == tokens_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string, std::less<>> tokens_;
};

}  // namespace bastion::http
