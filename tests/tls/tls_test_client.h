// A blocking OpenSSL client for the TLS tests: connects to 127.0.0.1, with optional SNI, ALPN,
// protocol range, TLS 1.2 cipher list, a session to resume and a CA to verify against, and
// speaks just enough HTTP/1.1 to send a request and read one Content-Length response.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bastion::tls::testing {

struct ClientOptions {
  std::string sni;
  std::vector<std::string> alpn;
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  std::string tls12_ciphers;      // "" = OpenSSL's default
  SSL_SESSION* session = nullptr; // to resume (not owned)
  std::string ca_file;            // verify the server against this CA ("" = no verification)
  std::string verify_host;        // with ca_file: the name the certificate must match
};

class Client {
 public:
  ~Client() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }

  // Connects and handshakes; on failure returns null and fills *error.
  static std::unique_ptr<Client> Connect(uint16_t port, const ClientOptions& o, std::string* error) {
    std::unique_ptr<Client> c(new Client());
    c->ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(c->ctx_, 0);  // let the client offer old things the server must refuse
    SSL_CTX_set_min_proto_version(c->ctx_, o.min_version);
    SSL_CTX_set_max_proto_version(c->ctx_, o.max_version);
    if (!o.tls12_ciphers.empty()) SSL_CTX_set_cipher_list(c->ctx_, o.tls12_ciphers.c_str());
    SSL_CTX_set_session_cache_mode(c->ctx_, SSL_SESS_CACHE_CLIENT);
    if (!o.ca_file.empty()) {
      SSL_CTX_load_verify_locations(c->ctx_, o.ca_file.c_str(), nullptr);
      SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
    }
    c->fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    setsockopt(c->fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(c->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      *error = "connect failed";
      return nullptr;
    }
    c->ssl_ = SSL_new(c->ctx_);
    SSL_set_fd(c->ssl_, c->fd_);
    if (!o.sni.empty()) SSL_set_tlsext_host_name(c->ssl_, o.sni.c_str());
    if (!o.verify_host.empty()) SSL_set1_host(c->ssl_, o.verify_host.c_str());
    if (!o.alpn.empty()) {
      std::string wire;
      for (const std::string& p : o.alpn) wire += static_cast<char>(p.size()) + p;
      SSL_set_alpn_protos(c->ssl_, reinterpret_cast<const unsigned char*>(wire.data()), static_cast<unsigned>(wire.size()));
    }
    if (o.session) SSL_set_session(c->ssl_, o.session);
    if (SSL_connect(c->ssl_) != 1) {
      char buf[256] = "handshake failed";
      if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
      ERR_clear_error();
      *error = buf;
      return nullptr;
    }
    return c;
  }

  SSL* ssl() const { return ssl_; }

  std::string PeerSerial() const {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (!cert) return "";
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
    char* hex = BN_bn2hex(bn);
    std::string out(hex);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    OPENSSL_free(hex);
    BN_free(bn);
    X509_free(cert);
    return out;
  }
  std::string Alpn() const {
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    return std::string(reinterpret_cast<const char*>(p), len);
  }
  std::string Version() const { return SSL_get_version(ssl_); }
  std::string Cipher() const { return SSL_get_cipher_name(ssl_); }
  bool Resumed() const { return SSL_session_reused(ssl_) == 1; }
  // The session to resume later (caller frees with SSL_SESSION_free). For TLS 1.3 the ticket
  // arrives after the handshake: call after a response was read.
  SSL_SESSION* Session() const { return SSL_get1_session(ssl_); }

  // Sends a GET and returns the whole response (head + body), or "" on failure.
  std::string Get(const std::string& path, const std::string& host = "localhost", const std::string& extra = "") {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
    if (SSL_write(ssl_, req.data(), static_cast<int>(req.size())) <= 0) return "";
    std::string in;
    char buf[4096];
    while (true) {
      const size_t head_end = in.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        size_t length = 0;
        std::string lower = in.substr(0, head_end);
        for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (size_t at = lower.find("content-length:"); at != std::string::npos) length = std::stoul(lower.substr(at + 15));
        if (in.size() >= head_end + 4 + length) return in;
      }
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) return "";
      in.append(buf, static_cast<size_t>(n));
    }
  }

  // True when the next read sees the server's close_notify (a clean TLS close).
  bool ReceivesCloseNotify() {
    char buf[16];
    const int n = SSL_read(ssl_, buf, sizeof buf);
    const bool clean = n <= 0 && SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN;
    ERR_clear_error();
    return clean;
  }

  // True when the server ends the connection (close_notify or EOF) without sending data.
  bool ServerCloses() {
    char buf[16];
    const int n = SSL_read(ssl_, buf, sizeof buf);
    ERR_clear_error();
    return n <= 0;
  }

 private:
  Client() = default;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
};

}  // namespace bastion::tls::testing
