#include "acme/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>

#include "net/curl_common.h"

namespace bastion::acme {
namespace {

struct TransferState {
  HttpResponse* response;
  size_t max_bytes;
  bool too_large = false;
  const std::atomic<bool>* cancel;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  const size_t n = size * count;
  if (state->response->body.size() + n > state->max_bytes) {
    state->too_large = true;
    return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
  }
  state->response->body.append(data, n);
  return n;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  const size_t n = size * count;
  const std::string_view line(data, n);
  // A status line starts a new response (after a 100 Continue, say): drop what came before.
  net::HeaderLine h = net::ParseHeaderLine(line);
  if (h.status_line) {
    state->response->headers.clear();
    return n;
  }
  if (!h.field || state->response->headers.size() >= 100) return n;  // a hostile server cannot grow this
  state->response->headers.push_back(std::move(*h.field));
  return n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* state = static_cast<TransferState*>(user);
  return state->cancel != nullptr && state->cancel->load() ? 1 : 0;
}

}  // namespace

const std::string* HttpResponse::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

bool IsAllowedUrl(std::string_view url) {
  const std::string lower = net::AsciiLower(url.substr(0, std::min<size_t>(url.size(), 32)));
  if (lower.starts_with("https://")) return url.size() > 8;
  // Plain HTTP only to this machine: test CAs. Anything else would let a network attacker
  // rewrite the CA's replies (the JWS protects requests, not responses).
  for (const char* prefix : {"http://127.0.0.1:", "http://127.0.0.1/", "http://[::1]:", "http://[::1]/",
                             "http://localhost:", "http://localhost/"}) {
    if (lower.starts_with(prefix)) return true;
  }
  return false;
}

struct HttpClient::Impl {
  HttpClientOptions options;
  CURL* curl = nullptr;
  std::shared_ptr<const net::TrustRoots> extra_roots;  // null: the system's store alone

  ~Impl() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(HttpClientOptions options) {
  net::CurlGlobalInitOnce();
  auto impl = std::make_unique<Impl>();
  if (!options.extra_root_file.empty()) {
    BASTION_ASSIGN_OR_RETURN(impl->extra_roots, net::TrustRoots::LoadPemFile(options.extra_root_file));
  }
  impl->curl = curl_easy_init();
  if (impl->curl == nullptr) return Error("libcurl: curl_easy_init failed");
  impl->options = std::move(options);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  if (!IsAllowedUrl(request.url)) {
    return Error("refusing URL " + request.url + ": ACME needs https:// (plain http only to 127.0.0.1)");
  }
  CURL* curl = impl_->curl;
  curl_easy_reset(curl);  // keeps the connection cache, so keep-alive still works
  HttpResponse response;
  TransferState state{&response, impl_->options.max_response_bytes, false, request.cancel};
  char error_buffer[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);  // ACME needs no redirects; Location is data
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);         // no SIGALRM games in a threaded server
  curl_easy_setopt(curl, CURLOPT_USERAGENT, impl_->options.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  const long timeout_ms = std::max<long>(1, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min<long>(timeout_ms, 10000));
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(impl_->options.max_response_bytes));
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &state);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  if (impl_->extra_roots) impl_->extra_roots->Install(curl);

  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method != "GET") {
    return Error("unsupported HTTP method " + request.method);
  }

  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) headers = curl_slist_append(headers, (name + ": " + value).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip for small POSTs
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  const CURLcode code = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);

  if (code != CURLE_OK) {
    std::string what;
    if (state.too_large || code == CURLE_FILESIZE_EXCEEDED) {
      what = "response larger than " + std::to_string(impl_->options.max_response_bytes) + " bytes";
    } else if (code == CURLE_ABORTED_BY_CALLBACK) {
      what = "cancelled";
    } else {
      what = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
    }
    return Error(request.method + " " + request.url + ": " + what);
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace bastion::acme
