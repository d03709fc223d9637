#include "certs/cert_manager.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/atomic_file.h"
#include "base/check.h"

namespace bastion::certs {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

class RealClock : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string DescribeIn(TimePoint now, TimePoint t) {
  const auto s = duration_cast<seconds>(t - now).count();
  char buf[64];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%lld min", static_cast<long long>(s / 60));
  } else if (s < 3 * 86400) {
    std::snprintf(buf, sizeof buf, "%.1f h", static_cast<double>(s) / 3600);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f days", static_cast<double>(s) / 86400);
  }
  return buf;
}

}  // namespace

Clock& SystemClock() {
  static RealClock clock;
  return clock;
}

Result<std::unique_ptr<CertManager>> CertManager::Create(CertManagerOptions options, acme::ChallengeSolver& solver,
                                                          std::shared_ptr<tls::CertificateStore> store) {
  if (options.state_dir.empty()) return Error("the ACME certificate manager needs a state directory");
  if (NormalizeDomains(options.domains).empty()) return Error("the ACME certificate manager needs at least one domain");
  if (options.acme.directory_url.empty()) options.acme.directory_url = acme::kLetsEncryptDirectory;
  if (options.acme.account_key_path.empty()) {
    options.acme.account_key_path = AccountKeyPath(options.state_dir, options.acme.directory_url);
  }
  const std::string key_dir = options.acme.account_key_path.substr(0, options.acme.account_key_path.rfind('/'));
  BASTION_RETURN_IF_ERROR(MakeDirectories(key_dir, 0700));
  // Two processes starting together on a fresh state directory must not each create (and one
  // then lose) an account key: creating or loading it happens under a lock.
  auto account_lock = FileLock::Acquire(key_dir + "/account.lock", std::chrono::seconds(30));
  if (!account_lock.ok()) return account_lock.error();
  auto client = acme::AcmeClient::Create(options.acme);
  if (!client.ok()) return client.error().WithContext("ACME client for " + options.acme.directory_url);
  return std::make_unique<CertManager>(std::move(options), std::move(*client), solver, std::move(store));
}

CertManager::CertManager(CertManagerOptions options, std::unique_ptr<acme::AcmeClient> client,
                         acme::ChallengeSolver& solver, std::shared_ptr<tls::CertificateStore> store)
    : options_(std::move(options)),
      client_(std::move(client)),
      solver_(solver),
      store_(std::move(store)),
      clock_(options_.clock ? *options_.clock : SystemClock()) {
  options_.domains = NormalizeDomains(options_.domains);
  BASTION_CHECK(!options_.domains.empty());
  if (options_.acme.directory_url.empty()) options_.acme.directory_url = acme::kLetsEncryptDirectory;
  paths_ = CertPathsFor(options_.state_dir, options_.acme.directory_url, options_.domains.front());
  rng_.seed(options_.random_seed != 0 ? options_.random_seed : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}());
}

CertManager::~CertManager() { Stop(); }

void CertManager::Log(const std::string& line, log::Level level) const {
  if (options_.log) {
    options_.log(line);
    return;
  }
  log::Write(level, "certs", line);
}

std::string CertManager::DomainList() const {
  std::string out;
  for (const std::string& d : options_.domains) out += (out.empty() ? "" : ", ") + d;
  return out;
}

bool CertManager::LoadStored() {
  std::lock_guard tick(tick_mutex_);
  CheckDisk(clock_.Now(), /*initial=*/true);
  return current_ != nullptr;
}

Status CertManager::Start() {
  LoadStored();
  if (options_.answer_handoff_challenges && !handoff_) {
    handoff_ = std::make_unique<ChallengeHandoffResponder>(ChallengeHandoffDir(options_.state_dir), solver_);
    if (Status st = handoff_->Start(); !st.ok()) {
      // Only `cert renew` next to this server needs it; serving and renewing here still work.
      Log("challenge handoff for `bastion cert renew` unavailable: " + st.error().message(), log::Level::kWarn);
      handoff_.reset();
    }
  }
  if (!current_) Log("no usable certificate stored for " + DomainList() + "; obtaining one in the background");
  stop_ = false;
  thread_ = std::thread([this] {
    while (!stop_) {
      const TimePoint next = Tick();
      auto wait = duration_cast<milliseconds>(next - clock_.Now());
      wait = std::clamp(wait, milliseconds(50), duration_cast<milliseconds>(options_.disk_poll_interval));
      std::unique_lock lock(wait_mutex_);
      wait_cv_.wait_for(lock, wait, [this] { return stop_.load(); });
    }
  });
  return OkStatus();
}

void CertManager::Stop() {
  {
    std::lock_guard lock(wait_mutex_);
    stop_ = true;  // also cancels an Obtain in progress at its next step
  }
  wait_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (handoff_) {
    handoff_->Stop();
    handoff_.reset();
  }
}

void CertManager::Install(std::shared_ptr<const tls::CertifiedKey> cert, std::string chain_pem) {
  if (store_) {
    store_->Put(cert);
    if (options_.set_as_default) store_->SetDefault(cert);
  }
  auto ari_id = acme::AriCertId(chain_pem);
  std::lock_guard lock(mutex_);
  current_ = std::move(cert);
  current_chain_pem_ = std::move(chain_pem);
  current_ari_id_ = ari_id.ok() ? *ari_id : std::string();
  // A new certificate has its own ARI window: forget the old one and ask soon.
  ari_window_start_.reset();
  ari_window_end_.reset();
  ari_pick_.reset();
  next_ari_poll_ = TimePoint{};
  failures_ = 0;
  next_attempt_.reset();
  last_error_.clear();
  last_error_at_.reset();
}

// Picks up a certificate written by someone else (or, initially, by an earlier run). Only a
// usable one (parses, key matches, covers our names, not expired) replaces what we serve.
void CertManager::CheckDisk(TimePoint now, bool initial) {
  const FileSignature sig = StatSignature(paths_.cert);
  if (!initial && sig == known_signature_) return;
  {
    std::lock_guard lock(mutex_);
    known_signature_ = sig;
  }
  if (!sig.exists) return;  // deleted: keep serving what we have; a missing file is re-obtained when due
  auto stored = LoadCertificateFiles(paths_);
  if (!stored.ok()) {
    Log("ignoring the stored certificate: " + stored.error().message(), log::Level::kWarn);
    return;
  }
  const auto& cert = stored->cert;
  if (!CoversDomains(*cert, options_.domains)) {
    Log("ignoring the stored certificate " + paths_.cert + ": it does not cover all of " + DomainList());
    return;
  }
  if (now >= cert->not_after()) {
    Log("ignoring the stored certificate " + paths_.cert + ": expired " + FormatTime(cert->not_after()));
    return;
  }
  if (current_ && current_->serial_hex() == cert->serial_hex()) return;  // what we serve already
  // Someone restored an older certificate: keep the newer one we have.
  if (current_ && CoversDomains(*current_, options_.domains) && cert->not_after() < current_->not_after()) return;

  Install(cert, stored->chain_pem);
  if (!stored->meta_was_stale && stored->meta.ari_window_start && stored->meta.ari_window_end &&
      stored->meta.next_renewal) {
    // Keep the random pick inside the ARI window stable across restarts.
    std::lock_guard lock(mutex_);
    ari_window_start_ = stored->meta.ari_window_start;
    ari_window_end_ = stored->meta.ari_window_end;
    ari_pick_ = stored->meta.next_renewal;
  }
  Log(std::string(initial ? "loaded the stored certificate" : "picked up a renewed certificate") + " for " +
      DomainList() + " (" + cert->issuer() + ", valid until " + FormatTime(cert->not_after()) + ")");
}

TimePoint CertManager::RenewalDue() const {
  if (!current_ || !CoversDomains(*current_, options_.domains)) return TimePoint::min();
  // A CA whose window says "now" for a certificate it just issued would make us order in a loop.
  if (ari_pick_) return std::max(*ari_pick_, current_->not_before() + options_.ari_min_age);
  const auto remaining = duration_cast<seconds>(current_->lifetime() * options_.renew_when_remaining);
  return current_->not_after() - remaining;
}

bool CertManager::AttemptAllowed(TimePoint now) const {
  if (next_attempt_ && now < *next_attempt_) return false;
  if (lock_busy_until_ && now < *lock_busy_until_) return false;
  return true;
}

TimePoint CertManager::NextAction(TimePoint now) const {
  TimePoint next = std::max(RenewalDue(), now);
  if (next_attempt_) next = std::max(next, *next_attempt_);
  if (lock_busy_until_) next = std::max(next, *lock_busy_until_);
  if (current_ && ari_ != Ari::kNo && !current_ari_id_.empty()) next = std::min(next, std::max(next_ari_poll_, now));
  return next;
}

TimePoint CertManager::Tick() {
  std::lock_guard tick(tick_mutex_);
  TimePoint now = clock_.Now();
  CheckDisk(now, /*initial=*/false);
  if (current_ && ari_ != Ari::kNo && !current_ari_id_.empty() && now >= next_ari_poll_) {
    PollAri(now);
    now = clock_.Now();
  }
  if (!stop_ && now >= RenewalDue() && AttemptAllowed(now)) {
    (void)Attempt(now, /*force=*/false, options_.lock_wait);  // failures are recorded and logged
    now = clock_.Now();
  }
  return NextAction(now);
}

void CertManager::PollAri(TimePoint now) {
  auto answer = client_->GetRenewalInfo(current_chain_pem_);
  if (auto* err = std::get_if<acme::AcmeError>(&answer)) {
    // ARI is advisory: keep the current schedule (window or 1/3 rule) and ask again later.
    const seconds again = std::clamp(err->retry_after.value_or(seconds(3600)), options_.ari_poll_min, options_.ari_poll_max);
    Log("ARI renewal info for " + DomainList() + " failed (asking again in " + DescribeIn(now, now + again) +
        "): " + err->ToString(), log::Level::kWarn);
    std::lock_guard lock(mutex_);
    next_ari_poll_ = now + again;
    return;
  }
  const auto& info = std::get<std::optional<acme::RenewalInfo>>(answer);
  if (!info) {
    std::lock_guard lock(mutex_);
    ari_ = Ari::kNo;  // the directory has no renewalInfo: the 1/3 rule applies
    ari_pick_.reset();
    return;
  }
  const seconds again = std::clamp(info->retry_after, options_.ari_poll_min, options_.ari_poll_max);
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    ari_ = Ari::kYes;
    next_ari_poll_ = now + again;
    if (!ari_pick_ || ari_window_start_ != info->window_start || ari_window_end_ != info->window_end) {
      // RFC 9773 section 4.2: a uniformly random time inside the window, re-drawn only when the
      // window moves, so that many clients spread their renewals.
      ari_window_start_ = info->window_start;
      ari_window_end_ = info->window_end;
      const auto span = duration_cast<seconds>(info->window_end - info->window_start);
      TimePoint pick = info->window_start;
      if (span.count() > 0) {
        std::uniform_int_distribution<int64_t> dist(0, span.count());
        pick += seconds(dist(rng_));
      }
      ari_pick_ = pick;
      changed = true;
    }
  }
  if (changed) {
    Log("ARI window for " + DomainList() + ": " + FormatTime(info->window_start) + " .. " +
        FormatTime(info->window_end) + "; renewing at " + FormatTime(*ari_pick_) +
        (info->explanation_url.empty() ? "" : " (" + info->explanation_url + ")"));
    PersistMeta(/*have_lock=*/false);
  }
}

void CertManager::RecordFailure(TimePoint now, const std::string& message, std::optional<seconds> retry_after) {
  std::lock_guard lock(mutex_);
  ++failures_;
  // 1 min, 2, 4, ... capped; jitter spreads many servers that failed together (a CA outage).
  const double base = std::min(static_cast<double>(options_.backoff_initial.count()) * std::pow(2.0, std::min(failures_ - 1, 40)),
                               static_cast<double>(options_.backoff_max.count()));
  std::uniform_real_distribution<double> jitter(1.0 - options_.backoff_jitter, 1.0 + options_.backoff_jitter);
  double delay = std::min(base * jitter(rng_), static_cast<double>(options_.backoff_max.count()));
  if (retry_after) delay = std::max(delay, static_cast<double>(std::min(*retry_after, options_.max_retry_after).count()));
  next_attempt_ = now + seconds(static_cast<int64_t>(std::llround(delay)));
  last_error_ = message;
  last_error_at_ = now;
  Log("obtaining a certificate for " + DomainList() + " failed (attempt " + std::to_string(failures_) +
      ", next try in " + DescribeIn(now, *next_attempt_) + "): " + message, log::Level::kError);
}

CertMeta CertManager::BuildMeta() const {
  std::lock_guard lock(mutex_);
  CertMeta m;
  m.directory_url = options_.acme.directory_url;
  m.domains = options_.domains;
  if (current_) {
    m.issuer = current_->issuer();
    m.serial_hex = current_->serial_hex();
    m.not_before = current_->not_before();
    m.not_after = current_->not_after();
    m.issued_at = current_->not_before();
    m.ari_cert_id = current_ari_id_;
    m.ari_window_start = ari_window_start_;
    m.ari_window_end = ari_window_end_;
  }
  const TimePoint due = RenewalDue();
  if (due != TimePoint::min()) m.next_renewal = due;
  if (next_attempt_ && (!m.next_renewal || *next_attempt_ > *m.next_renewal)) m.next_renewal = next_attempt_;
  m.last_error = last_error_;
  m.last_error_at = last_error_at_;
  m.next_attempt = next_attempt_;
  m.consecutive_failures = failures_;
  return m;
}

// meta.json is shared with other processes: write it only under the certificate's lock, and
// only while cert.pem is still the certificate it describes.
void CertManager::PersistMeta(bool have_lock) {
  std::optional<FileLock> lock;
  if (!have_lock) {
    if (Status st = MakeDirectories(paths_.dir.substr(0, paths_.dir.rfind('/')), 0700); !st.ok()) return;
    auto l = FileLock::Acquire(paths_.lock, milliseconds(0));
    if (!l.ok()) return;  // someone is ordering; they write their own meta
    lock.emplace(std::move(*l));
  }
  if (StatSignature(paths_.cert) != known_signature_) return;  // replaced under us: the next Tick adopts it
  if (Status st = WriteMeta(paths_, BuildMeta()); !st.ok()) Log("cannot write " + paths_.meta + ": " + st.error().message(), log::Level::kError);
}

Result<RenewOutcome> CertManager::Attempt(TimePoint now, bool force, milliseconds lock_wait) {
  if (Status st = MakeDirectories(paths_.dir.substr(0, paths_.dir.rfind('/')), 0700); !st.ok()) {
    RecordFailure(now, st.error().message(), std::nullopt);
    return st.error();
  }
  auto lock = FileLock::Acquire(paths_.lock, lock_wait);
  if (!lock.ok()) {
    if (lock.error().message().find("locked by another process") == std::string::npos) {
      // Not contention (e.g. the lock file cannot be created): a failure like any other.
      RecordFailure(now, lock.error().message(), std::nullopt);
      return lock.error();
    }
    // Held by another process that is ordering this certificate: its result shows up on disk.
    std::lock_guard l(mutex_);
    lock_busy_until_ = now + options_.lock_busy_retry;
    return lock.error();
  }
  {
    std::lock_guard l(mutex_);
    lock_busy_until_.reset();
  }
  // Re-check under the lock: another process may have renewed while we were deciding.
  const bool changed_on_disk = StatSignature(paths_.cert) != known_signature_;
  CheckDisk(now, /*initial=*/false);
  if (!force && now < RenewalDue()) return changed_on_disk ? RenewOutcome::kRenewedByOther : RenewOutcome::kNotDue;

  acme::ObtainRequest request;
  request.domains = options_.domains;
  request.challenge_order = options_.challenge_order;
  if (current_ && !current_ari_id_.empty() && ari_ != Ari::kNo) request.replaces_cert_id = current_ari_id_;
  request.cancel = &stop_;
  Log(std::string(current_ ? "renewing" : "obtaining") + " the certificate for " + DomainList() + " from " +
      options_.acme.directory_url + (request.replaces_cert_id ? " (replaces " + *request.replaces_cert_id + ")" : ""));
  auto result = client_->Obtain(request, solver_);
  if (auto* err = std::get_if<acme::AcmeError>(&result); err && request.replaces_cert_id &&
                                                        EndsWith(err->type, ":alreadyReplaced")) {
    // The old certificate was already replaced (an earlier renewal whose files we lost): order
    // without `replaces` rather than fail forever.
    request.replaces_cert_id.reset();
    result = client_->Obtain(request, solver_);
  }
  now = clock_.Now();
  if (auto* err = std::get_if<acme::AcmeError>(&result)) {
    RecordFailure(now, err->ToString(), err->retry_after);
    PersistMeta(/*have_lock=*/true);
    return Error(err->ToString());
  }
  auto& obtained = std::get<acme::ObtainedCertificate>(result);
  auto parsed = tls::CertifiedKey::FromPem(obtained.chain_pem, obtained.key_pem);
  std::string problem;
  if (!parsed.ok()) {
    problem = "the CA's certificate is unusable: " + parsed.error().message();
  } else if (!CoversDomains(**parsed, options_.domains)) {
    problem = "the CA's certificate does not cover all of " + DomainList();
  }
  if (!problem.empty()) {
    RecordFailure(now, problem, std::nullopt);
    PersistMeta(/*have_lock=*/true);
    return Error(problem);
  }
  // Disk first, then the store: a crash in between loses nothing (the next start loads it), and
  // the files are what other processes on this state directory pick up.
  const tls::CertifiedKey& fresh = **parsed;
  CertMeta meta;
  meta.directory_url = options_.acme.directory_url;
  meta.domains = options_.domains;
  meta.issuer = fresh.issuer();
  meta.serial_hex = fresh.serial_hex();
  meta.not_before = fresh.not_before();
  meta.not_after = fresh.not_after();
  meta.issued_at = now;
  if (auto id = acme::AriCertId(obtained.chain_pem); id.ok()) meta.ari_cert_id = *id;
  meta.next_renewal = fresh.not_after() - duration_cast<seconds>(fresh.lifetime() * options_.renew_when_remaining);
  Status written = WriteCertificateFiles(paths_, obtained.chain_pem, obtained.key_pem, meta);
  Install(*parsed, obtained.chain_pem);
  {
    std::lock_guard l(mutex_);
    known_signature_ = StatSignature(paths_.cert);
    if (!written.ok()) {
      // Still served from memory; the next renewal (or restart) writes it again.
      last_error_ = "obtained a certificate, but could not store it: " + written.error().message();
      last_error_at_ = now;
    }
  }
  if (!written.ok()) Log(last_error_, log::Level::kError);
  Log("installed a new certificate for " + DomainList() + " (" + (*parsed)->issuer() + ", valid until " +
      FormatTime((*parsed)->not_after()) + ", renewal due " + FormatTime(RenewalDue()) + ")");
  return RenewOutcome::kRenewed;
}

Result<RenewOutcome> CertManager::RenewNow(bool force) {
  std::lock_guard tick(tick_mutex_);
  TimePoint now = clock_.Now();
  CheckDisk(now, /*initial=*/current_ == nullptr);
  if (!force && now < RenewalDue()) return RenewOutcome::kNotDue;
  return Attempt(now, force, options_.lock_wait);
}

CertManagerStatus CertManager::status() const {
  CertManagerStatus s;
  s.domains = options_.domains;
  s.cert_path = paths_.cert;
  std::lock_guard lock(mutex_);
  if (current_) {
    s.has_certificate = true;
    s.names = current_->names();
    s.issuer = current_->issuer();
    s.not_before = current_->not_before();
    s.not_after = current_->not_after();
  }
  TimePoint next = RenewalDue();
  if (next_attempt_) next = std::max(next, *next_attempt_);
  if (next != TimePoint::min()) s.next_renewal = next;
  s.ari_window_start = ari_window_start_;
  s.ari_window_end = ari_window_end_;
  s.last_error = last_error_;
  s.last_error_at = last_error_at_;
  s.consecutive_failures = failures_;
  return s;
}

}  // namespace bastion::certs
