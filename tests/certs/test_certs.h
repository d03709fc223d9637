// Test doubles for the certificate manager: certificates made with OpenSSL, a simulated clock,
// a scripted fake ACME CA and a recording challenge solver.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "acme/acme_client.h"
#include "certs/cert_manager.h"

namespace bastion::certs::testing {

struct TestCert {
  std::string chain_pem;
  std::string key_pem;
};

// A self-signed ECDSA P-256 leaf for `names` valid [not_before, not_after], with subject and
// authority key identifiers (so it has an ARI CertID) and the given serial.
TestCert MakeCert(const std::vector<std::string>& names, TimePoint not_before, TimePoint not_after, long serial);

class FakeClock : public Clock {
 public:
  explicit FakeClock(TimePoint start) : now_(start) {}
  TimePoint Now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void Set(TimePoint t) {
    std::lock_guard lock(mutex_);
    now_ = t;
  }
  void Advance(std::chrono::seconds d) {
    std::lock_guard lock(mutex_);
    now_ += d;
  }

 private:
  mutable std::mutex mutex_;
  TimePoint now_;
};

// What a fake CA does; shared between the test and the client the manager owns.
struct FakeCa {
  Clock* clock = nullptr;
  std::chrono::seconds lifetime{std::chrono::hours(24 * 90)};
  std::mutex mutex;
  std::vector<acme::ObtainRequest> requests;  // every Obtain, in order
  std::vector<TimePoint> obtain_times;
  std::deque<acme::AcmeError> failures;       // popped one per Obtain before succeeding
  bool always_fail = false;
  acme::AcmeError failure;                    // used when always_fail
  // Called inside Obtain (before answering) — tests block here to hold the lock.
  std::function<void()> on_obtain;
  // ARI answer; default: no renewalInfo in the directory.
  std::function<std::variant<std::optional<acme::RenewalInfo>, acme::AcmeError>()> renewal_info;
  int renewal_info_calls = 0;
  long next_serial = 1000;
  std::vector<std::string> issued_serials;

  int obtain_count() {
    std::lock_guard lock(mutex);
    return static_cast<int>(requests.size());
  }
};

class FakeAcmeClient : public acme::AcmeClient {
 public:
  explicit FakeAcmeClient(FakeCa& ca) : ca_(ca) {}
  std::variant<acme::ObtainedCertificate, acme::AcmeError> Obtain(const acme::ObtainRequest& request,
                                                                  acme::ChallengeSolver& solver) override;
  std::variant<std::optional<acme::RenewalInfo>, acme::AcmeError> GetRenewalInfo(const std::string& cert_pem) override;

 private:
  FakeCa& ca_;
};

class RecordingSolver : public acme::ChallengeSolver {
 public:
  std::vector<acme::ChallengeType> Supported() const override {
    return {acme::ChallengeType::kHttp01, acme::ChallengeType::kTlsAlpn01};
  }
  Status Present(acme::ChallengeType type, const std::string& domain, const std::string& token,
                 const std::string& key_authorization) override {
    std::lock_guard lock(mutex);
    if (!fail_with.empty()) return Error(fail_with);
    presented.push_back({type, domain, token, key_authorization});
    return OkStatus();
  }
  void CleanUp(acme::ChallengeType type, const std::string& domain, const std::string& token) override {
    std::lock_guard lock(mutex);
    cleaned.push_back({type, domain, token, ""});
  }
  struct Call {
    acme::ChallengeType type;
    std::string domain, token, key_authorization;
  };
  std::mutex mutex;
  std::vector<Call> presented, cleaned;
  std::string fail_with;
};

}  // namespace bastion::certs::testing
