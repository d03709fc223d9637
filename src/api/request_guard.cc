#include "api/request_guard.h"

#include <cmath>
#include <string_view>

namespace bastion::api {
namespace {

// Forwards to the real writer, adding headers (CORS) to the response head and holding a
// concurrency token until the last reference to the writer is gone (the response is over).
class GuardedWriter : public http::ResponseWriter {
 public:
  GuardedWriter(std::shared_ptr<http::ResponseWriter> inner, http::Headers extra,
                std::optional<policy::ConcurrencyLimiter::Token> token)
      : inner_(std::move(inner)), extra_(std::move(extra)), token_(std::move(token)) {}

  void Send(int status, std::string_view content_type, std::string body, http::Headers extra) override {
    Add(extra);
    inner_->Send(status, content_type, std::move(body), std::move(extra));
    Release();
  }
  void StartStream(int status, std::string_view content_type, http::Headers extra) override {
    Add(extra);
    inner_->StartStream(status, content_type, std::move(extra));
  }
  bool Write(std::string chunk) override { return inner_->Write(std::move(chunk)); }
  void End() override {
    inner_->End();
    Release();
  }
  bool cancelled() const override { return inner_->cancelled(); }
  void OnCancel(std::function<void()> callback) override { inner_->OnCancel(std::move(callback)); }

 private:
  void Add(http::Headers& extra) const { extra.insert(extra.end(), extra_.begin(), extra_.end()); }
  void Release() {
    if (token_) token_->Release();
  }
  std::shared_ptr<http::ResponseWriter> inner_;
  http::Headers extra_;
  std::optional<policy::ConcurrencyLimiter::Token> token_;
};

http::Headers With(http::Headers a, const http::Headers& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The store is re-read when its file changed, at most every 250 ms (one stat), so a revocation
// takes effect within a second without a stat per request.
void MaybeReload(keys::KeyStore& store, std::atomic<int64_t>& last_check_ms) {
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch()).count();
  int64_t last = last_check_ms.load(std::memory_order_relaxed);
  if (now - last < 250) return;
  if (!last_check_ms.compare_exchange_strong(last, now)) return;  // another thread does it
  store.ReloadIfChanged();
}

}  // namespace

bool IsGenerationRoute(const http::Request& request) {
  if (request.method != "POST") return false;
  const std::string& p = request.path;
  return p == "/api/generate" || p == "/api/chat" || p == "/v1/chat/completions" || p == "/v1/completions";
}

bool IsModelManagementRoute(const http::Request& request) {
  const std::string& p = request.path;
  return p == "/api/pull" || p == "/api/delete" || p == "/api/copy" || p == "/api/create" || p == "/api/push" ||
         p.rfind("/api/blobs/", 0) == 0;
}

void InstallRequestGuard(http::Router& router, GuardOptions options, std::shared_ptr<GuardMetrics> metrics) {
  struct State {
    GuardOptions o;
    std::shared_ptr<GuardMetrics> metrics;
    std::unique_ptr<policy::RateLimiter> key_limiter;
    policy::ConcurrencyLimiter concurrency;
    std::atomic<int64_t> last_reload_ms{0};
    std::atomic<bool> keys_seen{false};  // sticky: revoking the last key does not open the server
    const http::Router* router = nullptr;
  };
  auto state = std::make_shared<State>();
  state->o = std::move(options);
  state->metrics = std::move(metrics);
  state->router = &router;
  policy::RateLimiter::Options ko;  // per-key limits come with each Check; the default is unused
  state->key_limiter = std::move(policy::RateLimiter::Create(ko)).value();

  router.SetGuard([state](http::Request& request, std::shared_ptr<http::ResponseWriter>& writer) -> bool {
    const GuardOptions& o = state->o;
    const http::Router& r = *state->router;
    request.client_address = o.proxies.ClientAddress(request);

    const policy::CorsDecision cors = o.cors.Decide(request);
    if (cors.preflight) {
      writer->Send(cors.status, "", "", cors.headers);
      return false;
    }
    if (request.path == "/health") return true;

    const auto now = std::chrono::steady_clock::now();
    const auto reject = [&](int status, std::string_view message, http::Headers extra) {
      r.SendError(request, status, message, *writer, With(std::move(extra), cors.headers));
      return false;
    };
    if (o.client_limiter != nullptr) {
      const policy::RateDecision d = o.client_limiter->Check(request.client_address, now);
      if (!d.admitted) {
        state->metrics->rate_limited.fetch_add(1, std::memory_order_relaxed);
        return reject(429, "too many requests from " + request.client_address + "; retry in " +
                               std::to_string(d.retry_after_seconds) + " s",
                      {{"Retry-After", std::to_string(d.retry_after_seconds)}});
      }
    }

    MaybeReload(*o.keys, state->last_reload_ms);
    std::optional<policy::ConcurrencyLimiter::Token> token;
    if (!o.keys->empty()) state->keys_seen.store(true, std::memory_order_relaxed);
    if (o.require_key || state->keys_seen.load(std::memory_order_relaxed)) {
      const std::optional<std::string> presented =
          keys::ExtractPresentedKey(request.Header("authorization"), request.Header("x-api-key"));
      const auto wall = std::chrono::system_clock::now();
      const std::optional<keys::KeyInfo> key = presented ? o.keys->Authenticate(*presented, wall) : std::nullopt;
      if (!key) {
        state->metrics->unauthorized.fetch_add(1, std::memory_order_relaxed);
        // RFC 6750: a presented but unusable key is invalid_token; no key, just the challenge.
        const std::string challenge = presented ? "Bearer realm=\"bastion\", error=\"invalid_token\"" : "Bearer realm=\"bastion\"";
        return reject(401, presented ? "invalid, expired or revoked API key" : "an API key is required "
                                       "(Authorization: Bearer <key> or X-Api-Key: <key>)",
                      {{"WWW-Authenticate", challenge}});
      }
      request.key_name = key->name;
      if (request.path == "/metrics" && !o.public_metrics && !key->Allows(keys::Scope::kAdmin)) {
        state->metrics->forbidden.fetch_add(1, std::memory_order_relaxed);
        return reject(403, "API key '" + key->name + "' lacks the admin scope needed for /metrics", {});
      }
      if (IsModelManagementRoute(request) && !key->Allows(keys::Scope::kAdmin)) {
        state->metrics->forbidden.fetch_add(1, std::memory_order_relaxed);
        return reject(403, "API key '" + key->name + "' lacks the admin scope needed for " + request.path, {});
      }
      if (key->rate) {
        auto limit = policy::RateLimitPerSecond(*key->rate, key->burst.value_or(0));
        if (limit.ok()) {
          // The bucket is per key and limit, so a key re-created with other limits starts afresh.
          const std::string bucket = key->name + "\x1f" + policy::FormatRateLimit(*limit);
          const policy::RateDecision d = state->key_limiter->Check(bucket, *limit, now);
          if (!d.admitted) {
            state->metrics->rate_limited.fetch_add(1, std::memory_order_relaxed);
            return reject(429, "API key '" + key->name + "' is over its rate limit; retry in " +
                                   std::to_string(d.retry_after_seconds) + " s",
                          {{"Retry-After", std::to_string(d.retry_after_seconds)}});
          }
        }
      }
      if (key->max_concurrent && IsGenerationRoute(request)) {
        token = state->concurrency.TryAcquire(key->name, static_cast<uint32_t>(*key->max_concurrent));
        if (!token) {
          state->metrics->rate_limited.fetch_add(1, std::memory_order_relaxed);
          return reject(429, "API key '" + key->name + "' already has " + std::to_string(*key->max_concurrent) +
                                 " generations running",
                        {{"Retry-After", "1"}});
        }
      }
    }
    // Without keys there is no scope to check: the serve command allows that only on loopback
    // (or with --insecure-no-auth), where /metrics is as open as everything else.
    if (!cors.headers.empty() || token) writer = std::make_shared<GuardedWriter>(writer, cors.headers, std::move(token));
    return true;
  });
}

}  // namespace bastion::api
