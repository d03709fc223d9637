// CertManager in simulated time: schedules (1/3 of the lifetime, ARI windows), backoff, reuse of
// stored certificates, locking between processes sharing a state directory, crash safety, hot
// swap, and pick-up of another process's renewal.
#include "certs/cert_manager.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "base/atomic_file.h"
#include "certs/test_certs.h"

namespace bastion::certs {
namespace {

using namespace std::chrono_literals;
using testing::FakeAcmeClient;
using testing::FakeCa;
using testing::FakeClock;
using testing::MakeCert;
using testing::RecordingSolver;

constexpr const char* kCa = "https://ca.test:14000/dir";

TimePoint Start() {
  // A whole second, so certificate times (second resolution) compare exactly.
  return TimePoint(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()));
}

class CertManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bastion-certs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ca_.clock = &clock_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  CertManagerOptions Options() {
    CertManagerOptions o;
    o.state_dir = dir_;
    o.domains = {"Example.COM", "www.example.com"};
    o.acme.directory_url = kCa;
    o.clock = &clock_;
    o.random_seed = 42;
    o.answer_handoff_challenges = false;
    o.log = [this](const std::string& line) {
      std::lock_guard lock(log_mutex_);
      log_.push_back(line);
    };
    return o;
  }
  std::unique_ptr<CertManager> Make(CertManagerOptions o, std::shared_ptr<tls::CertificateStore> store = nullptr) {
    return std::make_unique<CertManager>(std::move(o), std::make_unique<FakeAcmeClient>(ca_), solver_,
                                         store ? store : store_);
  }
  std::unique_ptr<CertManager> Make() { return Make(Options()); }

  // Runs the manager the way its thread does, jumping the clock to each returned time, until
  // `end`. Returns the number of Ticks.
  int RunUntil(CertManager& m, TimePoint end) {
    int ticks = 0;
    while (clock_.Now() < end && ticks < 10000) {
      const TimePoint next = m.Tick();
      ++ticks;
      clock_.Set(std::min(std::max(next, clock_.Now() + 1s), end));
    }
    return ticks;
  }

  std::string Serial(const std::string& domain) {
    auto c = store_->Select(domain);
    return c ? c->serial_hex() : "";
  }
  bool LogContains(const std::string& text) {
    std::lock_guard lock(log_mutex_);
    for (const auto& l : log_) {
      if (l.find(text) != std::string::npos) return true;
    }
    return false;
  }
  CertPaths Paths() { return CertPathsFor(dir_, kCa, "example.com"); }
  void WriteStored(const testing::TestCert& c) {
    CertMeta meta;
    meta.domains = {"example.com", "www.example.com"};
    ASSERT_TRUE(WriteCertificateFiles(Paths(), c.chain_pem, c.key_pem, meta).ok());
  }

  std::string dir_;
  FakeClock clock_{Start()};
  FakeCa ca_;
  RecordingSolver solver_;
  std::shared_ptr<tls::CertificateStore> store_ = std::make_shared<tls::CertificateStore>();
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

TEST_F(CertManagerTest, ObtainsInBackgroundThenRenewsAtOneThirdLifetimeLeft) {
  auto m = Make();
  EXPECT_FALSE(m->LoadStored());
  const TimePoint t0 = clock_.Now();
  EXPECT_EQ(m->Tick(), t0) << "right after an order: ask the CA for its ARI window";
  const TimePoint next = m->Tick();
  EXPECT_EQ(ca_.renewal_info_calls, 1);
  ASSERT_EQ(ca_.obtain_count(), 1);
  EXPECT_EQ(ca_.requests[0].domains, (std::vector<std::string>{"example.com", "www.example.com"}));
  EXPECT_FALSE(ca_.requests[0].replaces_cert_id.has_value());
  EXPECT_EQ(ca_.requests[0].cancel != nullptr, true);
  // 90-day certificate: renewal 30 days before the end, i.e. 60 days in.
  EXPECT_EQ(next, t0 + 60 * 24h);
  const std::string first = Serial("example.com");
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(Serial("www.example.com"), first);
  EXPECT_EQ(Serial("no-sni.example"), first) << "set as default for handshakes without a matching SNI";
  ASSERT_EQ(solver_.presented.size(), 1u);
  EXPECT_EQ(solver_.cleaned.size(), 1u);

  // Nothing happens before the renewal time...
  RunUntil(*m, t0 + 60 * 24h - 1s);
  EXPECT_EQ(ca_.obtain_count(), 1);
  // ...and at it, a renewal that the store serves at once (hot swap).
  RunUntil(*m, t0 + 60 * 24h + 1s);
  ASSERT_EQ(ca_.obtain_count(), 2);
  EXPECT_EQ(ca_.obtain_times[1], t0 + 60 * 24h);
  EXPECT_NE(Serial("example.com"), first);
  EXPECT_EQ(m->status().not_after, t0 + 60 * 24h + 90 * 24h);

  // The renewed certificate is on disk for the next start.
  auto stored = LoadCertificateFiles(Paths());
  ASSERT_TRUE(stored.ok()) << stored.error().message();
  EXPECT_EQ(stored->cert->serial_hex(), Serial("example.com"));
  EXPECT_FALSE(stored->meta_was_stale);
  struct stat st;
  ASSERT_EQ(::stat(Paths().key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(FileExists(Paths().next_key));
}

TEST_F(CertManagerTest, ScheduleFollowsTheLifetimeNotAFixedTimer) {
  ca_.lifetime = 6 * 24h;  // a short-lived profile
  auto m = Make();
  const TimePoint t0 = clock_.Now();
  m->Tick();
  EXPECT_EQ(m->Tick(), t0 + 4 * 24h);
}

TEST_F(CertManagerTest, StoredCertificateIsReusedAtStartWithoutAnOrder) {
  const TimePoint t0 = clock_.Now();
  WriteStored(MakeCert({"example.com", "www.example.com"}, t0 - 10 * 24h, t0 + 80 * 24h, 77));
  auto m = Make();
  EXPECT_TRUE(m->LoadStored());
  ASSERT_NE(store_->Select("www.example.com"), nullptr);
  const std::string serial = Serial("example.com");
  const TimePoint next = m->Tick();
  EXPECT_EQ(ca_.obtain_count(), 0);
  EXPECT_EQ(next, t0 + 80 * 24h - 30 * 24h);
  EXPECT_EQ(Serial("example.com"), serial);
  const auto s = m->status();
  EXPECT_TRUE(s.has_certificate);
  EXPECT_EQ(s.issuer.find("bastion test CA") != std::string::npos, true) << s.issuer;
  ASSERT_TRUE(s.next_renewal.has_value());
  EXPECT_EQ(*s.next_renewal, t0 + 50 * 24h);
}

TEST_F(CertManagerTest, StoredCertificateThatIsExpiredOrForOtherNamesIsReplaced) {
  const TimePoint t0 = clock_.Now();
  WriteStored(MakeCert({"example.com", "www.example.com"}, t0 - 100 * 24h, t0 - 10 * 24h, 5));
  auto m = Make();
  EXPECT_FALSE(m->LoadStored());
  m->Tick();
  EXPECT_EQ(ca_.obtain_count(), 1);

  WriteStored(MakeCert({"example.com"}, t0, t0 + 80 * 24h, 6));  // lacks www
  auto m2 = Make();
  EXPECT_FALSE(m2->LoadStored());
  EXPECT_TRUE(LogContains("does not cover"));
}

TEST_F(CertManagerTest, CorruptFilesInTheStateDirAreLoggedAndReplaced) {
  ASSERT_TRUE(MakeDirectories(Paths().dir).ok());
  ASSERT_TRUE(WriteFileAtomic(Paths().cert, "-----BEGIN CERTIFICATE-----\ngarbage\n").ok());
  ASSERT_TRUE(WriteFileAtomic(Paths().key, "not a key").ok());
  ASSERT_TRUE(WriteFileAtomic(Paths().meta, "{\"domains\": 7, \"not_after\": [").ok());
  auto m = Make();
  EXPECT_FALSE(m->LoadStored());
  EXPECT_TRUE(LogContains("ignoring the stored certificate"));
  m->Tick();
  EXPECT_EQ(ca_.obtain_count(), 1);
  auto stored = LoadCertificateFiles(Paths());
  ASSERT_TRUE(stored.ok()) << stored.error().message();
}

TEST_F(CertManagerTest, AriWindowIsRespectedAndReplacesIsSent) {
  const TimePoint t0 = clock_.Now();
  // The window lies after the 1/3 point (day 60): the manager must wait for it.
  const TimePoint ws = t0 + 70 * 24h, we = t0 + 72 * 24h;
  ca_.renewal_info = [&]() -> std::variant<std::optional<acme::RenewalInfo>, acme::AcmeError> {
    // The window of the latest certificate: 70..72 days after it was issued.
    const TimePoint issued = ca_.obtain_times.back();
    acme::RenewalInfo info;
    info.window_start = issued + 70 * 24h;
    info.window_end = issued + 72 * 24h;
    info.retry_after = 6h;
    return std::optional<acme::RenewalInfo>(info);
  };
  auto m = Make();
  m->Tick();
  ASSERT_EQ(ca_.obtain_count(), 1);
  const std::string old_chain = store_->Select("example.com")->chain_pem();
  auto old_id = acme::AriCertId(old_chain);
  ASSERT_TRUE(old_id.ok()) << old_id.error().message();

  RunUntil(*m, t0 + 65 * 24h);
  EXPECT_EQ(ca_.obtain_count(), 1) << "no renewal at the 1/3 point while ARI says later";
  // Polled about every 6 h (Retry-After): 65 days / 6 h = 260 polls, and not much more.
  EXPECT_GE(ca_.renewal_info_calls, 255);
  EXPECT_LE(ca_.renewal_info_calls, 265);
  const auto s = m->status();
  ASSERT_TRUE(s.next_renewal.has_value());
  EXPECT_GE(*s.next_renewal, ws);
  EXPECT_LE(*s.next_renewal, we);
  ASSERT_TRUE(s.ari_window_start.has_value());

  RunUntil(*m, we + 1s);
  ASSERT_EQ(ca_.obtain_count(), 2);
  EXPECT_GE(ca_.obtain_times[1], ws);
  EXPECT_LE(ca_.obtain_times[1], we);
  ASSERT_TRUE(ca_.requests[1].replaces_cert_id.has_value());
  EXPECT_EQ(*ca_.requests[1].replaces_cert_id, *old_id);
}

TEST_F(CertManagerTest, AriPicksAreSpreadInsideTheWindow) {
  // Many servers with the same window must not all renew at the same second.
  const TimePoint t0 = clock_.Now();
  std::vector<TimePoint> picks;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    std::filesystem::remove_all(dir_ + "/certs");
    ca_.renewal_info = [&]() -> std::variant<std::optional<acme::RenewalInfo>, acme::AcmeError> {
      acme::RenewalInfo info;
      info.window_start = t0 + 50 * 24h;
      info.window_end = t0 + 52 * 24h;
      return std::optional<acme::RenewalInfo>(info);
    };
    auto o = Options();
    o.random_seed = seed;
    auto m = Make(o);
    m->Tick();  // obtains
    m->Tick();  // polls ARI
    picks.push_back(*m->status().next_renewal);
    EXPECT_GE(picks.back(), t0 + 50 * 24h);
    EXPECT_LE(picks.back(), t0 + 52 * 24h);
  }
  std::sort(picks.begin(), picks.end());
  EXPECT_NE(picks.front(), picks.back());
}

TEST_F(CertManagerTest, AriWithoutRenewalInfoFallsBackToOneThirdAndStopsPolling) {
  auto m = Make();
  const TimePoint t0 = clock_.Now();
  m->Tick();
  RunUntil(*m, t0 + 59 * 24h);
  EXPECT_EQ(ca_.renewal_info_calls, 1);
  EXPECT_EQ(ca_.obtain_count(), 1);
}

TEST_F(CertManagerTest, FailuresBackOffExponentiallyWithJitterAndCap) {
  ca_.always_fail = true;
  ca_.failure = acme::AcmeError{"urn:ietf:params:acme:error:serverInternal", "the CA is down", 500, std::nullopt};
  auto m = Make();
  const TimePoint t0 = clock_.Now();
  RunUntil(*m, t0 + 40 * 24h);
  const auto& times = ca_.obtain_times;
  ASSERT_GE(times.size(), 15u);
  bool jittered = false;
  for (size_t i = 1; i < times.size(); ++i) {
    const double delay = static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(times[i] - times[i - 1]).count());
    const double base = std::min(60.0 * std::pow(2.0, static_cast<double>(i - 1)), 86400.0);
    EXPECT_GE(delay, 0.8 * base - 1) << "attempt " << i;
    EXPECT_LE(delay, std::min(1.2 * base, 86400.0) + 1) << "attempt " << i;
    if (std::abs(delay - base) > 1) jittered = true;
  }
  EXPECT_TRUE(jittered);
  const auto s = m->status();
  EXPECT_FALSE(s.has_certificate);
  EXPECT_EQ(s.consecutive_failures, static_cast<int>(times.size()));
  EXPECT_NE(s.last_error.find("the CA is down"), std::string::npos) << s.last_error;
  EXPECT_TRUE(LogContains("the CA is down"));
  // The failure is on disk for `bastion cert status`.
  auto meta = MetaFromJson(ReadFile(Paths().meta).value());
  ASSERT_TRUE(meta.ok());
  EXPECT_NE(meta->last_error.find("the CA is down"), std::string::npos);
  EXPECT_TRUE(meta->next_attempt.has_value());

  // Success resets the backoff.
  ca_.always_fail = false;
  RunUntil(*m, clock_.Now() + 25h);
  EXPECT_TRUE(m->status().has_certificate);
  EXPECT_EQ(m->status().consecutive_failures, 0);
  EXPECT_TRUE(m->status().last_error.empty());
}

TEST_F(CertManagerTest, RetryAfterFromTheCaIsHonoured) {
  acme::AcmeError limited{"urn:ietf:params:acme:error:rateLimited", "too many certificates", 429, 3h};
  ca_.failures.push_back(limited);
  auto m = Make();
  const TimePoint t0 = clock_.Now();
  const TimePoint next = m->Tick();
  EXPECT_EQ(next, t0 + 3h) << "the CA's Retry-After beats the 1 min backoff";
  RunUntil(*m, t0 + 3h - 1s);
  EXPECT_EQ(ca_.obtain_count(), 1);
  RunUntil(*m, t0 + 3h + 1s);
  EXPECT_EQ(ca_.obtain_count(), 2);
  EXPECT_TRUE(m->status().has_certificate);
  EXPECT_TRUE(LogContains("too many certificates"));
}

TEST_F(CertManagerTest, AlreadyReplacedIsRetriedWithoutReplaces) {
  ca_.renewal_info = [&]() -> std::variant<std::optional<acme::RenewalInfo>, acme::AcmeError> {
    acme::RenewalInfo info;
    info.window_start = clock_.Now() - 1h;  // due now
    info.window_end = clock_.Now() - 1s;
    return std::optional<acme::RenewalInfo>(info);
  };
  auto m = Make();
  m->Tick();
  clock_.Advance(2h);  // a just-issued certificate is never renewed through ARI (loop guard)
  ca_.failures.push_back({"urn:ietf:params:acme:error:alreadyReplaced", "replaced already", 409, std::nullopt});
  m->Tick();
  ASSERT_EQ(ca_.obtain_count(), 3);
  EXPECT_TRUE(ca_.requests[1].replaces_cert_id.has_value());
  EXPECT_FALSE(ca_.requests[2].replaces_cert_id.has_value());
  EXPECT_EQ(m->status().consecutive_failures, 0);
}

TEST_F(CertManagerTest, TwoManagersOnOneStateDirOrderOnce) {
  // Manager A orders; while its order is in flight (holding the lock), B wants the same
  // certificate, waits for the lock, re-checks and adopts A's certificate instead of ordering.
  std::mutex mu;
  std::condition_variable cv;
  bool a_in_order = false, release_a = false;
  ca_.on_obtain = [&] {
    std::unique_lock lock(mu);
    a_in_order = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release_a; });
  };
  auto store_b = std::make_shared<tls::CertificateStore>();
  auto a = Make();
  auto ob = Options();
  ob.lock_wait = 10s;
  auto b = Make(ob, store_b);
  std::thread ta([&] { a->Tick(); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return a_in_order; });
  }
  std::thread tb([&] { b->Tick(); });
  std::this_thread::sleep_for(100ms);  // B is now waiting for the lock (or about to)
  {
    std::lock_guard lock(mu);
    release_a = true;
  }
  cv.notify_all();
  ta.join();
  tb.join();
  EXPECT_EQ(ca_.obtain_count(), 1);
  ASSERT_NE(store_b->Select("example.com"), nullptr);
  EXPECT_EQ(store_b->Select("example.com")->serial_hex(), Serial("example.com"));
}

TEST_F(CertManagerTest, BusyLockIsNotAFailureAndTheResultIsPickedUpFromDisk) {
  auto m = Make();
  const TimePoint t0 = clock_.Now();
  ASSERT_TRUE(MakeDirectories(Paths().dir).ok());
  {
    auto held = FileLock::Acquire(Paths().lock, 0ms);  // "another process" is ordering
    ASSERT_TRUE(held.ok());
    const TimePoint next = m->Tick();
    EXPECT_EQ(ca_.obtain_count(), 0);
    EXPECT_EQ(next, t0 + 5s);
    EXPECT_EQ(m->status().consecutive_failures, 0);
    // The other process finishes and writes its certificate.
    WriteStored(MakeCert({"example.com", "www.example.com"}, t0, t0 + 90 * 24h, 4242));
  }
  clock_.Advance(5s);
  m->Tick();
  EXPECT_EQ(ca_.obtain_count(), 0);
  EXPECT_EQ(Serial("example.com"), "1092");  // 4242 in hex
}

TEST_F(CertManagerTest, AnotherProcessRenewalIsPickedUpWithinSeconds) {
  const TimePoint t0 = clock_.Now();
  WriteStored(MakeCert({"example.com", "www.example.com"}, t0, t0 + 90 * 24h, 1));
  auto o = Options();
  o.disk_poll_interval = 50ms;
  auto server = Make(o);
  ASSERT_TRUE(server->Start().ok());
  EXPECT_EQ(Serial("example.com"), "01");

  // `bastion cert renew --force` in another process: its own manager, no store.
  auto cmd_options = Options();
  cmd_options.lock_wait = 10s;
  auto cmd = std::make_unique<CertManager>(cmd_options, std::make_unique<FakeAcmeClient>(ca_), solver_, nullptr);
  auto outcome = cmd->RenewNow(/*force=*/false);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(*outcome, RenewOutcome::kNotDue);
  outcome = cmd->RenewNow(/*force=*/true);
  ASSERT_TRUE(outcome.ok()) << outcome.error().message();
  EXPECT_EQ(*outcome, RenewOutcome::kRenewed);
  auto on_disk = LoadCertificateFiles(Paths());
  ASSERT_TRUE(on_disk.ok());
  const std::string renewed = on_disk->cert->serial_hex();
  EXPECT_NE(renewed, "01");

  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (Serial("example.com") != renewed && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(Serial("example.com"), renewed);
  server->Stop();
  EXPECT_EQ(ca_.obtain_count(), 1) << "only the command ordered";
}

TEST_F(CertManagerTest, StartNeverBlocksOnTheCa) {
  // The CA hangs; Start returns at once and Stop cancels the attempt.
  std::atomic<bool> in_obtain{false};
  ca_.on_obtain = [&] {
    in_obtain = true;
    std::this_thread::sleep_for(300ms);
  };
  auto m = Make();
  const auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(m->Start().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - before, 200ms);
  while (!in_obtain) std::this_thread::sleep_for(5ms);
  m->Stop();
}

TEST_F(CertManagerTest, RenewedCertificateIsWrittenBeforeItIsServed) {
  auto m = Make();
  m->Tick();
  auto stored = LoadCertificateFiles(Paths());
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->cert->serial_hex(), Serial("example.com"));
  auto meta = MetaFromJson(ReadFile(Paths().meta).value());
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->serial_hex, Serial("example.com"));
  EXPECT_EQ(meta->domains, (std::vector<std::string>{"example.com", "www.example.com"}));
  EXPECT_EQ(meta->directory_url, kCa);
  EXPECT_FALSE(meta->ari_cert_id.empty());
}

// ---- crash safety of the storage ----

class CertStorageTest : public CertManagerTest {};

TEST_F(CertStorageTest, EveryCrashPointLeavesALoadablePair) {
  const TimePoint t0 = clock_.Now();
  auto old_cert = MakeCert({"example.com"}, t0, t0 + 90 * 24h, 1);
  auto new_cert = MakeCert({"example.com"}, t0, t0 + 90 * 24h, 2);
  const CertPaths p = Paths();
  CertMeta meta;
  meta.domains = {"example.com"};
  meta.serial_hex = "01";
  ASSERT_TRUE(WriteCertificateFiles(p, old_cert.chain_pem, old_cert.key_pem, meta).ok());

  // Crash 1: after next-key.pem, before cert.pem: the old pair.
  ASSERT_TRUE(WriteFileAtomic(p.next_key, new_cert.key_pem, 0600).ok());
  auto s = LoadCertificateFiles(p);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->cert->serial_hex(), "01");

  // Crash 2: after cert.pem, before the key rename: the new pair (key from next-key.pem).
  ASSERT_TRUE(WriteFileAtomic(p.cert, new_cert.chain_pem).ok());
  s = LoadCertificateFiles(p);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->cert->serial_hex(), "02");
  EXPECT_TRUE(s->meta_was_stale) << "meta.json still describes serial 01";
  EXPECT_EQ(s->meta.serial_hex, "02");

  // Crash 3: after the rename, before meta.json: the new pair, meta rebuilt from the cert.
  ASSERT_EQ(::rename(p.next_key.c_str(), p.key.c_str()), 0);
  s = LoadCertificateFiles(p);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->cert->serial_hex(), "02");
  EXPECT_EQ(s->meta.not_after, t0 + 90 * 24h);

  // Leftover temporary files (a kill -9 inside WriteFileAtomic) change nothing.
  ASSERT_TRUE(WriteFileAtomic(p.dir + "/cert.pem.tmp-1-deadbeef", "partial").ok());
  s = LoadCertificateFiles(p);
  ASSERT_TRUE(s.ok());

  // A manager started on this state resumes with the new certificate, without ordering.
  auto o = Options();
  o.domains = {"example.com"};
  auto m = Make(o);
  EXPECT_TRUE(m->LoadStored());
  m->Tick();
  EXPECT_EQ(ca_.obtain_count(), 0);
  EXPECT_EQ(Serial("example.com"), "02");
}

TEST_F(CertStorageTest, CrashMidOrderRestartsTheOrder) {
  // kill -9 during an order: the flock died with the process, the lock file remains, and at
  // most a next-key.pem without its certificate was written.
  ASSERT_TRUE(MakeDirectories(Paths().dir).ok());
  { ASSERT_TRUE(FileLock::Acquire(Paths().lock, 0ms).ok()); }
  ASSERT_TRUE(WriteFileAtomic(Paths().next_key, "half an order", 0600).ok());
  auto m = Make();
  EXPECT_FALSE(m->LoadStored());
  m->Tick();
  EXPECT_EQ(ca_.obtain_count(), 1);
  EXPECT_TRUE(m->status().has_certificate);
}

TEST(CertStorageNames, Layout) {
  EXPECT_EQ(CaDirName("https://acme-v02.api.letsencrypt.org/directory"), "acme-v02.api.letsencrypt.org");
  EXPECT_EQ(CaDirName("https://localhost:14000/dir"), "localhost-14000");
  EXPECT_EQ(CaDirName("https://user@Evil/../x"), "evil");
  EXPECT_EQ(DomainDirName("*.Example.com"), "wildcard_.example.com");
  EXPECT_EQ(DomainDirName(".."), "_..");
  EXPECT_EQ(DomainDirName("a/b"), "a_b");
  const CertPaths p = CertPathsFor("/s", "https://localhost:14000/dir", "Example.com");
  EXPECT_EQ(p.cert, "/s/certs/localhost-14000/example.com/cert.pem");
  EXPECT_EQ(p.lock, "/s/certs/localhost-14000/example.com.lock");
  EXPECT_EQ(AccountKeyPath("/s", "https://localhost:14000/dir"), "/s/acme/localhost-14000/account.key");
  EXPECT_EQ(NormalizeDomains({"B.com.", "a.com", "b.com", " ", ""}), (std::vector<std::string>{"a.com", "b.com"}));
  EXPECT_EQ(ResolveAcmeDirectoryUrl("staging"), acme::kLetsEncryptStagingDirectory);
  EXPECT_EQ(ResolveAcmeDirectoryUrl(""), acme::kLetsEncryptDirectory);
  EXPECT_EQ(ResolveAcmeDirectoryUrl("https://x/dir"), "https://x/dir");
}

TEST(CertStorageNames, TimeAndMetaRoundTrip) {
  const auto t = ParseTime("2026-05-13T10:00:00Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatTime(*t), "2026-05-13T10:00:00Z");
  EXPECT_FALSE(ParseTime("2026-05-13").has_value());
  EXPECT_FALSE(ParseTime("").has_value());
  CertMeta m;
  m.domains = {"a.com"};
  m.serial_hex = "0A";
  m.not_after = *t;
  m.next_renewal = *t - std::chrono::hours(24);
  m.last_error = "rateLimited: \"quoted\"";
  m.consecutive_failures = 3;
  auto back = MetaFromJson(MetaToJson(m));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->domains, m.domains);
  EXPECT_EQ(back->not_after, m.not_after);
  EXPECT_EQ(back->next_renewal, m.next_renewal);
  EXPECT_EQ(back->last_error, m.last_error);
  EXPECT_EQ(back->consecutive_failures, 3);
  EXPECT_FALSE(back->next_attempt.has_value());
  for (const char* bad : {"", "[]", "{", "null", "{\"domains\":\"x\",\"consecutive_failures\":\"y\"}"}) {
    auto r = MetaFromJson(bad);
    if (r.ok()) {
      EXPECT_TRUE(r->domains.empty()) << bad;
    }
  }
}

}  // namespace
}  // namespace bastion::certs
