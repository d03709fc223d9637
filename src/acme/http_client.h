// A small blocking HTTP client over libcurl for talking to ACME CAs: GET/HEAD/POST with headers
// and a body, response headers kept, bounded response size, per-request timeouts, and an extra
// trust root for private CAs (Pebble) on top of the system's. Only https:// URLs are accepted,
// except plain http:// to a loopback address, which test CAs (a mock directory) use.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace bastion::acme {

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
  std::string body;

  // First header with this lower-case name, or nullptr.
  const std::string* Header(std::string_view lower_name) const;
};

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD or POST
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{30000};
  // Polled while the transfer runs; set aborts it.
  const std::atomic<bool>* cancel = nullptr;
};

struct HttpClientOptions {
  // PEM file with extra trust roots, added to the system's store (not replacing it). Empty: none.
  std::string extra_root_file;
  size_t max_response_bytes = 1u << 20;  // ACME replies are small; a certificate chain < 64 KiB
  std::string user_agent = "bastion-acme/0.1";
};

// Whether `url` is one this client may fetch: https://..., or http:// to 127.0.0.1 / [::1] /
// localhost. Exposed for tests and for validating user configuration early.
bool IsAllowedUrl(std::string_view url);

class HttpClient {
 public:
  static Result<std::unique_ptr<HttpClient>> Create(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any HTTP status is a response; an Error means no response (connection refused, TLS failure,
  // timeout, too large, cancelled) and says which. Not thread-safe: one request at a time.
  Result<HttpResponse> Send(const HttpRequest& request);

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bastion::acme
