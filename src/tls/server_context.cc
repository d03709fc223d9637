// The hardened SSL_CTX: protocol and cipher policy, the ClientHello callback that picks the
// certificate (SNI, TLS-ALPN-01), the ALPN selection, and rotating session-ticket keys.
#include "tls/server_context.h"

#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include <cstring>
#include <mutex>
#include <string>

#include "tls/openssl_util.h"

namespace bastion::tls {
namespace {

using internal::OpenSslDetail;

// TLS 1.2: ECDHE only (forward secrecy), AEAD only, ECDSA before RSA, AES-128-GCM first (fast
// with AES-NI, and as strong as needed), ChaCha20 for clients without AES hardware (see
// SSL_OP_PRIORITIZE_CHACHA). No DHE (slow, and weak groups in the wild), no CBC, no SHA-1 MACs.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
// TLS 1.3 suites are all AEAD; the CCM ones are left out (rarely offered, no benefit).
constexpr const char* kTls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";

// Our own ex_data slots: Asio uses the app_data slots of SSL and SSL_CTX for itself.
int SslIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
int CtxIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}
// The value stored in the SSL slot for a TLS-ALPN-01 handshake (any non-null pointer).
char kChallengeMark;

struct TicketKey {
  unsigned char name[16];
  unsigned char aes[32];
  unsigned char hmac[32];
};

bool RandomKey(TicketKey* key) {
  return RAND_bytes(key->name, sizeof key->name) == 1 && RAND_bytes(key->aes, sizeof key->aes) == 1 &&
         RAND_bytes(key->hmac, sizeof key->hmac) == 1;
}

// The host_name of the server_name extension (RFC 6066 section 3), or "" when absent/odd.
std::string ParseSni(SSL* ssl) {
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 2) return "";
  const size_t list_len = (size_t{p[0]} << 8) | p[1];
  if (list_len + 2 != len) return "";
  size_t i = 2;
  while (i + 3 <= len) {
    const unsigned type = p[i];
    const size_t name_len = (size_t{p[i + 1]} << 8) | p[i + 2];
    i += 3;
    if (i + name_len > len) return "";
    if (type == TLSEXT_NAMETYPE_host_name) {
      std::string name(reinterpret_cast<const char*>(p + i), name_len);
      // A DNS name has no bytes outside these; anything else matches nothing (default cert).
      for (char c : name) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) return "";
      }
      return name;
    }
    i += name_len;
  }
  return "";
}

// Walks the ALPN protocol list (RFC 7301: 2-byte length, then 1-byte length + name each).
template <class Visit>
void ForEachAlpn(const unsigned char* p, size_t len, Visit visit) {
  size_t i = 0;
  while (i < len) {
    const size_t n = p[i];
    if (n == 0 || i + 1 + n > len) return;
    if (visit(std::string_view(reinterpret_cast<const char*>(p + i + 1), n), p + i + 1)) return;
    i += 1 + n;
  }
}

bool OffersAlpn(SSL* ssl, std::string_view wanted) {
  const unsigned char* p = nullptr;
  size_t len = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &p, &len) != 1 || len < 2) {
    return false;
  }
  const size_t list_len = (size_t{p[0]} << 8) | p[1];
  if (list_len + 2 != len) return false;
  bool found = false;
  ForEachAlpn(p + 2, list_len, [&](std::string_view proto, const unsigned char*) { return found = proto == wanted; });
  return found;
}

}  // namespace

struct ServerContext::TicketKeys {
  std::mutex mu;
  std::chrono::seconds rotation{0};
  std::chrono::steady_clock::time_point rotated_at;
  TicketKey current{};
  TicketKey previous{};
  bool has_previous = false;

  ~TicketKeys() {
    OPENSSL_cleanse(&current, sizeof current);
    OPENSSL_cleanse(&previous, sizeof previous);
  }

  // Under mu.
  bool Rotate() {
    TicketKey next;
    if (!RandomKey(&next)) return false;
    previous = current;
    has_previous = true;
    current = next;
    OPENSSL_cleanse(&next, sizeof next);
    rotated_at = std::chrono::steady_clock::now();
    return true;
  }
};

namespace {

int SetKeys(const TicketKey& key, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, bool encrypt) {
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.hmac), sizeof key.hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  const int ok = encrypt ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv)
                         : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv);
  return ok == 1 ? 1 : -1;
}

// OpenSSL's ticket-key hook (SSL_CTX_set_tlsext_ticket_key_evp_cb): encrypt new tickets with the
// current key; decrypt with current (1) or previous (2 = "issue a fresh ticket"); unknown key
// names (older than two periods, or from another process) mean a full handshake (0).
int TicketKeyCallback(SSL* ssl, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher,
                      EVP_MAC_CTX* mac, int enc) {
  auto* self = static_cast<ServerContext::TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), CtxIndex()));
  if (self == nullptr) return -1;
  std::lock_guard lock(self->mu);
  if (std::chrono::steady_clock::now() - self->rotated_at >= self->rotation && !self->Rotate()) return -1;
  if (enc == 1) {
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
    std::memcpy(key_name, self->current.name, sizeof self->current.name);
    return SetKeys(self->current, iv, cipher, mac, true);
  }
  // TLS 1.3 clients use a ticket once, and OpenSSL sends a resumed TLS 1.3 connection a new
  // ticket only when asked to renew (2): without it every other reconnect is a full handshake.
  const bool tls13 = SSL_version(ssl) == TLS1_3_VERSION;
  if (std::memcmp(key_name, self->current.name, 16) == 0) {
    const int r = SetKeys(self->current, iv, cipher, mac, false);
    return r == 1 && tls13 ? 2 : r;
  }
  if (self->has_previous && std::memcmp(key_name, self->previous.name, 16) == 0) {
    const int r = SetKeys(self->previous, iv, cipher, mac, false);
    return r == 1 ? 2 : r;
  }
  return 0;
}

int ClientHelloCallback(SSL* ssl, int* alert, void* arg) {
  auto* self = static_cast<ServerContext*>(arg);
  const std::string sni = ParseSni(ssl);
  std::shared_ptr<const CertifiedKey> cert;
  SSL_set_ex_data(ssl, SslIndex(), nullptr);
  if (!sni.empty() && OffersAlpn(ssl, kAlpnAcmeTls)) {
    cert = self->store()->SelectAlpnChallenge(sni);
    if (cert != nullptr) {
      SSL_set_ex_data(ssl, SslIndex(), &kChallengeMark);
    } else if (!OffersAlpn(ssl, kAlpnHttp11)) {
      // An ACME validator for a name we hold no challenge for: refuse rather than show the real
      // certificate (RFC 8737 section 3).
      *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
      return SSL_CLIENT_HELLO_ERROR;
    }
  }
  if (cert == nullptr) cert = self->store()->Select(sni);
  if (cert == nullptr) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_CLIENT_HELLO_ERROR;
  }
  STACK_OF(X509)* chain = sk_X509_new_null();
  if (chain == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  for (X509* x : cert->intermediates()) sk_X509_push(chain, x);
  // Copies the chain (with references): the CertifiedKey may be replaced in the store while this
  // handshake or connection goes on.
  const int ok = SSL_use_cert_and_key(ssl, cert->leaf(), cert->key(), chain, 1);
  sk_X509_free(chain);
  if (ok != 1) {
    internal::OpenSslErrors();
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

int AlpnSelectCallback(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                       unsigned int inlen, void*) {
  const std::string_view wanted = ServerContext::IsAcmeChallenge(ssl) ? kAlpnAcmeTls : kAlpnHttp11;
  bool found = false;
  ForEachAlpn(in, inlen, [&](std::string_view proto, const unsigned char* at) {
    if (proto != wanted) return false;
    *out = at;
    *outlen = static_cast<unsigned char>(proto.size());
    return found = true;
  });
  // A client that offers protocols but not HTTP/1.1 (h2 only, say) cannot talk to us: tell it so
  // now (RFC 7301 section 3.2) rather than fail on the first request.
  return found ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_ALERT_FATAL;
}

}  // namespace

ServerContext::~ServerContext() {
  if (ctx_ != nullptr) {
    SSL_CTX_set_ex_data(ctx_, CtxIndex(), nullptr);
    SSL_CTX_free(ctx_);
  }
}

bool ServerContext::IsAcmeChallenge(const SSL* ssl) { return SSL_get_ex_data(ssl, SslIndex()) == &kChallengeMark; }

void ServerContext::RotateTicketKeys() {
  std::lock_guard lock(tickets_->mu);
  tickets_->Rotate();
}

Result<std::shared_ptr<ServerContext>> ServerContext::Create(std::shared_ptr<CertificateStore> store,
                                                             ServerContextOptions options) {
  if (store == nullptr) return Error("TLS server context: no certificate store");
  if (options.ticket_key_rotation.count() <= 0) return Error("TLS server context: ticket key rotation must be positive");
  ERR_clear_error();
  std::shared_ptr<ServerContext> self(new ServerContext());
  self->store_ = std::move(store);
  self->tickets_ = std::make_unique<TicketKeys>();
  self->tickets_->rotation = options.ticket_key_rotation;
  if (!RandomKey(&self->tickets_->current)) return Error("TLS server context: no randomness for ticket keys" + OpenSslDetail());
  self->tickets_->rotated_at = std::chrono::steady_clock::now();

  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Error("TLS server context: SSL_CTX_new failed" + OpenSslDetail());
  self->ctx_ = ctx;
  const auto fail = [](const char* what) { return Error(std::string("TLS server context: ") + what + OpenSslDetail()); };
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return fail("cannot set the minimum version");
  if (SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) return fail("cannot set the maximum version");
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_PRIORITIZE_CHACHA);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) return fail("cannot set the TLS 1.2 ciphers");
  if (SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1) return fail("cannot set the TLS 1.3 cipher suites");
  if (SSL_CTX_set1_groups_list(ctx, kGroups) != 1) return fail("cannot set the key exchange groups");
  // Level 2: at least 112-bit security (RSA >= 2048, no SHA-1 signatures).
  SSL_CTX_set_security_level(ctx, 2);

  // Resumption. Sessions live as long as a ticket key may (two rotation periods at most).
  SSL_CTX_set_ex_data(ctx, CtxIndex(), self->tickets_.get());
  if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, TicketKeyCallback) != 1) return fail("cannot install the ticket key hook");
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(ctx, options.session_cache_size);
  SSL_CTX_set_timeout(ctx, static_cast<long>(options.ticket_key_rotation.count()));
  static const unsigned char kSessionContext[] = "bastion";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);

  SSL_CTX_set_client_hello_cb(ctx, ClientHelloCallback, self.get());
  SSL_CTX_set_alpn_select_cb(ctx, AlpnSelectCallback, nullptr);
  ERR_clear_error();
  return self;
}

}  // namespace bastion::tls
