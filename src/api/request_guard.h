// The guard in front of every route of `bastion serve` (installed with Router::SetGuard):
//
//   1. the client address: the socket peer, or what trusted proxies say (X-Forwarded-For /
//      X-Real-IP only from --trusted-proxies CIDRs);
//   2. CORS: preflights are answered here (allowed origins only); other responses get the CORS
//      headers, errors included, so browser clients can read a 401 or 429;
//   3. /health passes untouched (load balancers and uptime checks);
//   4. the per-client-address rate limit (nginx limit_req: --rate/--burst, nodelay) → 429 +
//      Retry-After in the route's API error shape;
//   5. API keys: once the key store has any key, every other route needs one (Authorization:
//      Bearer or X-Api-Key) → 401 with WWW-Authenticate; /metrics needs the admin scope unless
//      --public-metrics, and model management (/api/pull, /api/delete, /api/copy, ...) always
//      does → 403; revocations take effect within a second (the store is re-read
//      when its file changes);
//   6. the key's own rate limit and its limit on concurrent generations → 429.
// The key's name (never the key) is recorded on the request for logs.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "http/router.h"
#include "keys/key_store.h"
#include "policy/cors.h"
#include "policy/rate_limiter.h"
#include "policy/trusted_proxies.h"

namespace bastion::api {

struct GuardOptions {
  keys::KeyStore* keys = nullptr;              // required; outlives the router
  policy::RateLimiter* client_limiter = nullptr;  // per client address; nullptr = no limit
  policy::TrustedProxies proxies;              // empty = trust no one (the socket peer is the client)
  policy::CorsPolicy cors;                     // default: CORS off
  bool public_metrics = false;                 // /metrics without the admin scope
  // Require a key even while the store is empty (then nothing is admitted): a server on a
  // public address must never become open because the keys file was deleted. Independently of
  // this, once the store has held a key the guard keeps requiring one.
  bool require_key = false;
};

// Counters for /metrics and tests.
struct GuardMetrics {
  std::atomic<uint64_t> unauthorized{0};  // 401
  std::atomic<uint64_t> forbidden{0};     // 403
  std::atomic<uint64_t> rate_limited{0};  // 429 (rate and concurrency)
};

// Installs the guard on `router`. `options.keys` and the limiter must outlive the router.
void InstallRequestGuard(http::Router& router, GuardOptions options, std::shared_ptr<GuardMetrics> metrics);

// Routes that start a generation (counted against a key's max_concurrent).
bool IsGenerationRoute(const http::Request& request);
// Routes that change the model store (Ollama's pull, delete, copy, create, push; blob uploads):
// admin scope only.
bool IsModelManagementRoute(const http::Request& request);

}  // namespace bastion::api
