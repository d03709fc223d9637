// Outbound HTTP for pulls, over libcurl: the settings every transfer shares (trust roots, proxy
// environment, timeouts, which schemes and addresses are allowed, redirects) and the retry policy,
// plus Fetch for the small requests (hub metadata, registry manifests, HEAD). Large files go
// through downloader.h, which uses the same settings.
//
// Proxies: libcurl's own environment handling — http_proxy, https_proxy/HTTPS_PROXY,
// all_proxy/ALL_PROXY and no_proxy/NO_PROXY (upper-case HTTP_PROXY is ignored on purpose, see
// "httpoxy"). Redirects: followed up to 10 times when asked; a redirect never goes from https to
// plain http, and libcurl drops an Authorization header when a redirect leaves the original host.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <curl/curl.h>

#include "base/result.h"
#include "net/curl_common.h"

namespace bastion::store {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct FetchOptions {
  // Trusted in addition to the system's roots (--ca-file, BASTION_CA_FILE). Null: none.
  std::shared_ptr<const net::TrustRoots> extra_roots;
  std::chrono::milliseconds connect_timeout{30000};
  // A transfer that moves less than 1 byte/s for this long is abandoned (and retried).
  std::chrono::seconds stall_timeout{60};
  // Whole-request limit for small requests (Fetch); downloads have none, only the stall timeout.
  std::chrono::milliseconds request_timeout{60000};
  // Attempts per request (a download that made progress starts its count again).
  int max_attempts = 6;
  // Backoff: a random delay in [d/2, d] with d = retry_base * 2^(attempt-1), at most retry_max;
  // a Retry-After header (seconds or HTTP date) replaces it, capped at retry_after_max.
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds retry_max{30000};
  std::chrono::milliseconds retry_after_max{120000};
  // Plain http:// URLs are refused unless this is set (a configured local hub, a digest-pinned URL).
  bool allow_plain_http = false;
  // Refuse to connect to loopback, private, link-local and other non-public addresses (checked on
  // the socket libcurl opens, so redirects and DNS answers cannot get around it). For servers
  // that pull on a client's behalf (SSRF); with a proxy it applies to the proxy's address.
  bool block_private_addresses = false;
  std::string user_agent = "bastion/0.1 (model pull)";
  const std::atomic<bool>* cancel = nullptr;  // polled during transfers and backoff sleeps
  // Told about each retry: "GET <url>: <why>; retrying in 2.0s (attempt 2 of 6)".
  std::function<void(const std::string&)> on_retry;
};

struct FetchRequest {
  std::string method = "GET";  // GET or HEAD
  std::string url;
  HeaderList headers;
  bool follow_redirects = true;
  size_t max_body_bytes = 8u << 20;
};

struct FetchResponse {
  int status = 0;
  HeaderList headers;  // of the last response (after redirects); names lower-cased
  std::string body;
  std::string effective_url;  // after redirects
  const std::string* Header(std::string_view lower_name) const;
};

// One small request with retries on connection errors, 408, 429 and 5xx. Any other HTTP status is
// a response; an Error means no usable response and says why (and after how many attempts).
Result<FetchResponse> Fetch(const FetchRequest& request, const FetchOptions& options);

// ---- Shared by Fetch and the downloader ----

// Checks the URL's scheme against the options ("https://", or "http://" when allowed).
Status CheckUrlAllowed(std::string_view url, const FetchOptions& options);

// Sets the common options on a fresh or reset handle: URL, schemes, redirects, timeouts, TLS
// verification and extra roots, user agent, no signals, address filter. `blocked` receives the
// address the filter refused (it must outlive the transfer).
void ConfigureHandle(CURL* curl, const std::string& url, bool follow_redirects, const FetchOptions& options,
                     std::string* blocked, char* error_buffer);

// Whether a status or a libcurl error is worth another attempt.
bool IsRetryableStatus(int status);
bool IsRetryableCurlCode(CURLcode code);

// Retry-After: delta-seconds or an HTTP date; nullopt when absent or unparsable.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value);

// The delay before attempt `attempt + 1` (attempt >= 1), as described in FetchOptions.
std::chrono::milliseconds BackoffDelay(int attempt, const FetchOptions& options,
                                       std::optional<std::chrono::milliseconds> retry_after);

// Sleeps, waking early when options.cancel is set; false when cancelled.
bool SleepUnlessCancelled(std::chrono::milliseconds delay, const FetchOptions& options);

// Whether an address (numeric IPv4 or IPv6 text) is loopback, private, link-local, CGNAT,
// multicast, unspecified or otherwise not a public unicast address.
bool IsNonPublicAddress(std::string_view numeric_address);

}  // namespace bastion::store
