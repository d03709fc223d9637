// The serve command's answer to ACME challenges: HTTP-01 tokens go to the plain-HTTP listener's
// responder, TLS-ALPN-01 certificates (RFC 8737) to the TLS listener's certificate store, where
// only handshakes offering ALPN "acme-tls/1" for that name see them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "acme/acme_client.h"
#include "http/acme_http01.h"
#include "tls/certificate_store.h"

namespace bastion::cli {

class ListenerChallengeSolver : public acme::ChallengeSolver {
 public:
  // http01: nullptr when there is no plain-HTTP listener (then only TLS-ALPN-01 is offered).
  // store: nullptr when there is no TLS listener (then only HTTP-01).
  ListenerChallengeSolver(std::shared_ptr<http::AcmeHttp01Responder> http01, std::shared_ptr<tls::CertificateStore> store)
      : http01_(std::move(http01)), store_(std::move(store)) {}

  std::vector<acme::ChallengeType> Supported() const override;
  Status Present(acme::ChallengeType type, const std::string& domain, const std::string& token,
                 const std::string& key_authorization) override;
  void CleanUp(acme::ChallengeType type, const std::string& domain, const std::string& token) override;

 private:
  std::shared_ptr<http::AcmeHttp01Responder> http01_;
  std::shared_ptr<tls::CertificateStore> store_;
};

}  // namespace bastion::cli
