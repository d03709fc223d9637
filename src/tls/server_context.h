// The hardened OpenSSL server context of the HTTPS listener.
//
// What every handshake gets (docs/TLS.md explains why):
//   * TLS 1.2 and 1.3 only; ECDHE key exchange and AEAD ciphers only (AES-GCM, ChaCha20-Poly1305),
//     the server's order of preference; no compression; no renegotiation.
//   * Resumption: session tickets encrypted with in-memory random keys that rotate (current +
//     previous are accepted, so a ticket lives at most two rotation periods), plus a server-side
//     session cache for TLS 1.2 clients without ticket support.
//   * Certificates come from a CertificateStore, chosen per handshake in the ClientHello callback
//     from the SNI name: a Put into the store changes the next handshake, never a live connection.
//   * ALPN: "http/1.1" (clients offering no ALPN are served too). "acme-tls/1" only when the
//     store holds a TLS-ALPN-01 challenge certificate for the SNI name: that handshake gets the
//     challenge certificate and IsAcmeChallenge(ssl) is true afterwards — the listener then closes
//     the connection without reading HTTP.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>

#include "base/result.h"
#include "tls/certificate_store.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace bastion::tls {

inline constexpr std::string_view kAlpnHttp11 = "http/1.1";
inline constexpr std::string_view kAlpnAcmeTls = "acme-tls/1";

struct ServerContextOptions {
  // How often the session-ticket key changes. Tickets stay valid for at most twice this.
  std::chrono::seconds ticket_key_rotation = std::chrono::hours(6);
  // TLS 1.2 sessions kept by the server (session-ID resumption).
  long session_cache_size = 20000;
};

class ServerContext {
 public:
  static Result<std::shared_ptr<ServerContext>> Create(std::shared_ptr<CertificateStore> store,
                                                       ServerContextOptions options = {});
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // Borrowed; valid while this object lives. Users that keep it longer take a reference
  // (SSL_CTX_up_ref), as the HTTP layer does for its Asio ssl::context.
  SSL_CTX* native() const { return ctx_; }
  const std::shared_ptr<CertificateStore>& store() const { return store_; }

  // After a handshake on a connection of this context: it was a TLS-ALPN-01 validation.
  static bool IsAcmeChallenge(const SSL* ssl);

  // Makes a new ticket key current now (the old one stays accepted for one more period). Called
  // by the handshake path when the period is over; public for tests.
  void RotateTicketKeys();

  struct TicketKeys;  // internal

 private:
  ServerContext() = default;
  SSL_CTX* ctx_ = nullptr;
  std::shared_ptr<CertificateStore> store_;
  std::unique_ptr<TicketKeys> tickets_;
};

}  // namespace bastion::tls
