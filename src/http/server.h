// Server: the HTTP/1.1 listener. Binds, accepts, and runs each connection (keep-alive, in-order
// pipelining, chunked streaming, limits and timeouts from limits.h) on a pool of I/O threads;
// requests go to a Router. Graceful shutdown lets in-flight responses finish up to a deadline.
// This header is transport-free (no Asio/Beast), so the app and API layers compile fast.
//
// Typical use (the serve command):
//   auto router = std::make_shared<http::Router>();  ... router->Add(...) ...
//   BASTION_ASSIGN_OR_RETURN(auto server, http::Server::Create(options, router));
//   http::TerminationSignals signals;            // before other threads start, ideally
//   signals.Wait();                               // SIGINT or SIGTERM
//   server->Shutdown(std::chrono::seconds(10));
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/result.h"
#include "http/http_types.h"
#include "http/limits.h"
#include "http/router.h"
#include "tls/server_context.h"

namespace bastion::http {

// Called once per request when its response finished, failed or was cancelled, on an I/O
// thread (keep it short). status: what was sent, or 499 when the client left before any
// response; bytes: bytes written for the response (head included); duration_ns: from
// Request::received_ns to the end.
using RequestDoneCallback =
    std::function<void(const Request& request, int status, uint64_t bytes, uint64_t duration_ns)>;

struct ServerOptions {
  std::string host = "127.0.0.1";  // an IP literal ("0.0.0.0", "::" = dual-stack) or a host name
  uint16_t port = 0;               // 0 = any free port (see Server::port())
  int io_threads = 2;
  ServerLimits limits;
  std::string server_header = "bastion";  // the Server header; "" leaves it out
  RequestDoneCallback on_request_done;
  // HTTPS: set to serve TLS (certificates from the context's CertificateStore, chosen per
  // handshake); null serves plain HTTP. The handshake must finish within limits.header_timeout.
  std::shared_ptr<tls::ServerContext> tls;
  // Strict-Transport-Security value added to every HTTPS response; "" sends none. Ignored for
  // plain HTTP (RFC 6797 section 7.2: not over insecure transport).
  std::string hsts;
  // Peer addresses (as text, IPv4-mapped IPv6 reduced to IPv4) that limits.max_connections_per_ip
  // does not apply to: trusted proxies, whose address every client behind them shares. Called
  // on the accept path; null = none exempt.
  std::function<bool(const std::string& address)> per_ip_exempt;
};

class Server {
 public:
  // Binds and listens on host:port and starts serving on io_threads threads. Fails with a clear
  // message when the address is in use, the port needs privileges, or the host does not resolve.
  // The router is frozen (Router::Add is a bug from now on).
  static Result<std::unique_ptr<Server>> Create(ServerOptions options, std::shared_ptr<Router> router);

  // Shuts down with a zero deadline if Shutdown was not called.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port actually bound (the chosen one when 0 was requested).
  uint16_t port() const;

  // Stops accepting, closes idle connections, lets requests in progress and streams finish (each
  // connection closes after its current response) for up to `deadline`, then cancels the rest
  // (their writers report cancelled() and fire OnCancel) and closes them, and stops the I/O
  // threads. Blocks until done; later calls return at once. Must not be called from a handler
  // or any other I/O-thread code (it joins those threads).
  void Shutdown(std::chrono::milliseconds deadline);

  // Blocks until Shutdown (from another thread) has completed.
  void Wait();

  // Connections currently open (for tests and metrics).
  int connection_count() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// SIGINT/SIGTERM handling for the serve command. Construction installs the handlers (so a signal
// that arrives before Wait is not lost and does not kill the process); Wait blocks until one
// arrives and returns its number. Wait can be called again (say, a second Ctrl-C to stop without
// waiting); destruction puts back the default disposition (the process dies on the next one).
class TerminationSignals {
 public:
  TerminationSignals();
  ~TerminationSignals();
  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;

  int Wait();
  // Waits at most `timeout`; returns 0 if no signal arrived.
  int WaitFor(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bastion::http
