// JOSE for ACME (RFC 7515/7517/7518/7638): the ES256 account key, its JWK and thumbprint, and
// flattened JWS objects with the protected header {alg, nonce, url, jwk | kid}.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace bastion::acme {

class AccountKey {
 public:
  static Result<AccountKey> Generate();
  // PKCS#8 or SEC1 PEM holding a P-256 key; any other key type is an error.
  static Result<AccountKey> FromPem(std::string_view pem);
  // Loads the key at `path`, or creates one there (PKCS#8 PEM, mode 0600, written atomically)
  // when the file does not exist.
  static Result<AccountKey> LoadOrCreate(const std::string& path);

  std::string ToPem() const;  // PKCS#8
  // {"crv":"P-256","kty":"EC","x":..,"y":..}: exactly the members RFC 7638 hashes.
  nlohmann::json Jwk() const;
  // base64url(SHA-256(canonical JWK)).
  std::string Thumbprint() const;
  // ES256 over `data`: the raw 64-byte r||s JWS wants (not DER).
  Result<std::string> Sign(std::string_view data) const;

  EVP_PKEY* pkey() const { return key_.get(); }

 private:
  struct Free {
    void operator()(EVP_PKEY* key) const;
  };
  explicit AccountKey(EVP_PKEY* key);  // takes ownership
  std::shared_ptr<EVP_PKEY> key_;
};

// RFC 7638 thumbprint of a public JWK (EC or RSA): SHA-256 over the required members in
// lexicographic order without whitespace, base64url. Errors for other key types or missing
// members.
Result<std::string> JwkThumbprint(const nlohmann::json& jwk);

// An ECDSA signature in DER (SEQUENCE{INTEGER r, INTEGER s}) as the fixed-width r||s of JWS,
// each part left-padded to `part_size` bytes. Errors on malformed DER or oversized parts.
Result<std::string> EcdsaDerToRaw(std::string_view der, size_t part_size);

// A flattened JWS JSON serialization: {"protected","payload","signature"}. `payload` is the
// exact payload bytes ("" for POST-as-GET). With an empty `kid` the header carries the JWK.
Result<std::string> SignJws(const AccountKey& key, const std::string& url, const std::string& nonce,
                            const std::string& kid, std::string_view payload);

// "token.thumbprint" (RFC 8555 section 8.1).
std::string KeyAuthorization(const std::string& token, const AccountKey& key);

}  // namespace bastion::acme
