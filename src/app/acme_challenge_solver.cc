#include "app/acme_challenge_solver.h"

namespace bastion::cli {

std::vector<acme::ChallengeType> ListenerChallengeSolver::Supported() const {
  std::vector<acme::ChallengeType> types;
  if (http01_) types.push_back(acme::ChallengeType::kHttp01);
  if (store_) types.push_back(acme::ChallengeType::kTlsAlpn01);
  return types;
}

Status ListenerChallengeSolver::Present(acme::ChallengeType type, const std::string& domain, const std::string& token,
                                        const std::string& key_authorization) {
  switch (type) {
    case acme::ChallengeType::kHttp01:
      if (!http01_) return Error("http-01 needs the plain-HTTP listener (--http-port)");
      http01_->Put(token, key_authorization);
      return OkStatus();
    case acme::ChallengeType::kTlsAlpn01: {
      if (!store_) return Error("tls-alpn-01 needs the TLS listener");
      BASTION_ASSIGN_OR_RETURN(acme::PemPair pem, acme::MakeTlsAlpn01Certificate(domain, key_authorization));
      BASTION_ASSIGN_OR_RETURN(auto cert, tls::CertifiedKey::FromPem(pem.chain_pem, pem.key_pem));
      store_->PutAlpnChallenge(domain, std::move(cert));
      return OkStatus();
    }
  }
  return Error("unknown challenge type");
}

void ListenerChallengeSolver::CleanUp(acme::ChallengeType type, const std::string& domain, const std::string& token) {
  if (type == acme::ChallengeType::kHttp01 && http01_) http01_->Remove(token);
  if (type == acme::ChallengeType::kTlsAlpn01 && store_) store_->RemoveAlpnChallenge(domain);
}

}  // namespace bastion::cli
