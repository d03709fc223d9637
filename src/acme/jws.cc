#include "acme/jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <vector>

#include "acme/base64url.h"
#include "base/atomic_file.h"

namespace bastion::acme {
namespace {

std::string Sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), len);
}

// One big-endian coordinate as a fixed 32-byte string (JWK EC coordinates keep leading zeros).
std::string KeyParamFixed(EVP_PKEY* key, const char* name, int size) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return {};
  std::string out(static_cast<size_t>(size), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), size);
  BN_free(bn);
  return out;
}

}  // namespace

void AccountKey::Free::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

AccountKey::AccountKey(EVP_PKEY* key) : key_(key, Free()) {}

Result<AccountKey> AccountKey::Generate() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return Error("generating a P-256 key failed");
  return AccountKey(key);
}

Result<AccountKey> AccountKey::FromPem(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return Error("not a PEM private key");
  AccountKey out(key);
  char group[64] = {0};
  size_t group_len = 0;
  if (!EVP_PKEY_is_a(key, "EC") ||
      EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &group_len) != 1 ||
      std::string_view(group) != "prime256v1") {
    return Error("the account key must be an ECDSA P-256 key (ES256)");
  }
  return out;
}

Result<AccountKey> AccountKey::LoadOrCreate(const std::string& path) {
  if (FileExists(path)) {
    BASTION_ASSIGN_OR_RETURN(std::string pem, ReadFile(path, 64 * 1024));
    auto key = FromPem(pem);
    if (!key.ok()) return key.error().WithContext("account key " + path);
    return key;
  }
  BASTION_ASSIGN_OR_RETURN(AccountKey key, Generate());
  BASTION_RETURN_IF_ERROR(WriteFileAtomic(path, key.ToPem(), 0600));
  return key;
}

std::string AccountKey::ToPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

nlohmann::json AccountKey::Jwk() const {
  nlohmann::json jwk;
  jwk["crv"] = "P-256";
  jwk["kty"] = "EC";
  jwk["x"] = Base64UrlEncode(KeyParamFixed(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32));
  jwk["y"] = Base64UrlEncode(KeyParamFixed(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32));
  return jwk;
}

std::string AccountKey::Thumbprint() const { return JwkThumbprint(Jwk()).value(); }

Result<std::string> AccountKey::Sign(std::string_view data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::vector<unsigned char> der;
  bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  if (ok) {
    der.resize(len);
    ok = EVP_DigestSign(ctx, der.data(), &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return Error("ECDSA signing failed");
  return EcdsaDerToRaw(std::string_view(reinterpret_cast<const char*>(der.data()), len), 32);
}

Result<std::string> JwkThumbprint(const nlohmann::json& jwk) {
  if (!jwk.is_object()) return Error("JWK is not an object");
  const auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) return Error("JWK has no kty");
  std::vector<const char*> members;
  if (*kty == "EC") {
    members = {"crv", "kty", "x", "y"};
  } else if (*kty == "RSA") {
    members = {"e", "kty", "n"};
  } else {
    return Error("JWK thumbprint: unsupported kty");
  }
  // nlohmann::json objects are std::map-ordered and dump() without indent has no whitespace,
  // which is exactly RFC 7638's canonical form for these all-ASCII string members.
  nlohmann::json canonical = nlohmann::json::object();
  for (const char* m : members) {
    const auto it = jwk.find(m);
    if (it == jwk.end() || !it->is_string()) return Error(std::string("JWK member missing: ") + m);
    canonical[m] = *it;
  }
  return Base64UrlEncode(Sha256(canonical.dump()));
}

Result<std::string> EcdsaDerToRaw(std::string_view der, size_t part_size) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (sig == nullptr || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    ECDSA_SIG_free(sig);
    return Error("malformed DER ECDSA signature");
  }
  const BIGNUM* r = ECDSA_SIG_get0_r(sig);
  const BIGNUM* s = ECDSA_SIG_get0_s(sig);
  if (static_cast<size_t>(BN_num_bytes(r)) > part_size || static_cast<size_t>(BN_num_bytes(s)) > part_size ||
      BN_is_negative(r) || BN_is_negative(s)) {
    ECDSA_SIG_free(sig);
    return Error("ECDSA signature part larger than the curve");
  }
  std::string out(2 * part_size, '\0');
  BN_bn2binpad(r, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(part_size));
  BN_bn2binpad(s, reinterpret_cast<unsigned char*>(out.data()) + part_size, static_cast<int>(part_size));
  ECDSA_SIG_free(sig);
  return out;
}

Result<std::string> SignJws(const AccountKey& key, const std::string& url, const std::string& nonce,
                            const std::string& kid, std::string_view payload) {
  nlohmann::json header;
  header["alg"] = "ES256";
  header["nonce"] = nonce;
  header["url"] = url;
  if (kid.empty()) {
    header["jwk"] = key.Jwk();
  } else {
    header["kid"] = kid;
  }
  // replace: a URL or nonce from a hostile CA must not make dump() throw on invalid UTF-8.
  const std::string protected_b64 =
      Base64UrlEncode(header.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  const std::string payload_b64 = Base64UrlEncode(payload);
  BASTION_ASSIGN_OR_RETURN(std::string signature, key.Sign(protected_b64 + "." + payload_b64));
  nlohmann::json jws;
  jws["protected"] = protected_b64;
  jws["payload"] = payload_b64;
  jws["signature"] = Base64UrlEncode(signature);
  return jws.dump();
}

std::string KeyAuthorization(const std::string& token, const AccountKey& key) {
  return token + "." + key.Thumbprint();
}

}  // namespace bastion::acme
