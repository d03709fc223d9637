// CertManager: keeps one ACME certificate (one set of domain names) valid for the TLS listener.
//
// It loads the stored certificate at start (never blocking on the CA), obtains one in the
// background when there is none, renews when a third of the lifetime is left or at a random time
// inside the CA's ARI window (RFC 9773, sending `replaces`), backs off exponentially with jitter
// after failures (1 min, 2, 4, ... capped at 1 day; the CA's Retry-After wins when longer),
// writes every certificate crash-safely to the state directory (cert_storage.h) before it Puts it
// into the tls::CertificateStore (new handshakes use it at once, established connections keep
// theirs), and picks up within ~2 s a certificate another process (`bastion cert renew`, another
// server) wrote. An flock per certificate makes every order "lock, re-check, order", so processes
// sharing a state directory never order the same certificate twice.
//
// WIRING (cmd_serve.cc, acme mode; `config` is the ServeConfig):
//
//   auto store = std::make_shared<tls::CertificateStore>();
//   store->SetDefault(<temporary self-signed CertifiedKey>);       // so startup never blocks
//   auto http01 = std::make_shared<http::AcmeHttp01Responder>();   // null without --http-port
//   cli::ListenerChallengeSolver solver(http01, store);            // outlives the manager; thread-safe
//                                                                  // (the manager's thread and the
//                                                                  // handoff poller both call it)
//   certs::CertManagerOptions o;
//   o.state_dir = config.state_dir;
//   o.domains = config.domains;                                    // sorted; first = directory name
//   o.acme.directory_url = certs::ResolveAcmeDirectoryUrl(config.acme_ca);  // "" | "staging" | URL
//   o.acme.ca_root_file = config.acme_ca_root;
//   o.acme.email = config.email;                                   // account_key_path: derived
//   BASTION_ASSIGN_OR_RETURN(auto manager, certs::CertManager::Create(std::move(o), solver, store));
//   if (Status st = manager->Start(); !st.ok()) return Fail(st.error());  // loads stored cert, starts thread
//   ... serve; manager->status() for /metrics and logs ...
//   manager->Stop();                                               // before the solver/listeners go
//
// Start() also answers challenges that `bastion cert renew` hands over through the state
// directory (challenge_handoff.h), through the same solver; set answer_handoff_challenges=false
// to turn that off.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "acme/acme_client.h"
#include "base/result.h"
#include "certs/cert_storage.h"
#include "certs/challenge_handoff.h"
#include "tls/certificate_store.h"

namespace bastion::certs {

// Wall-clock time, injectable so tests run renewal schedules in simulated time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};
Clock& SystemClock();

struct CertManagerOptions {
  std::string state_dir;
  std::vector<std::string> domains;  // normalized (NormalizeDomains: sorted) by the manager; not empty
  // directory_url, ca_root_file, email; account_key_path defaults to AccountKeyPath(state_dir, url).
  acme::AcmeOptions acme;
  std::vector<acme::ChallengeType> challenge_order = {acme::ChallengeType::kHttp01, acme::ChallengeType::kTlsAlpn01};

  // Renew when this fraction of the lifetime is left (without an ARI window).
  double renew_when_remaining = 1.0 / 3.0;
  std::chrono::seconds backoff_initial{60};
  std::chrono::seconds backoff_max{std::chrono::hours(24)};
  double backoff_jitter = 0.2;  // each delay is multiplied by a uniform factor in [1-j, 1+j]
  // A CA's Retry-After is honoured up to this long (a broken header must not park us for years).
  std::chrono::seconds max_retry_after{std::chrono::hours(24 * 7)};
  // ARI polling when the CA sends no Retry-After, and its bounds.
  std::chrono::seconds ari_poll{std::chrono::hours(6)};
  std::chrono::seconds ari_poll_min{std::chrono::minutes(1)};
  std::chrono::seconds ari_poll_max{std::chrono::hours(24)};
  // An ARI window never renews a certificate younger than this (a loop guard against a CA bug).
  std::chrono::seconds ari_min_age{std::chrono::hours(1)};
  // How often the background thread looks at cert.pem for another process's renewal.
  std::chrono::milliseconds disk_poll_interval{2000};
  // How long an attempt waits for the certificate's lock. The background thread does not wait
  // (the holder is ordering; we pick its result up from disk) and retries after lock_busy_retry;
  // `bastion cert renew` waits.
  std::chrono::milliseconds lock_wait{0};
  std::chrono::seconds lock_busy_retry{5};

  bool set_as_default = true;             // also SetDefault() the certificate (clients without SNI)
  bool answer_handoff_challenges = true;  // Start(): answer `cert renew`'s challenges (serve only)
  uint64_t random_seed = 0;               // 0: from std::random_device
  std::function<void(const std::string&)> log;  // one line, no newline; default: stderr
  Clock* clock = nullptr;                       // default: SystemClock()
};

struct CertManagerStatus {
  std::vector<std::string> domains;
  bool has_certificate = false;
  std::vector<std::string> names;
  std::string issuer;
  TimePoint not_before{}, not_after{};
  std::optional<TimePoint> next_renewal;  // when the next order is due (renewal time or backoff)
  std::optional<TimePoint> ari_window_start, ari_window_end;
  std::string last_error;
  std::optional<TimePoint> last_error_at;
  int consecutive_failures = 0;
  std::string cert_path;
};

enum class RenewOutcome {
  kRenewed,          // ordered and installed a new certificate
  kNotDue,           // the certificate is valid and not due (no --force)
  kRenewedByOther,   // another process renewed it while we waited for the lock
};

class CertManager {
 public:
  // Creates the ACME client (account key under the state directory). `solver` must outlive the
  // manager; `store` may be null (the `cert renew` command serves nothing).
  static Result<std::unique_ptr<CertManager>> Create(CertManagerOptions options, acme::ChallengeSolver& solver,
                                                     std::shared_ptr<tls::CertificateStore> store);
  // With an existing client (tests inject a fake).
  CertManager(CertManagerOptions options, std::unique_ptr<acme::AcmeClient> client, acme::ChallengeSolver& solver,
              std::shared_ptr<tls::CertificateStore> store);
  ~CertManager();  // Stop()
  CertManager(const CertManager&) = delete;
  CertManager& operator=(const CertManager&) = delete;

  // Loads the stored certificate when it is usable for the domains and puts it in the store.
  // Returns whether it did. Bad files are logged and ignored (a new certificate is obtained).
  bool LoadStored();
  // LoadStored(), the challenge handoff responder, then the background thread. Never blocks on
  // the CA.
  Status Start();
  // Cancels an order in progress (at its next step) and joins the thread. Idempotent.
  void Stop();

  // One scheduling step at the clock's now: picks up another process's certificate, polls ARI
  // when due, orders when due. Returns when the next scheduled action is due. The background
  // thread calls this; tests call it directly with a simulated clock.
  TimePoint Tick();

  // `bastion cert renew`: the same path, now (lock waits for options.lock_wait).
  Result<RenewOutcome> RenewNow(bool force);

  CertManagerStatus status() const;
  const CertPaths& paths() const { return paths_; }

 private:
  enum class Ari { kUnknown, kYes, kNo };

  void CheckDisk(TimePoint now, bool initial);
  void Install(std::shared_ptr<const tls::CertifiedKey> cert, std::string chain_pem);
  void PollAri(TimePoint now);
  TimePoint RenewalDue() const;
  bool AttemptAllowed(TimePoint now) const;
  Result<RenewOutcome> Attempt(TimePoint now, bool force, std::chrono::milliseconds lock_wait);
  void RecordFailure(TimePoint now, const std::string& message, std::optional<std::chrono::seconds> retry_after);
  CertMeta BuildMeta() const;
  void PersistMeta(bool have_lock);
  TimePoint NextAction(TimePoint now) const;
  void Log(const std::string& line, log::Level level = log::Level::kNotice) const;
  std::string DomainList() const;

  CertManagerOptions options_;
  std::unique_ptr<acme::AcmeClient> client_;
  acme::ChallengeSolver& solver_;
  std::shared_ptr<tls::CertificateStore> store_;
  Clock& clock_;
  CertPaths paths_;
  std::mt19937_64 rng_;

  std::mutex tick_mutex_;      // one Tick/RenewNow at a time
  mutable std::mutex mutex_;   // guards the fields below (status() reads them from any thread)
  std::shared_ptr<const tls::CertifiedKey> current_;
  std::string current_chain_pem_;
  std::string current_ari_id_;
  FileSignature known_signature_;
  Ari ari_ = Ari::kUnknown;
  std::optional<TimePoint> ari_window_start_, ari_window_end_, ari_pick_;
  TimePoint next_ari_poll_{};
  int failures_ = 0;
  std::optional<TimePoint> next_attempt_;
  std::optional<TimePoint> lock_busy_until_;
  std::string last_error_;
  std::optional<TimePoint> last_error_at_;

  std::atomic<bool> stop_{false};
  std::mutex wait_mutex_;
  std::condition_variable wait_cv_;
  std::thread thread_;
  std::unique_ptr<ChallengeHandoffResponder> handoff_;
};

}  // namespace bastion::certs
