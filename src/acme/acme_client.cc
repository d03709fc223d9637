// The RFC 8555 protocol flow. Every wait is bounded by the Obtain deadline (obtain_timeout) and
// the cancel flag; every reply is parsed by messages.cc, which never throws.
#include "acme/acme_client.h"

#include <algorithm>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "acme/base64url.h"
#include "acme/client_stats.h"
#include "acme/http_client.h"
#include "acme/jws.h"
#include "acme/messages.h"
#include "acme/x509_util.h"

namespace bastion::acme {

const char* ChallengeTypeName(ChallengeType type) {
  switch (type) {
    case ChallengeType::kHttp01: return "http-01";
    case ChallengeType::kTlsAlpn01: return "tls-alpn-01";
  }
  return "unknown";
}

std::string AcmeError::ToString() const {
  std::string out;
  if (type.empty()) {
    out = detail.empty() ? "ACME request failed" : detail;
  } else {
    std::string_view short_type = type;
    if (short_type.starts_with("urn:ietf:params:acme:error:")) short_type.remove_prefix(27);
    out = "CA error " + std::string(short_type);
    if (http_status != 0) out += " (HTTP " + std::to_string(http_status) + ")";
    if (!detail.empty()) out += ": " + detail;
  }
  if (retry_after) out += " (retry after " + std::to_string(retry_after->count()) + "s)";
  return out;
}

namespace {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kBadNonce = "urn:ietf:params:acme:error:badNonce";
constexpr const char* kAccountDoesNotExist = "urn:ietf:params:acme:error:accountDoesNotExist";
constexpr const char* kAlreadyReplaced = "urn:ietf:params:acme:error:alreadyReplaced";
// Pebble rejects 5% of nonces by default and tests run it at 50%: 16 tries make a spurious
// failure (2^-16 per request) negligible, and each try is one cheap round trip.
constexpr int kMaxBadNonceRetries = 16;
constexpr int kMaxBusyRetries = 3;                // 429/503 re-sent in place at most this often
constexpr seconds kMaxInPlaceWait{60};            // longer Retry-After: report it, don't block
constexpr size_t kMaxNoncePool = 16;

AcmeError LocalError(std::string detail) {
  AcmeError e;
  e.detail = std::move(detail);
  return e;
}

std::string Dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

// Where one Obtain (or GetRenewalInfo) stands: its deadline and cancel flag.
struct Context {
  SteadyClock::time_point deadline;
  const std::atomic<bool>* cancel = nullptr;

  bool cancelled() const { return cancel != nullptr && cancel->load(); }
  milliseconds remaining() const {
    return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()));
  }
  std::optional<AcmeError> Check(const std::string& what) const {
    if (cancelled()) return LocalError("cancelled while " + what);
    if (remaining() <= milliseconds(0)) return LocalError("timed out (obtain_timeout) while " + what);
    return std::nullopt;
  }
  // Sleeps in short steps so a cancel is seen quickly; false when cancelled or out of time.
  bool Sleep(milliseconds duration) const {
    const auto until = std::min(SteadyClock::now() + duration, deadline);
    while (SteadyClock::now() < until) {
      if (cancelled()) return false;
      std::this_thread::sleep_for(std::min(milliseconds(50), std::chrono::duration_cast<milliseconds>(
                                                                 until - SteadyClock::now()) + milliseconds(1)));
    }
    return !cancelled() && SteadyClock::now() < deadline;
  }
};

// How a challenge attempt ended: fine, failed for this type only (try another), or fatal.
struct ChallengeOutcome {
  std::optional<AcmeError> error;
  bool type_failed = false;
};

class Client final : public AcmeClient {
 public:
  Client(AcmeOptions options, std::unique_ptr<HttpClient> http, AccountKey key)
      : options_(std::move(options)), http_(std::move(http)), key_(std::move(key)) {}

  std::variant<ObtainedCertificate, AcmeError> Obtain(const ObtainRequest& request, ChallengeSolver& solver) override;
  std::variant<std::optional<RenewalInfo>, AcmeError> GetRenewalInfo(const std::string& cert_pem) override;

  const AcmeClientStats& stats() const { return stats_; }

 private:
  std::optional<AcmeError> Get(const std::string& url, const Context& ctx, HttpResponse* out);
  // A JWS-signed POST; payload "" is POST-as-GET. Retries badNonce and short 429/503 itself.
  std::optional<AcmeError> Post(const std::string& url, std::string_view payload, const Context& ctx,
                                HttpResponse* out, bool with_jwk = false, const char* accept = nullptr);
  std::optional<AcmeError> TakeNonce(const Context& ctx, std::string* nonce);
  void SaveNonce(const HttpResponse& response);
  std::optional<AcmeError> Send(HttpRequest request, const Context& ctx, HttpResponse* out);
  AcmeError ErrorFrom(const HttpResponse& response) const;

  std::optional<AcmeError> EnsureDirectory(const Context& ctx);
  std::optional<AcmeError> EnsureAccount(const Context& ctx);
  std::optional<AcmeError> NewOrder(const std::vector<std::string>& names, const std::optional<std::string>& replaces,
                                    const Context& ctx, Order* order, std::string* order_url);
  std::optional<AcmeError> FetchAuthorization(const std::string& url, const Context& ctx, Authorization* authz);
  std::optional<AcmeError> FetchOrder(const std::string& url, const Context& ctx, Order* order,
                                      milliseconds* retry_after);
  ChallengeOutcome SolveChallenge(const Authorization& authz, const std::string& authz_url, ChallengeType type,
                                  const Context& ctx, ChallengeSolver& solver);
  std::variant<ObtainedCertificate, AcmeError> Finalize(Order order, const std::string& order_url,
                                                        const std::vector<std::string>& names, const Context& ctx);

  AcmeOptions options_;
  std::unique_ptr<HttpClient> http_;
  AccountKey key_;
  std::optional<Directory> directory_;
  std::string kid_;  // account URL, once registered
  std::vector<std::string> nonces_;
  AcmeClientStats stats_;
};

// The delay the server asks for in Retry-After, else `fallback`; clamped to [100 ms, 60 s] for
// polling (a CA asking for more than a minute between polls gets checked again after one).
milliseconds PollDelay(const HttpResponse& response, milliseconds fallback) {
  if (const std::string* value = response.Header("retry-after")) {
    if (auto s = ParseRetryAfter(*value, std::chrono::system_clock::now())) {
      return std::clamp(std::chrono::duration_cast<milliseconds>(*s), milliseconds(100), milliseconds(60000));
    }
  }
  return fallback;
}

milliseconds NextBackoff(milliseconds current) { return std::min(current * 2, milliseconds(4000)); }

// First poll of an authorization or order when the CA gives no Retry-After. A CA that validates
// at once (Pebble; Let's Encrypt often within a second) is answered after 50 ms; one that is slow
// gets 100, 200, ... 4000 ms: a handful of extra POST-as-GETs, and no idle 200 ms twice per
// certificate on the path to the first handshake.
constexpr milliseconds kFirstPoll(50);

std::optional<AcmeError> Client::Send(HttpRequest request, const Context& ctx, HttpResponse* out) {
  if (auto e = ctx.Check(request.method + " " + request.url)) return e;
  request.timeout = std::min<milliseconds>(std::chrono::duration_cast<milliseconds>(options_.request_timeout),
                                           ctx.remaining());
  request.cancel = ctx.cancel;
  ++stats_.requests;
  auto response = http_->Send(request);
  if (!response.ok()) return LocalError(response.error().message());
  SaveNonce(*response);
  *out = std::move(response).value();
  return std::nullopt;
}

AcmeError Client::ErrorFrom(const HttpResponse& response) const {
  std::optional<seconds> retry_after;
  if (const std::string* value = response.Header("retry-after")) {
    retry_after = ParseRetryAfter(*value, std::chrono::system_clock::now());
  }
  return ParseProblem(response.status, response.body, retry_after);
}

void Client::SaveNonce(const HttpResponse& response) {
  const std::string* nonce = response.Header("replay-nonce");
  if (nonce == nullptr || !IsValidNonce(*nonce)) return;  // RFC 8555 6.5.1: ignore invalid ones
  if (nonces_.size() >= kMaxNoncePool) nonces_.erase(nonces_.begin());
  nonces_.push_back(*nonce);
}

std::optional<AcmeError> Client::TakeNonce(const Context& ctx, std::string* nonce) {
  if (nonces_.empty()) {
    HttpRequest request;
    request.method = "HEAD";
    request.url = directory_->new_nonce;
    HttpResponse response;
    if (auto e = Send(request, ctx, &response)) return e;
    if (response.status >= 400) return ErrorFrom(response);
    if (nonces_.empty()) return LocalError("the CA's newNonce gave no valid Replay-Nonce");
  }
  *nonce = std::move(nonces_.back());
  nonces_.pop_back();
  return std::nullopt;
}

std::optional<AcmeError> Client::Get(const std::string& url, const Context& ctx, HttpResponse* out) {
  HttpRequest request;
  request.url = url;
  return Send(request, ctx, out);
}

std::optional<AcmeError> Client::Post(const std::string& url, std::string_view payload, const Context& ctx,
                                      HttpResponse* out, bool with_jwk, const char* accept) {
  int bad_nonces = 0;
  int busy = 0;
  for (;;) {
    std::string nonce;
    if (auto e = TakeNonce(ctx, &nonce)) return e;
    auto body = SignJws(key_, url, nonce, with_jwk ? std::string() : kid_, payload);
    if (!body.ok()) return LocalError(body.error().message());
    HttpRequest request;
    request.method = "POST";
    request.url = url;
    request.body = std::move(body).value();
    request.headers.emplace_back("Content-Type", "application/jose+json");
    if (accept != nullptr) request.headers.emplace_back("Accept", accept);
    HttpResponse response;
    if (auto e = Send(std::move(request), ctx, &response)) return e;
    if (response.status < 400) {
      *out = std::move(response);
      return std::nullopt;
    }
    AcmeError error = ErrorFrom(response);
    if (error.type == kBadNonce && bad_nonces < kMaxBadNonceRetries) {
      // The error response carried a fresh nonce (saved by Send); sign again with it.
      ++bad_nonces;
      ++stats_.bad_nonce_retries;
      continue;
    }
    if ((response.status == 429 || response.status == 503) && busy < kMaxBusyRetries) {
      const seconds wait = error.retry_after.value_or(seconds(1));
      if (wait <= kMaxInPlaceWait && milliseconds(wait) < ctx.remaining() &&
          ctx.Sleep(std::max<milliseconds>(wait, milliseconds(100)))) {
        ++busy;
        ++stats_.busy_retries;
        continue;
      }
    }
    if (error.type == kAccountDoesNotExist) kid_.clear();  // register again next time
    return error;
  }
}

std::optional<AcmeError> Client::EnsureDirectory(const Context& ctx) {
  if (directory_) return std::nullopt;
  HttpResponse response;
  if (auto e = Get(options_.directory_url, ctx, &response)) return e;
  if (response.status != 200) {
    AcmeError error = ErrorFrom(response);
    error.detail = "directory " + options_.directory_url + ": " + error.detail;
    return error;
  }
  auto dir = ParseDirectory(response.body);
  if (!dir.ok()) return LocalError("directory " + options_.directory_url + ": " + dir.error().message());
  directory_ = std::move(dir).value();
  return std::nullopt;
}

std::optional<AcmeError> Client::EnsureAccount(const Context& ctx) {
  if (!kid_.empty()) return std::nullopt;
  if (directory_->external_account_required) {
    return LocalError("the CA requires external account binding (EAB), which bastion does not support yet");
  }
  json payload = {{"termsOfServiceAgreed", true}};
  if (!options_.email.empty()) payload["contact"] = json::array({"mailto:" + options_.email});
  HttpResponse response;
  // An existing key gets its existing account back (200) instead of a new one (201).
  if (auto e = Post(directory_->new_account, Dump(payload), ctx, &response, /*with_jwk=*/true)) return e;
  const std::string* location = response.Header("location");
  if (location == nullptr || location->empty()) return LocalError("newAccount reply has no Location (account URL)");
  kid_ = *location;
  return std::nullopt;
}

std::optional<AcmeError> Client::NewOrder(const std::vector<std::string>& names,
                                          const std::optional<std::string>& replaces, const Context& ctx, Order* order,
                                          std::string* order_url) {
  json identifiers = json::array();
  for (const std::string& name : names) {
    identifiers.push_back({{"type", IsIpAddress(name) ? "ip" : "dns"}, {"value", name}});
  }
  json payload = {{"identifiers", identifiers}};
  // "replaces" only where the CA speaks ARI: others may reject an unknown field.
  const bool send_replaces = replaces && !replaces->empty() && !directory_->renewal_info.empty();
  if (send_replaces) payload["replaces"] = *replaces;
  ++stats_.orders;
  HttpResponse response;
  auto error = Post(directory_->new_order, Dump(payload), ctx, &response);
  if (error && send_replaces && error->type == kAlreadyReplaced) {
    // The old certificate was replaced already (by another process, say): order without it.
    payload.erase("replaces");
    error = Post(directory_->new_order, Dump(payload), ctx, &response);
  }
  if (error) return error;
  const std::string* location = response.Header("location");
  if (location == nullptr || location->empty()) return LocalError("newOrder reply has no Location (order URL)");
  *order_url = *location;
  auto parsed = ParseOrder(response.body);
  if (!parsed.ok()) return LocalError("newOrder: " + parsed.error().message());
  *order = std::move(parsed).value();
  return std::nullopt;
}

std::optional<AcmeError> Client::FetchAuthorization(const std::string& url, const Context& ctx, Authorization* authz) {
  HttpResponse response;
  if (auto e = Post(url, "", ctx, &response)) return e;
  auto parsed = ParseAuthorization(response.body);
  if (!parsed.ok()) return LocalError("authorization " + url + ": " + parsed.error().message());
  *authz = std::move(parsed).value();
  return std::nullopt;
}

std::optional<AcmeError> Client::FetchOrder(const std::string& url, const Context& ctx, Order* order,
                                            milliseconds* retry_after) {
  HttpResponse response;
  if (auto e = Post(url, "", ctx, &response)) return e;
  auto parsed = ParseOrder(response.body);
  if (!parsed.ok()) return LocalError("order " + url + ": " + parsed.error().message());
  *order = std::move(parsed).value();
  if (retry_after != nullptr) *retry_after = PollDelay(response, *retry_after);
  return std::nullopt;
}

ChallengeOutcome Client::SolveChallenge(const Authorization& authz, const std::string& authz_url, ChallengeType type,
                                        const Context& ctx, ChallengeSolver& solver) {
  const char* type_name = ChallengeTypeName(type);
  const auto challenge = std::find_if(authz.challenges.begin(), authz.challenges.end(),
                                      [&](const Challenge& c) { return c.type == type_name; });
  if (challenge == authz.challenges.end()) return {LocalError("no challenge"), true};
  const std::string prefix = std::string(type_name) + " for " + authz.identifier + ": ";
  // The token ends up in a URL path and a map key: it must be the base64url RFC 8555 demands.
  if (challenge->token.empty() || !Base64UrlDecode(challenge->token)) {
    return {LocalError(prefix + "the CA sent a malformed token"), true};
  }
  const std::string key_authorization = KeyAuthorization(challenge->token, key_);
  if (Status presented = solver.Present(type, authz.identifier, challenge->token, key_authorization); !presented.ok()) {
    return {LocalError(prefix + "cannot present: " + presented.error().message()), true};
  }
  // Withdraw the answer however this ends (validated, failed, cancelled, timed out).
  struct CleanUpGuard {
    ChallengeSolver& solver;
    ChallengeType type;
    const std::string& domain;
    const std::string& token;
    ~CleanUpGuard() { solver.CleanUp(type, domain, token); }
  } guard{solver, type, authz.identifier, challenge->token};

  HttpResponse response;
  if (challenge->status == ObjectStatus::kPending) {
    // Tells the CA to validate now.
    if (auto e = Post(challenge->url, "{}", ctx, &response)) {
      e->detail = prefix + e->detail;
      return {e, false};
    }
  }
  milliseconds delay = PollDelay(response, kFirstPoll);
  for (;;) {
    if (!ctx.Sleep(delay)) {
      return {ctx.Check("waiting for " + std::string(type_name) + " validation of " + authz.identifier).value_or(
                  LocalError("timed out")),
              false};
    }
    HttpResponse poll;
    if (auto e = Post(authz_url, "", ctx, &poll)) return {e, false};
    auto current = ParseAuthorization(poll.body);
    if (!current.ok()) return {LocalError("authorization " + authz_url + ": " + current.error().message()), false};
    if (current->status == ObjectStatus::kValid) return {};
    if (current->status != ObjectStatus::kPending) {
      // Invalid: the CA says why in the challenge's error.
      AcmeError error = LocalError(prefix + "authorization is " + StatusName(current->status));
      for (const Challenge& c : current->challenges) {
        if (c.type == type_name && c.error) {
          error = *c.error;
          error.detail = prefix + error.detail;
        }
      }
      return {error, true};
    }
    delay = PollDelay(poll, NextBackoff(delay));
  }
}

std::variant<ObtainedCertificate, AcmeError> Client::Finalize(Order order, const std::string& order_url,
                                                              const std::vector<std::string>& names,
                                                              const Context& ctx) {
  // All authorizations are valid; the order turns "ready" (maybe after a moment).
  milliseconds delay = kFirstPoll;
  while (order.status == ObjectStatus::kPending) {
    if (!ctx.Sleep(delay)) return ctx.Check("waiting for the order to become ready").value_or(LocalError("timed out"));
    milliseconds next = NextBackoff(delay);
    if (auto e = FetchOrder(order_url, ctx, &order, &next)) return *e;
    delay = next;
  }
  auto csr = MakeCsr(names);
  if (!csr.ok()) return LocalError(csr.error().message());
  if (order.status == ObjectStatus::kReady) {
    if (order.finalize.empty()) return LocalError("order has no finalize URL");
    HttpResponse response;
    const json payload = {{"csr", Base64UrlEncode(csr->csr_der)}};
    if (auto e = Post(order.finalize, Dump(payload), ctx, &response)) return *e;
    auto parsed = ParseOrder(response.body);
    if (!parsed.ok()) return LocalError("finalize: " + parsed.error().message());
    order = std::move(parsed).value();
    delay = PollDelay(response, kFirstPoll);
  } else if (order.status != ObjectStatus::kProcessing) {
    // "valid" here would be someone else's finalize: we do not have that key.
    AcmeError error = order.error.value_or(LocalError(""));
    error.detail = "order is " + std::string(StatusName(order.status)) + " before finalize" +
                   (error.detail.empty() ? "" : ": " + error.detail);
    return error;
  }
  while (order.status == ObjectStatus::kProcessing) {
    if (!ctx.Sleep(delay)) return ctx.Check("waiting for the certificate").value_or(LocalError("timed out"));
    milliseconds next = NextBackoff(delay);
    if (auto e = FetchOrder(order_url, ctx, &order, &next)) return *e;
    delay = next;
  }
  if (order.status != ObjectStatus::kValid || order.certificate.empty()) {
    AcmeError error = order.error.value_or(LocalError(""));
    error.detail = "order is " + std::string(StatusName(order.status)) + " after finalize" +
                   (error.detail.empty() ? "" : ": " + error.detail);
    return error;
  }
  HttpResponse response;
  if (auto e = Post(order.certificate, "", ctx, &response, false, "application/pem-certificate-chain")) return *e;
  auto chain = CheckIssuedChain(response.body, csr->key_pem, names);
  if (!chain.ok()) return LocalError(chain.error().message());
  return ObtainedCertificate{std::move(chain).value(), csr->key_pem, order_url};
}

std::variant<ObtainedCertificate, AcmeError> Client::Obtain(const ObtainRequest& request, ChallengeSolver& solver) {
  const Context ctx{SteadyClock::now() + options_.obtain_timeout, request.cancel};
  std::vector<std::string> names;
  for (const std::string& domain : request.domains) {
    auto name = NormalizeIdentifier(domain);
    if (!name.ok()) return LocalError(name.error().message());
    if (std::find(names.begin(), names.end(), *name) == names.end()) names.push_back(*name);
  }
  if (names.empty()) return LocalError("no domain names to obtain a certificate for");

  std::vector<ChallengeType> types;
  const std::vector<ChallengeType> supported = solver.Supported();
  for (ChallengeType t : request.challenge_order) {
    if (std::find(supported.begin(), supported.end(), t) != supported.end() &&
        std::find(types.begin(), types.end(), t) == types.end()) {
      types.push_back(t);
    }
  }
  if (types.empty()) return LocalError("no challenge type is both requested and answerable (need a listener)");

  if (auto e = EnsureDirectory(ctx)) return *e;
  if (auto e = EnsureAccount(ctx)) return *e;

  // A failed challenge makes its authorization, and so the order, invalid: the next type needs a
  // fresh order. Each attempt rules out at least one (name, type) pair, so this ends.
  std::map<std::string, std::set<ChallengeType>> failed;
  std::optional<AcmeError> last_error;
  const size_t max_attempts = names.size() * types.size() + 1;
  for (size_t attempt = 0; attempt < max_attempts; ++attempt) {
    Order order;
    std::string order_url;
    if (auto e = NewOrder(names, request.replaces_cert_id, ctx, &order, &order_url)) return *e;
    if (order.status == ObjectStatus::kInvalid) {
      return order.error.value_or(LocalError("the CA created the order as invalid"));
    }
    if (order.authorizations.empty() && order.status == ObjectStatus::kPending) {
      return LocalError("the CA's order has no authorizations");
    }
    bool retry = false;
    for (const std::string& authz_url : order.authorizations) {
      Authorization authz;
      if (auto e = FetchAuthorization(authz_url, ctx, &authz)) return *e;
      if (authz.status == ObjectStatus::kValid) continue;  // reused from an earlier order
      if (authz.status != ObjectStatus::kPending) {
        return LocalError("authorization for " + authz.identifier + " is " + StatusName(authz.status));
      }
      if (authz.wildcard) return LocalError("wildcard names need dns-01, which bastion does not offer");
      std::optional<ChallengeType> pick;
      for (ChallengeType t : types) {
        const bool offered = std::any_of(authz.challenges.begin(), authz.challenges.end(),
                                         [&](const Challenge& c) { return c.type == ChallengeTypeName(t); });
        if (offered && !failed[authz.identifier].count(t)) {
          pick = t;
          break;
        }
      }
      if (!pick) {
        return last_error.value_or(LocalError("the CA offers no challenge type bastion can answer for " +
                                              authz.identifier));
      }
      ChallengeOutcome outcome = SolveChallenge(authz, authz_url, *pick, ctx, solver);
      if (!outcome.error) continue;
      if (!outcome.type_failed) return *outcome.error;
      failed[authz.identifier].insert(*pick);
      last_error = outcome.error;
      retry = true;
      break;
    }
    if (retry) continue;
    return Finalize(std::move(order), order_url, names, ctx);
  }
  return last_error.value_or(LocalError("every challenge type failed"));
}

std::variant<std::optional<RenewalInfo>, AcmeError> Client::GetRenewalInfo(const std::string& cert_pem) {
  const Context ctx{SteadyClock::now() + 2 * options_.request_timeout, nullptr};
  if (auto e = EnsureDirectory(ctx)) return *e;
  if (directory_->renewal_info.empty()) return std::optional<RenewalInfo>();
  auto cert_id = AriCertId(cert_pem);
  if (!cert_id.ok()) return LocalError(cert_id.error().message());
  std::string url = directory_->renewal_info;
  if (!url.ends_with('/')) url += '/';
  url += *cert_id;
  HttpResponse response;
  if (auto e = Get(url, ctx, &response)) return *e;
  if (response.status != 200) return ErrorFrom(response);
  auto info = ParseRenewalInfo(response.body);
  if (!info.ok()) return LocalError("renewalInfo " + url + ": " + info.error().message());
  if (const std::string* value = response.Header("retry-after")) {
    if (auto s = ParseRetryAfter(*value, std::chrono::system_clock::now())) {
      // Our bounds, not the RFC's: ask again no sooner than a minute (a CA saying 0 must not
      // make us spin) and no later than a day (a window can move, e.g. for a revocation).
      info->retry_after = std::clamp<seconds>(*s, seconds(60), std::chrono::hours(24));
    }
  }
  return std::optional<RenewalInfo>(std::move(info).value());
}

}  // namespace

Result<std::unique_ptr<AcmeClient>> AcmeClient::Create(AcmeOptions options) {
  if (!IsAllowedUrl(options.directory_url)) {
    return Error("ACME directory URL must be https:// (plain http only to 127.0.0.1): " + options.directory_url);
  }
  if (options.request_timeout <= seconds(0) || options.obtain_timeout <= seconds(0)) {
    return Error("ACME timeouts must be positive");
  }
  HttpClientOptions http_options;
  http_options.extra_root_file = options.ca_root_file;
  auto http = HttpClient::Create(http_options);
  if (!http.ok()) return http.error().WithContext("ACME client");
  // No path: an in-memory key (tests, one-off use). Otherwise the stored account key.
  auto key = options.account_key_path.empty() ? AccountKey::Generate() : AccountKey::LoadOrCreate(options.account_key_path);
  if (!key.ok()) return key.error().WithContext("ACME account key");
  return std::unique_ptr<AcmeClient>(new Client(std::move(options), std::move(http).value(), std::move(key).value()));
}

AcmeClientStats GetStats(const AcmeClient& client) {
  if (const auto* impl = dynamic_cast<const Client*>(&client)) return impl->stats();
  return {};
}

}  // namespace bastion::acme
