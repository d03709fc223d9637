#include "certs/test_certs.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <memory>

namespace bastion::certs::testing {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "test certificate: %s failed\n", what);
    std::abort();
  }
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

void AddExt(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  Require(ext != nullptr, "X509V3_EXT_conf_nid");
  Require(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

}  // namespace

TestCert MakeCert(const std::vector<std::string>& names, TimePoint not_before, TimePoint not_after, long serial) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  Require(key != nullptr, "EVP_EC_gen");
  X509Ptr cert(X509_new());
  Require(X509_set_version(cert.get(), 2) == 1, "X509_set_version");
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  const auto to_time_t = [](TimePoint t) { return static_cast<time_t>(std::chrono::system_clock::to_time_t(t)); };
  Require(ASN1_TIME_set(X509_getm_notBefore(cert.get()), to_time_t(not_before)) != nullptr, "notBefore");
  Require(ASN1_TIME_set(X509_getm_notAfter(cert.get()), to_time_t(not_after)) != nullptr, "notAfter");
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("bastion test CA"), -1, -1, 0);
  Require(X509_set_issuer_name(cert.get(), name) == 1, "issuer");
  Require(X509_set_pubkey(cert.get(), key.get()) == 1, "pubkey");
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  std::string san;
  for (const std::string& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
  AddExt(cert.get(), &ctx, NID_subject_alt_name, san);
  AddExt(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  AddExt(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  Require(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "X509_sign");

  TestCert out;
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  Require(PEM_write_bio_X509(cert_bio.get(), cert.get()) == 1, "PEM_write_bio_X509");
  out.chain_pem = BioText(cert_bio.get());
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  Require(PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1, "key PEM");
  out.key_pem = BioText(key_bio.get());
  return out;
}

std::variant<acme::ObtainedCertificate, acme::AcmeError> FakeAcmeClient::Obtain(const acme::ObtainRequest& request,
                                                                                 acme::ChallengeSolver& solver) {
  std::function<void()> hook;
  {
    std::lock_guard lock(ca_.mutex);
    ca_.requests.push_back(request);
    ca_.obtain_times.push_back(ca_.clock->Now());
    hook = ca_.on_obtain;
  }
  if (hook) hook();
  // Exercise the solver as a real client would.
  const std::string token = "tok" + std::to_string(ca_.obtain_count());
  if (Status st = solver.Present(request.challenge_order.front(), request.domains.front(), token, token + ".thumb");
      !st.ok()) {
    return acme::AcmeError{"", "presenting the challenge: " + st.error().message(), 0, std::nullopt};
  }
  solver.CleanUp(request.challenge_order.front(), request.domains.front(), token);
  long serial = 0;
  {
    std::lock_guard lock(ca_.mutex);
    if (!ca_.failures.empty()) {
      acme::AcmeError e = ca_.failures.front();
      ca_.failures.pop_front();
      return e;
    }
    if (ca_.always_fail) return ca_.failure;
    serial = ca_.next_serial++;
  }
  const TimePoint now = ca_.clock->Now();
  TestCert cert = MakeCert(request.domains, now, now + ca_.lifetime, serial);
  return acme::ObtainedCertificate{cert.chain_pem, cert.key_pem, "https://ca.test/order/" + std::to_string(serial)};
}

std::variant<std::optional<acme::RenewalInfo>, acme::AcmeError> FakeAcmeClient::GetRenewalInfo(
    const std::string& /*cert_pem*/) {
  std::function<std::variant<std::optional<acme::RenewalInfo>, acme::AcmeError>()> info;
  {
    std::lock_guard lock(ca_.mutex);
    ++ca_.renewal_info_calls;
    info = ca_.renewal_info;
  }
  if (!info) return std::optional<acme::RenewalInfo>();
  return info();
}

}  // namespace bastion::certs::testing
