// Server: binding and listening, the accept loop (with connection admission), the I/O threads
// and graceful shutdown; TerminationSignals. The only file that instantiates the connection
// template (connection.h) — Asio is compiled here and nowhere else.
#include "http/server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <openssl/ssl.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "base/check.h"
#include "base/log.h"
#include "http/connection.h"

namespace bastion::http {
namespace internal {

using SslStream = asio::ssl::stream<tcp::socket>;

// TLS: the handshake (bounded by the header timeout the connection arms before it), and
// close_notify at the end. Certificates, ALPN and the policy live in tls::ServerContext.
template <>
struct StreamTraits<SslStream> {
  static constexpr bool kSecure = true;
  static SslStream::lowest_layer_type& Lowest(SslStream& s) { return s.lowest_layer(); }
  template <class Handler>
  static void AsyncHandshake(SslStream& s, Handler&& handler) {
    s.async_handshake(asio::ssl::stream_base::server, std::forward<Handler>(handler));
  }
  // Sends close_notify and waits for the client's (or its close, or the linger timeout). Asio
  // lets this run beside the connection's pending read: they take turns on the socket.
  template <class Handler>
  static void AsyncShutdown(SslStream& s, Handler&& handler) {
    s.async_shutdown(std::forward<Handler>(handler));
  }
  static bool HandshakeOnly(SslStream& s) { return tls::ServerContext::IsAcmeChallenge(s.native_handle()); }
  static std::string TlsVersion(SslStream& s) { return SSL_get_version(s.native_handle()); }
};

// Starts a connection over an accepted socket (already on its own strand): a
// Connection<tcp::socket>, or for TLS the socket wrapped in an SSL stream first.
using ConnectionFactory = std::function<void(tcp::socket socket, const std::shared_ptr<ServerCore>& core,
                                             ServerCore::Admission admission, std::string counted_ip)>;

void StartPlainConnection(tcp::socket socket, const std::shared_ptr<ServerCore>& core,
                          ServerCore::Admission admission, std::string counted_ip) {
  std::make_shared<Connection<tcp::socket>>(std::move(socket), core, admission, std::move(counted_ip))->Start();
}

ConnectionFactory TlsConnectionFactory(std::shared_ptr<asio::ssl::context> context) {
  return [context = std::move(context)](tcp::socket socket, const std::shared_ptr<ServerCore>& core,
                                        ServerCore::Admission admission, std::string counted_ip) {
    std::make_shared<Connection<SslStream>>(SslStream(std::move(socket), *context), core, admission,
                                            std::move(counted_ip))
        ->Start();
  };
}

// The peer's address as text, an IPv4-mapped IPv6 address as plain IPv4; "" if it is gone.
std::string PeerAddress(const tcp::socket& socket) {
  error_code ec;
  const tcp::endpoint remote = socket.remote_endpoint(ec);
  if (ec) return "";
  asio::ip::address address = remote.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address.to_string();
}

// Accepts connections, decides admission (serve, 503/429, or close), and starts each connection.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, tcp::acceptor acceptor, std::shared_ptr<ServerCore> core, ConnectionFactory factory)
      : ioc_(ioc),
        acceptor_(std::move(acceptor)),
        retry_timer_(acceptor_.get_executor()),
        core_(std::move(core)),
        factory_(std::move(factory)) {}

  void Start() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] { self->Accept(); });
  }

  void Stop() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_timer_.cancel();
    });
  }

 private:
  void Accept() {
    if (!acceptor_.is_open()) return;
    acceptor_.async_accept(asio::make_strand(ioc_), [self = shared_from_this()](const error_code& ec, tcp::socket socket) {
      self->OnAccept(ec, std::move(socket));
    });
  }

  void OnAccept(const error_code& ec, tcp::socket socket) {
    if (!acceptor_.is_open() || ec == asio::error::operation_aborted) return;
    if (ec) {
      if (ec == asio::error::connection_aborted) return Accept();  // the client gave up first
      // Out of descriptors or memory: accepting again at once would spin. Back off briefly.
      retry_timer_.expires_after(std::chrono::milliseconds(50));
      retry_timer_.async_wait([self = shared_from_this()](const error_code& error) {
        if (!error) self->Accept();
      });
      return;
    }
    std::string counted_ip;
    const ServerCore::Admission admission =
        core_->draining ? ServerCore::Admission::kDrop : core_->Admit(PeerAddress(socket), &counted_ip);
    if (admission == ServerCore::Admission::kDrop) {
      error_code ignored;
      socket.close(ignored);
    } else {
      factory_(std::move(socket), core_, admission, std::move(counted_ip));
    }
    Accept();
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;  // on its own strand
  asio::steady_timer retry_timer_;
  std::shared_ptr<ServerCore> core_;
  ConnectionFactory factory_;
};

}  // namespace internal

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using internal::error_code;

std::string EndpointText(const std::string& host, uint16_t port) {
  const bool v6_literal = host.find(':') != std::string::npos;
  return (v6_literal ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Error ListenError(const std::string& host, uint16_t port, const error_code& ec) {
  std::string message = "cannot listen on " + EndpointText(host, port) + ": " + ec.message();
  if (ec == asio::error::address_in_use) {
    message += " (another process is using this port; choose another with --port)";
  } else if (ec == asio::error::access_denied) {
    message += port != 0 && port < 1024 ? " (port " + std::to_string(port) + " needs root or CAP_NET_BIND_SERVICE)"
                                        : " (permission denied)";
  } else if (ec == boost::system::errc::address_not_available) {
    message += " (no network interface of this machine has that address)";
  }
  return Error(message);
}

Status ValidateOptions(const ServerOptions& o) {
  const ServerLimits& l = o.limits;
  if (o.io_threads < 1 || o.io_threads > 256) {
    return Error("io_threads must be between 1 and 256, got " + std::to_string(o.io_threads));
  }
  if (l.max_header_bytes < 256) return Error("max_header_bytes must be at least 256");
  if (l.max_header_count < 1) return Error("max_header_count must be at least 1");
  if (l.max_connections < 1) return Error("max_connections must be at least 1");
  if (l.max_connections_per_ip < 0) return Error("max_connections_per_ip must be 0 (no limit) or more");
  for (const auto& [name, value] : {std::pair{"header_timeout", l.header_timeout}, {"body_timeout", l.body_timeout},
                                    {"idle_timeout", l.idle_timeout}, {"send_timeout", l.send_timeout}}) {
    if (value.count() <= 0) return Error(std::string(name) + " must be positive");
  }
  return OkStatus();
}

void RunIoThread(asio::io_context& ioc) {
  // An exception escaping a completion handler would end the thread (and the process); report it
  // and keep serving the other connections.
  while (true) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      log::Crit("http", std::string("unexpected exception on an I/O thread: ") + e.what());
    } catch (...) {
      log::Crit("http", "unexpected exception on an I/O thread");
    }
  }
}

}  // namespace

struct Server::Impl {
  std::unique_ptr<asio::io_context> ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::shared_ptr<internal::ServerCore> core;
  std::shared_ptr<internal::Listener> listener;
  std::shared_ptr<Router> router;
  std::vector<std::thread> threads;
  uint16_t port = 0;

  std::mutex mu;
  std::condition_variable cv;
  bool shutdown_started = false;
  bool stopped = false;

  bool OnIoThread() const {
    for (const std::thread& t : threads) {
      if (t.get_id() == std::this_thread::get_id()) return true;
    }
    return false;
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options, std::shared_ptr<Router> router) {
  BASTION_CHECK(router != nullptr);
  BASTION_RETURN_IF_ERROR(ValidateOptions(options));
  auto impl = std::make_unique<Impl>();
  impl->ioc = std::make_unique<asio::io_context>(options.io_threads);

  error_code ec;
  tcp::endpoint endpoint;
  const asio::ip::address address = asio::ip::make_address(options.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, options.port);
  } else {
    tcp::resolver resolver(*impl->ioc);
    const auto results = resolver.resolve(options.host, std::to_string(options.port),
                                          tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      return Error("cannot resolve listen address '" + options.host + "': " +
                   (ec ? ec.message() : std::string("no addresses")));
    }
    endpoint = results.begin()->endpoint();
  }

  tcp::acceptor acceptor(asio::make_strand(*impl->ioc));
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return ListenError(options.host, options.port, ec);
  // Lets a restarted server bind while old connections sit in TIME_WAIT; on Linux it does not
  // let two servers listen on one port, so "address in use" is still reported.
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(false), ec);  // "::" serves IPv4 too
  acceptor.bind(endpoint, ec);
  if (ec) return ListenError(options.host, options.port, ec);
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return ListenError(options.host, options.port, ec);
  impl->port = acceptor.local_endpoint(ec).port();

  router->Freeze();
  impl->router = router;
  auto core = std::make_shared<internal::ServerCore>();
  core->limits = options.limits;
  core->server_header = options.server_header;
  core->per_ip_exempt = options.per_ip_exempt;
  core->on_request_done = std::move(options.on_request_done);
  core->router = router;
  internal::ConnectionFactory factory = internal::StartPlainConnection;
  if (options.tls != nullptr) {
    core->hsts = options.hsts;
    // Asio's context takes ownership of one reference; tls::ServerContext keeps its own (and the
    // callbacks' state), and the core keeps the ServerContext alive for every connection.
    SSL_CTX_up_ref(options.tls->native());
    factory = internal::TlsConnectionFactory(std::make_shared<asio::ssl::context>(options.tls->native()));
    core->tls = options.tls;
  }
  impl->core = core;
  impl->listener = std::make_shared<internal::Listener>(*impl->ioc, std::move(acceptor), core, std::move(factory));
  impl->listener->Start();

  impl->work.emplace(impl->ioc->get_executor());
  for (int i = 0; i < options.io_threads; ++i) {
    impl->threads.emplace_back([ioc = impl->ioc.get()] { RunIoThread(*ioc); });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::~Server() { Shutdown(std::chrono::milliseconds(0)); }

uint16_t Server::port() const { return impl_->port; }

int Server::connection_count() const { return impl_->core->Count(); }

void Server::Shutdown(std::chrono::milliseconds deadline) {
  Impl& s = *impl_;
  {
    std::unique_lock lock(s.mu);
    if (s.shutdown_started) {
      s.cv.wait(lock, [&s] { return s.stopped; });
      return;
    }
    s.shutdown_started = true;
  }
  BASTION_CHECK_MSG(!s.OnIoThread(), "Server::Shutdown called on an I/O thread (it joins them)");
  const auto until = std::chrono::steady_clock::now() + deadline;

  s.core->draining = true;
  s.listener->Stop();
  for (const auto& connection : s.core->Live()) connection->BeginDrain();
  // Responses in progress finish (or the deadline passes); connections that only linger (their
  // last response is out) do not hold shutdown up.
  s.core->WaitUntilQuiet(until);
  for (const auto& connection : s.core->Live()) connection->ForceClose();
  // Closing is immediate; this only waits for the aborted operations to unwind.
  s.core->WaitUntilEmpty(std::chrono::steady_clock::now() + std::chrono::seconds(2));
  {
    // From now on writers kept by the engine drop their calls instead of posting into a context
    // that is about to be destroyed.
    std::unique_lock gate_lock(s.core->gate->mu);
    s.core->gate->open = false;
  }
  s.work.reset();
  s.ioc->stop();
  for (std::thread& t : s.threads) t.join();
  {
    std::lock_guard lock(s.mu);
    s.stopped = true;
  }
  s.cv.notify_all();
}

void Server::Wait() {
  std::unique_lock lock(impl_->mu);
  impl_->cv.wait(lock, [this] { return impl_->stopped; });
}

struct TerminationSignals::Impl {
  asio::io_context ioc;
  asio::signal_set signals{ioc, SIGINT, SIGTERM};
};

TerminationSignals::TerminationSignals() : impl_(std::make_unique<Impl>()) {}

TerminationSignals::~TerminationSignals() = default;

int TerminationSignals::Wait() {
  int received = 0;
  impl_->signals.async_wait([&received](const error_code& ec, int signal) {
    if (!ec) received = signal;
  });
  impl_->ioc.restart();
  impl_->ioc.run();
  return received;
}

int TerminationSignals::WaitFor(std::chrono::milliseconds timeout) {
  int received = 0;
  impl_->signals.async_wait([&received](const error_code& ec, int signal) {
    if (!ec) received = signal;
  });
  impl_->ioc.restart();
  impl_->ioc.run_for(timeout);
  if (received == 0) {
    impl_->signals.cancel();  // the handler runs (aborted) in the run() below
    impl_->ioc.restart();
    impl_->ioc.run();
  }
  return received;
}

}  // namespace bastion::http
