#include "store/http_fetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>

#include "net/curl_common.h"
namespace bastion::store {
namespace {

constexpr long kMaxRedirects = 10;
constexpr size_t kMaxHeaders = 200;

// Refuses sockets to non-public addresses (FetchOptions::block_private_addresses).
curl_socket_t OpenSocketChecked(void* user, curlsocktype, curl_sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (address->family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&address->addr)->sin_addr, text, sizeof text);
  } else if (address->family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&address->addr)->sin6_addr, text, sizeof text);
  }
  if (text[0] == '\0' || IsNonPublicAddress(text)) {
    *static_cast<std::string*>(user) = text[0] == '\0' ? "(non-IP address)" : text;
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype, address->protocol);
}

struct SmallTransfer {
  FetchResponse* response;
  size_t max_bytes;
  bool too_large = false;
  const std::atomic<bool>* cancel;
};

size_t OnSmallBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<SmallTransfer*>(user);
  const size_t n = size * count;
  if (t->response->body.size() + n > t->max_bytes) {
    t->too_large = true;
    return 0;
  }
  t->response->body.append(data, n);
  return n;
}

size_t OnSmallHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<SmallTransfer*>(user);
  const size_t n = size * count;
  const std::string_view line(data, n);
  net::HeaderLine h = net::ParseHeaderLine(line);
  if (h.status_line) {  // a new response (a redirect's target, or after 100)
    t->response->headers.clear();
    return n;
  }
  if (!h.field || t->response->headers.size() >= kMaxHeaders) return n;
  t->response->headers.push_back(std::move(*h.field));
  return n;
}

int OnSmallProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* t = static_cast<SmallTransfer*>(user);
  return t->cancel != nullptr && t->cancel->load() ? 1 : 0;
}

}  // namespace

const std::string* FetchResponse::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

Status CheckUrlAllowed(std::string_view url, const FetchOptions& options) {
  const std::string head = net::AsciiLower(url.substr(0, 8));
  if (head.starts_with("https://") && url.size() > 8) return OkStatus();
  if (head.starts_with("http://") && url.size() > 7) {
    if (options.allow_plain_http) return OkStatus();
    return Error("refusing plain http:// URL " + std::string(url) +
                 ": use https://, or give the expected SHA-256 (--sha256) so the content is verified");
  }
  return Error("unsupported URL '" + std::string(url.substr(0, 200)) + "': expected https://");
}

void ConfigureHandle(CURL* curl, const std::string& url, bool follow_redirects, const FetchOptions& options,
                     std::string* blocked, char* error_buffer) {
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, options.allow_plain_http ? "http,https" : "https");
  // Never downgrade: a redirect from an https URL must stay on https.
  const bool https = net::AsciiLower(std::string_view(url).substr(0, 8)) == "https://";
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(curl, CURLOPT_UNRESTRICTED_AUTH, 0L);  // Authorization stays with the first host
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::max<int64_t>(1, options.connect_timeout.count())));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(std::max<int64_t>(1, options.stall_timeout.count())));
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (options.extra_roots) options.extra_roots->Install(curl);
  if (options.block_private_addresses) {
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, &OpenSocketChecked);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, blocked);
  }
}

bool IsRetryableStatus(int status) { return status == 408 || status == 429 || (status >= 500 && status <= 599); }

bool IsRetryableCurlCode(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_PROXY:
      return true;
    default:
      return false;
  }
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value) {
  value = net::TrimHeaderSpace(value);
  if (value.empty() || value.size() > 64) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::chrono::milliseconds(999999999LL * 1000);
    return std::chrono::milliseconds(std::stoll(std::string(value)) * 1000);
  }
  const time_t when = curl_getdate(std::string(value).c_str(), nullptr);
  if (when < 0) return std::nullopt;
  const time_t now = std::time(nullptr);
  return std::chrono::milliseconds(std::max<int64_t>(0, static_cast<int64_t>(when - now)) * 1000);
}

std::chrono::milliseconds BackoffDelay(int attempt, const FetchOptions& options,
                                       std::optional<std::chrono::milliseconds> retry_after) {
  if (retry_after) return std::min(*retry_after, options.retry_after_max);
  int64_t d = options.retry_base.count();
  for (int i = 1; i < attempt && d < options.retry_max.count(); ++i) d *= 2;
  d = std::min<int64_t>(d, options.retry_max.count());
  // Jitter, so clients that failed together do not come back together.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> pick(d / 2, std::max<int64_t>(d / 2, d));
  return std::chrono::milliseconds(pick(rng));
}

bool SleepUnlessCancelled(std::chrono::milliseconds delay, const FetchOptions& options) {
  const auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (options.cancel != nullptr && options.cancel->load()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(50), until - std::chrono::steady_clock::now()));
  }
  return options.cancel == nullptr || !options.cancel->load();
}

bool IsNonPublicAddress(std::string_view numeric_address) {
  const std::string text(numeric_address);
  in_addr v4{};
  in6_addr v6{};
  uint8_t b[16];
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    std::memcpy(b, &v4, 4);
  } else if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::memcpy(b, &v6, 16);
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
    if (std::memcmp(b, kMapped, 12) == 0 || std::memcmp(b, kNat64, 12) == 0) {
      return IsNonPublicAddress(std::to_string(b[12]) + "." + std::to_string(b[13]) + "." + std::to_string(b[14]) + "." +
                                std::to_string(b[15]));
    }
    bool all_zero_but_last = true;
    for (int i = 0; i < 15; ++i) all_zero_but_last = all_zero_but_last && b[i] == 0;
    if (all_zero_but_last && (b[15] == 0 || b[15] == 1)) return true;  // :: and ::1
    if ((b[0] & 0xfe) == 0xfc) return true;                           // fc00::/7 unique local
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;           // fe80::/10 link-local
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return true;           // fec0::/10 site-local
    if (b[0] == 0xff) return true;                                    // multicast
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return true;  // documentation
    return false;
  } else {
    return true;  // not an IP address at all
  }
  const uint8_t a = b[0], c = b[1];
  return a == 0 || a == 10 || a == 127 || (a == 100 && (c & 0xc0) == 64) || (a == 169 && c == 254) ||
         (a == 172 && (c & 0xf0) == 16) || (a == 192 && c == 168) || (a == 192 && c == 0 && b[2] == 0) ||
         (a == 198 && (c & 0xfe) == 18) || a >= 224;
}

Result<FetchResponse> Fetch(const FetchRequest& request, const FetchOptions& options) {
  BASTION_RETURN_IF_ERROR(CheckUrlAllowed(request.url, options));
  if (request.method != "GET" && request.method != "HEAD") return Error("unsupported method " + request.method);
  net::CurlGlobalInitOnce();
  const std::string what = request.method + " " + request.url;
  std::string last_error;
  for (int attempt = 1;; ++attempt) {
    CURL* curl = curl_easy_init();
    if (curl == nullptr) return Error("libcurl: curl_easy_init failed");
    FetchResponse response;
    SmallTransfer t{&response, request.max_body_bytes, false, options.cancel};
    char error_buffer[CURL_ERROR_SIZE] = {0};
    std::string blocked;
    ConfigureHandle(curl, request.url, request.follow_redirects, options, &blocked, error_buffer);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<int64_t>(1, options.request_timeout.count())));
    if (request.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnSmallBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnSmallHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnSmallProgress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : request.headers) headers = curl_slist_append(headers, (name + ": " + value).c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    const CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    char* effective = nullptr;
    curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective);
    if (effective != nullptr) response.effective_url = effective;
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);

    bool retry = false;
    std::optional<std::chrono::milliseconds> retry_after;
    if (code != CURLE_OK) {
      if (code == CURLE_ABORTED_BY_CALLBACK) return Error(what + ": cancelled");
      if (!blocked.empty()) return Error(what + ": refusing to connect to non-public address " + blocked);
      if (t.too_large) return Error(what + ": response larger than " + std::to_string(request.max_body_bytes) + " bytes");
      last_error = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
      if (!IsRetryableCurlCode(code)) return Error(what + ": " + last_error);
      retry = true;
    } else {
      response.status = static_cast<int>(status);
      if (!IsRetryableStatus(response.status)) return response;
      last_error = "HTTP " + std::to_string(response.status);
      if (const std::string* ra = response.Header("retry-after")) retry_after = ParseRetryAfter(*ra);
      retry = true;
    }
    if (retry && attempt >= options.max_attempts) {
      return Error(what + ": " + last_error + " (gave up after " + std::to_string(attempt) + " attempts)");
    }
    const auto delay = BackoffDelay(attempt, options, retry_after);
    if (options.on_retry) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "; retrying in %.1fs (attempt %d of %d)", static_cast<double>(delay.count()) / 1000.0,
                    attempt + 1, options.max_attempts);
      options.on_retry(what + ": " + last_error + buf);
    }
    if (!SleepUnlessCancelled(delay, options)) return Error(what + ": cancelled");
  }
}

}  // namespace bastion::store
