// Internal to src/http (included by server.cc): one client connection, as a template over its
// stream type — the plain listener instantiates Connection<tcp::socket>, the TLS listener
// Connection<ssl::stream<tcp::socket>> with a StreamTraits specialization (server.cc) that does
// the handshake and close_notify.
//
// Life of a connection, all on its strand:
//   read ─▶ RequestParser ─▶ Router::Dispatch(request, writer) ─▶ writer ops (posted from any
//   thread) ─▶ write queue ─▶ response complete ─▶ next request (keep-alive) or lingering close.
// One request at a time: bytes of a pipelined next request wait in the buffer until the current
// response is written, so responses go out strictly in order. While a request is handled a read
// stays armed, so a client that disconnects is noticed at once and the writer cancelled.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/log.h"
#include "http/connection_writer.h"
#include "http/limits.h"
#include "http/request_parser.h"
#include "http/router.h"
#include "http/server.h"
#include "http/wire.h"
#include "tls/server_context.h"

namespace bastion::http::internal {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// What the server can ask of any connection, whatever its stream type. Thread-safe.
class ConnectionControl : public ConnectionSink {
 public:
  virtual void BeginDrain() = 0;  // close when idle; no keep-alive after the current response
  virtual void ForceClose() = 0;  // cancel the request in progress and close now
};

// State shared by a server's listener(s) and connections.
struct ServerCore {
  // kReject: answer 503 (server full) and close; kRejectPerIp: answer 429 (this address has
  // max_connections_per_ip open) and close; kDrop: close at once (even the answering is full).
  enum class Admission { kServe, kReject, kRejectPerIp, kDrop };

  ServerLimits limits;
  std::string server_header;
  RequestDoneCallback on_request_done;
  std::shared_ptr<const Router> router;
  std::shared_ptr<DeliveryGate> gate = std::make_shared<DeliveryGate>();
  std::string hsts;  // Strict-Transport-Security value on TLS responses; "" = none
  std::shared_ptr<tls::ServerContext> tls;  // kept alive while connections use its callbacks
  std::atomic<bool> draining{false};

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<uint64_t, std::weak_ptr<ConnectionControl>> live;
  std::unordered_set<uint64_t> lingering;  // answered everything; only draining the client's input
  uint64_t next_id = 1;
  int serving = 0;    // counted against limits.max_connections
  int rejecting = 0;  // answering 503/429, at most kRejectSlack
  std::function<bool(const std::string&)> per_ip_exempt;
  std::unordered_map<std::string, int> per_ip;  // served connections by peer address (non-exempt)
  // Connections closed unanswered since the last log line about them (logged at most once a
  // second: a connection flood must not become a log flood).
  uint64_t drops_unlogged = 0;
  std::chrono::steady_clock::time_point last_drop_log{};

  // Decides whether a new connection from `ip` is served, answered 503/429, or closed at once.
  // `*counted_ip` is set to `ip` when the connection counts against the per-address limit
  // (pass it back to Unregister).
  Admission Admit(const std::string& ip, std::string* counted_ip) {
    std::lock_guard lock(mu);
    Admission verdict = Admission::kServe;
    const bool per_ip_applies = limits.max_connections_per_ip > 0 && !ip.empty() && !(per_ip_exempt && per_ip_exempt(ip));
    if (serving >= limits.max_connections) {
      verdict = Admission::kReject;
    } else if (per_ip_applies) {
      const auto it = per_ip.find(ip);
      if (it != per_ip.end() && it->second >= limits.max_connections_per_ip) verdict = Admission::kRejectPerIp;
    }
    if (verdict == Admission::kServe) {
      ++serving;
      if (per_ip_applies) {
        ++per_ip[ip];
        *counted_ip = ip;
      }
      return verdict;
    }
    if (rejecting < kRejectSlack) {
      ++rejecting;
      return verdict;
    }
    ++drops_unlogged;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_drop_log >= std::chrono::seconds(1)) {
      log::Warn("http", "closed " + std::to_string(drops_unlogged) + " connection(s) unanswered: " +
                            std::to_string(serving) + " open (max_connections " + std::to_string(limits.max_connections) +
                            ") and " + std::to_string(rejecting) + " being refused; latest from " + ip);
      drops_unlogged = 0;
      last_drop_log = now;
    }
    return Admission::kDrop;
  }
  uint64_t Register(std::weak_ptr<ConnectionControl> connection) {
    std::lock_guard lock(mu);
    const uint64_t id = next_id++;
    live.emplace(id, std::move(connection));
    return id;
  }
  // From the connection's destructor.
  void Unregister(uint64_t id, Admission admission, const std::string& counted_ip) {
    std::lock_guard lock(mu);
    live.erase(id);
    lingering.erase(id);
    if (admission == Admission::kServe) --serving;
    if (admission == Admission::kReject || admission == Admission::kRejectPerIp) --rejecting;
    if (!counted_ip.empty()) {
      const auto it = per_ip.find(counted_ip);
      if (it != per_ip.end() && --it->second <= 0) per_ip.erase(it);
    }
    cv.notify_all();
  }
  std::vector<std::shared_ptr<ConnectionControl>> Live() {
    std::lock_guard lock(mu);
    std::vector<std::shared_ptr<ConnectionControl>> out;
    for (auto& [id, weak] : live) {
      if (auto c = weak.lock()) out.push_back(std::move(c));
    }
    return out;
  }
  // A lingering connection owes the client nothing more; shutdown need not wait for it.
  void MarkLingering(uint64_t id) {
    std::lock_guard lock(mu);
    lingering.insert(id);
    cv.notify_all();
  }
  // Until every connection is closed or lingering (true), or the deadline (false).
  bool WaitUntilQuiet(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu);
    return cv.wait_until(lock, deadline, [this] { return live.size() <= lingering.size(); });
  }
  bool WaitUntilEmpty(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu);
    return cv.wait_until(lock, deadline, [this] { return live.empty(); });
  }
  int Count() {
    std::lock_guard lock(mu);
    return static_cast<int>(live.size());
  }
};

// Per-stream-type operations. A TLS stream adds a specialization whose handshake and shutdown
// are the TLS ones.
template <class Stream>
struct StreamTraits;

template <>
struct StreamTraits<tcp::socket> {
  static constexpr bool kSecure = false;
  static tcp::socket::lowest_layer_type& Lowest(tcp::socket& s) { return s.lowest_layer(); }
  template <class Handler>
  static void AsyncHandshake(tcp::socket&, Handler&& handler) {
    handler(error_code());
  }
  // True when the handshake was all the connection is for (TLS-ALPN-01 validation): no HTTP.
  static bool HandshakeOnly(tcp::socket&) { return false; }
  static std::string TlsVersion(tcp::socket&) { return ""; }
  // Ends our side of the conversation (FIN) so the client sees the end of a close-delimited body.
  template <class Handler>
  static void AsyncShutdown(tcp::socket& s, Handler&& handler) {
    error_code ec;
    s.shutdown(tcp::socket::shutdown_send, ec);
    handler(ec);
  }
};

template <class Stream>
class Connection final : public ConnectionControl, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  using Admission = ServerCore::Admission;

  // `stream` must already use a strand executor (the listener accepts onto one).
  Connection(Stream stream, std::shared_ptr<ServerCore> core, Admission admission, std::string counted_ip)
      : stream_(std::move(stream)),
        executor_(stream_.get_executor()),
        core_(std::move(core)),
        admission_(admission),
        counted_ip_(std::move(counted_ip)),
        read_timer_(executor_),
        write_timer_(executor_),
        parser_(core_->limits),
        scratch_(new char[kReadChunkBytes]) {}

  ~Connection() override { core_->Unregister(id_, admission_, counted_ip_); }

  // Registers with the server and starts (posted onto the strand).
  void Start() {
    id_ = core_->Register(this->weak_from_this());
    asio::post(executor_, [self = this->shared_from_this()] { self->DoStart(); });
  }

  void Deliver(uint64_t seq, WriterOp op) override {
    asio::post(executor_, [self = this->shared_from_this(), seq, op = std::move(op)]() mutable {
      self->OnOp(seq, std::move(op));
    });
  }
  void BeginDrain() override {
    asio::post(executor_, [self = this->shared_from_this()] { self->OnDrain(); });
  }
  void ForceClose() override {
    asio::post(executor_, [self = this->shared_from_this()] { self->Close(); });
  }

 private:
  enum class Phase { kHandshake, kReading, kHandling, kLinger, kClosed };
  // What the read timer means: time allowed for the handshake, between requests, for a header,
  // for a body, and for the lingering close.
  enum class ReadDeadline { kNone, kHandshake, kIdle, kHeader, kBody, kLinger };

  // ---- start and reading ----

  void DoStart() {
    error_code ec;
    auto& socket = StreamTraits<Stream>::Lowest(stream_);
    const tcp::endpoint remote = socket.remote_endpoint(ec);
    if (ec) return Close();  // already gone
    asio::ip::address address = remote.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    }
    remote_address_ = address.to_string();
    remote_port_ = remote.port();
    // Streamed tokens are small writes that must leave at once, not wait for Nagle.
    socket.set_option(tcp::no_delay(true), ec);
    if (core_->draining) return Close();

    phase_ = Phase::kHandshake;
    ArmReadDeadline(core_->limits.header_timeout, ReadDeadline::kHandshake);
    StreamTraits<Stream>::AsyncHandshake(stream_, [self = this->shared_from_this()](const error_code& error) {
      if (self->phase_ != Phase::kHandshake) return;
      if (error) return self->Close();
      if (StreamTraits<Stream>::HandshakeOnly(self->stream_)) return self->CloseAfterHandshake();
      self->phase_ = Phase::kReading;
      if (self->admission_ == Admission::kReject) {
        return self->RespondTransportError(503, "too many connections; try again shortly");
      }
      if (self->admission_ == Admission::kRejectPerIp) {
        return self->RespondTransportError(429, "too many connections from " + self->remote_address_ + " (limit " +
                                                    std::to_string(self->core_->limits.max_connections_per_ip) + ")");
      }
      // A new connection gets the header timeout at once: a client that connects and sends
      // nothing is the cheapest slowloris.
      self->ArmReadDeadline(self->core_->limits.header_timeout, ReadDeadline::kHeader);
      self->ArmRead();
    });
  }

  void ArmRead() {
    if (reading_ || phase_ == Phase::kClosed || phase_ == Phase::kHandshake) return;
    if (phase_ == Phase::kHandling && (ignore_input_ || inbuf_.size() >= kMaxPipelinedBytes)) return;
    reading_ = true;
    stream_.async_read_some(asio::buffer(scratch_.get(), kReadChunkBytes),
                            [self = this->shared_from_this()](const error_code& ec, size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(const error_code& ec, size_t n) {
    reading_ = false;
    if (phase_ == Phase::kClosed) return;
    if (ec) {
      // A client that half-closed after a request we refused still reads our answer.
      if (phase_ == Phase::kHandling && ignore_input_ && ec == asio::error::eof) return;
      return Close();  // EOF or reset: between requests, mid-request, mid-response, lingering
    }
    if (phase_ == Phase::kLinger) {
      linger_bytes_ += n;
      return linger_bytes_ > kMaxLingerBytes ? Close() : ArmRead();
    }
    inbuf_.append(scratch_.get(), n);
    if (phase_ == Phase::kHandling) return ArmRead();  // pipelined: parsed after this response
    ProcessInput();
  }

  // Parses buffered bytes (phase kReading).
  void ProcessInput() {
    if (inbuf_.empty()) return ArmRead();
    if (read_deadline_ == ReadDeadline::kIdle) {
      ArmReadDeadline(core_->limits.header_timeout, ReadDeadline::kHeader);
    }
    const RequestParser::FeedResult result = parser_.Feed(inbuf_);
    inbuf_.erase(0, result.consumed);
    switch (result.state) {
      case RequestParser::State::kError:
        return RespondTransportError(parser_.error_status(), parser_.error_message());
      case RequestParser::State::kComplete:
        return DispatchRequest();
      case RequestParser::State::kNeedMore:
        if (parser_.header_done() && read_deadline_ == ReadDeadline::kHeader) {
          ArmReadDeadline(core_->limits.body_timeout, ReadDeadline::kBody);
          if (parser_.expects_continue()) {
            queue_.emplace_back(wire::kContinue);
            Flush();
          }
        }
        return ArmRead();
    }
  }

  // ---- one request ----

  // Fills the connection-level fields of a request and makes it current, with a fresh writer.
  std::shared_ptr<ConnectionWriter> BeginResponse(Request request) {
    CancelReadDeadline();
    phase_ = Phase::kHandling;
    ++seq_;
    request.remote_address = remote_address_;
    request.remote_port = remote_port_;
    request.secure = StreamTraits<Stream>::kSecure;
    request.tls_version = StreamTraits<Stream>::TlsVersion(stream_);
    if (request.received_ns == 0) request.received_ns = wire::SteadyNowNs();
    const std::string* client_id = request.Header("x-request-id");
    request.request_id = client_id && wire::IsAcceptableRequestId(*client_id) ? *client_id : wire::NewRequestId();
    head_only_ = request.method == "HEAD";
    status_ = 0;
    bytes_sent_ = 0;
    head_sent_ = chunked_ = complete_queued_ = abort_after_flush_ = false;
    request_.emplace(std::move(request));
    auto writer = std::make_shared<ConnectionWriter>(core_->gate, this->weak_from_this(), seq_);
    writer_ = writer;
    self_ = this->shared_from_this();  // alive until the response is done, whatever I/O is pending
    return writer;
  }

  void DispatchRequest() {
    Request request = parser_.TakeRequest();
    keep_alive_ = parser_.keep_alive() && request.version >= 11 && !draining_;
    auto writer = BeginResponse(std::move(request));
    ArmRead();  // notice a disconnect while the handler works; keep pipelined bytes
    try {
      core_->router->Dispatch(*request_, writer);
    } catch (...) {
      writer->Abandon();
    }
  }

  // The server's own error response (malformed request, limits, timeouts, 503), then close.
  void RespondTransportError(int status, const std::string& message) {
    keep_alive_ = false;
    ignore_input_ = true;  // the rest of the input is unusable; lingering close drains it
    auto writer = BeginResponse(parser_.PartialRequest());
    Headers extra;
    if (status == 503 || status == 429) extra.emplace_back("Retry-After", "1");
    core_->router->SendError(*request_, status, message, *writer, std::move(extra));
  }

  // Applies a writer call for response number `seq` (stale ones, from a writer of an earlier
  // request or after the connection closed, are dropped).
  void OnOp(uint64_t seq, WriterOp op) {
    if (phase_ != Phase::kHandling || seq != seq_ || complete_queued_) return;
    switch (op.kind) {
      case WriterOp::Kind::kSend:
        if (head_sent_) return;
        QueueHead(op.status, op.content_type, op.extra, wire::Framing::kContentLength, op.data.size());
        if (!head_only_ && !wire::StatusHasNoBody(op.status) && !op.data.empty()) queue_.push_back(std::move(op.data));
        complete_queued_ = true;
        break;
      case WriterOp::Kind::kStart:
        if (head_sent_) return;
        chunked_ = request_->version >= 11;
        if (!chunked_) keep_alive_ = false;  // HTTP/1.0: the end of the body is the close
        QueueHead(op.status, op.content_type, op.extra,
                  chunked_ ? wire::Framing::kChunked : wire::Framing::kCloseDelimited, 0);
        break;
      case WriterOp::Kind::kChunk:
        if (!head_sent_ || head_only_ || wire::StatusHasNoBody(status_)) return;
        queue_.push_back(chunked_ ? wire::ChunkFrame(op.data) : std::move(op.data));
        break;
      case WriterOp::Kind::kEnd:
        if (!head_sent_) return;
        if (chunked_ && !head_only_ && !wire::StatusHasNoBody(status_)) queue_.emplace_back(wire::kLastChunk);
        complete_queued_ = true;
        break;
      case WriterOp::Kind::kAbandon:
        if (!head_sent_) {
          ErrorBody body = core_->router->MakeErrorBody(*request_, 500, "internal error: the handler did not respond");
          QueueHead(500, body.content_type, {}, wire::Framing::kContentLength, body.body.size());
          if (!head_only_) queue_.push_back(std::move(body.body));
        } else {
          abort_after_flush_ = true;  // mid-stream: the client must see a truncated body
        }
        complete_queued_ = true;
        break;
    }
    Flush();
    MaybeFinish();  // an End with nothing left to write (HTTP/1.0, HEAD) completes here
  }

  void QueueHead(int status, std::string_view content_type, const Headers& extra, wire::Framing framing,
                 uint64_t length) {
    if (draining_) keep_alive_ = false;
    if (wire::StatusHasNoBody(status)) framing = wire::Framing::kNoBody;
    wire::ResponseHead head;
    head.status = status;
    head.content_type = content_type;
    head.framing = framing;
    head.content_length = length;
    head.close = !keep_alive_;
    head.server = core_->server_header;
    head.request_id = request_->request_id;
    head.extra = &extra;
    Headers with_hsts;
    if constexpr (StreamTraits<Stream>::kSecure) {
      if (!core_->hsts.empty()) {
        with_hsts = extra;
        with_hsts.emplace_back("Strict-Transport-Security", core_->hsts);
        head.extra = &with_hsts;
      }
    }
    queue_.push_back(wire::SerializeHead(head));
    status_ = status;
    head_sent_ = true;
  }

  // ---- writing ----

  void Flush() {
    if (writing_ || queue_.empty() || phase_ == Phase::kClosed) return;
    writing_ = true;
    inflight_.swap(queue_);
    buffers_.clear();
    for (const std::string& piece : inflight_) buffers_.push_back(asio::buffer(piece));
    ArmWriteDeadline();
    asio::async_write(stream_, buffers_, [self = this->shared_from_this()](const error_code& ec, size_t n) {
      self->OnWritten(ec, n);
    });
  }

  void OnWritten(const error_code& ec, size_t n) {
    writing_ = false;
    CancelWriteDeadline();
    inflight_.clear();
    if (phase_ == Phase::kClosed) return;
    bytes_sent_ += n;
    if (ec) return Close();
    if (!queue_.empty()) return Flush();
    MaybeFinish();
  }

  // Completes the response once its last byte is written.
  void MaybeFinish() {
    if (phase_ != Phase::kHandling || !complete_queued_ || writing_ || !queue_.empty()) return;
    if (abort_after_flush_) return Close();
    FinishResponse();
  }

  void FinishResponse() {
    if (auto writer = writer_.lock()) writer->MarkFinished();
    ReportDone(status_);
    writer_.reset();
    parser_.Reset();
    phase_ = Phase::kReading;
    auto keep = std::move(self_);  // pending I/O (or the caller's handler) keeps us alive
    if (!keep_alive_ || draining_) return StartLinger();
    if (inbuf_.empty()) {
      ArmReadDeadline(core_->limits.idle_timeout, ReadDeadline::kIdle);
      return ArmRead();
    }
    ArmReadDeadline(core_->limits.header_timeout, ReadDeadline::kHeader);
    ProcessInput();
  }

  void ReportDone(int status) {
    if (!request_) return;
    if (core_->on_request_done) {
      const uint64_t now = wire::SteadyNowNs();
      const uint64_t start = request_->received_ns;
      try {
        core_->on_request_done(*request_, status, bytes_sent_, now > start ? now - start : 0);
      } catch (...) {
        // A failing log hook must not leave the connection half-updated.
      }
    }
    request_.reset();
  }

  // ---- closing ----

  // Half-closes and drains the client's leftovers before closing (see kLingerTimeout).
  void StartLinger() {
    phase_ = Phase::kLinger;
    core_->MarkLingering(id_);
    inbuf_.clear();
    ArmReadDeadline(kLingerTimeout, ReadDeadline::kLinger);
    StreamTraits<Stream>::AsyncShutdown(stream_, [self = this->shared_from_this()](const error_code& ec) {
      if (self->phase_ != Phase::kLinger) return;
      if (ec) return self->Close();
      self->ArmRead();
    });
  }

  // An ACME TLS-ALPN-01 validation: the CA only looks at the certificate. Say goodbye properly
  // (close_notify) and close, bounded by the linger timeout.
  void CloseAfterHandshake() {
    phase_ = Phase::kLinger;
    core_->MarkLingering(id_);
    ArmReadDeadline(kLingerTimeout, ReadDeadline::kLinger);
    StreamTraits<Stream>::AsyncShutdown(stream_, [self = this->shared_from_this()](const error_code&) { self->Close(); });
  }

  void OnDrain() {
    draining_ = true;
    if (phase_ == Phase::kReading && !parser_.started() && inbuf_.empty()) return Close();
    if (phase_ == Phase::kHandshake) return Close();
    // kHandling: the response in progress finishes, then the connection closes (QueueHead and
    // FinishResponse check draining_). kReading mid-request: answered, then closed.
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    if (phase_ == Phase::kHandling) {
      if (auto writer = writer_.lock()) writer->MarkCancelled();
      ReportDone(head_sent_ ? status_ : 499);
    }
    phase_ = Phase::kClosed;
    CancelReadDeadline();
    CancelWriteDeadline();
    error_code ignored;
    StreamTraits<Stream>::Lowest(stream_).close(ignored);
    writer_.reset();
    queue_.clear();
    inbuf_.clear();
    auto keep = std::move(self_);
  }

  // ---- timers ----

  void ArmReadDeadline(std::chrono::milliseconds timeout, ReadDeadline kind) {
    read_deadline_ = kind;
    const uint64_t gen = ++read_timer_gen_;
    read_timer_.expires_after(timeout);
    read_timer_.async_wait([self = this->shared_from_this(), gen](const error_code&) {
      // The generation, not the error code, says whether this wait is still the current one: a
      // cancel can race with an expiry that is already queued.
      if (gen == self->read_timer_gen_) self->OnReadDeadline();
    });
  }
  void CancelReadDeadline() {
    ++read_timer_gen_;
    read_deadline_ = ReadDeadline::kNone;
    read_timer_.cancel();
  }

  void OnReadDeadline() {
    const ReadDeadline kind = read_deadline_;
    read_deadline_ = ReadDeadline::kNone;
    switch (kind) {
      case ReadDeadline::kHeader:
        if (phase_ != Phase::kReading) return;
        // Nothing at all arrived: just close. A partial request: tell the client why.
        if (!parser_.started() && inbuf_.empty()) return Close();
        return RespondTransportError(408, "request header not received within " +
                                              std::to_string(core_->limits.header_timeout.count()) + " ms");
      case ReadDeadline::kBody:
        if (phase_ != Phase::kReading) return;
        return RespondTransportError(408, "request body not received within " +
                                              std::to_string(core_->limits.body_timeout.count()) + " ms");
      case ReadDeadline::kHandshake:
      case ReadDeadline::kIdle:
      case ReadDeadline::kLinger:
        return Close();
      case ReadDeadline::kNone:
        return;
    }
  }

  void ArmWriteDeadline() {
    const uint64_t gen = ++write_timer_gen_;
    write_timer_.expires_after(core_->limits.send_timeout);
    write_timer_.async_wait([self = this->shared_from_this(), gen](const error_code&) {
      if (gen == self->write_timer_gen_ && self->writing_) self->Close();  // the client stopped reading
    });
  }
  void CancelWriteDeadline() {
    ++write_timer_gen_;
    write_timer_.cancel();
  }

  Stream stream_;
  const typename Stream::executor_type executor_;  // the strand
  const std::shared_ptr<ServerCore> core_;
  const Admission admission_;
  const std::string counted_ip_;  // "" when this connection is not counted per address
  uint64_t id_ = 0;
  std::string remote_address_;
  uint16_t remote_port_ = 0;

  Phase phase_ = Phase::kHandshake;
  ReadDeadline read_deadline_ = ReadDeadline::kNone;
  asio::steady_timer read_timer_;
  asio::steady_timer write_timer_;
  uint64_t read_timer_gen_ = 0;
  uint64_t write_timer_gen_ = 0;

  // Input.
  RequestParser parser_;
  std::unique_ptr<char[]> scratch_;  // the target of the one pending read
  std::string inbuf_;                // received, not yet parsed
  bool reading_ = false;
  bool ignore_input_ = false;
  size_t linger_bytes_ = 0;

  // The request being answered.
  bool keep_alive_ = true;
  bool draining_ = false;
  uint64_t seq_ = 0;
  std::optional<Request> request_;
  std::weak_ptr<ConnectionWriter> writer_;
  std::shared_ptr<Connection> self_;
  bool head_only_ = false;
  bool head_sent_ = false;
  bool chunked_ = false;
  bool complete_queued_ = false;
  bool abort_after_flush_ = false;
  int status_ = 0;
  uint64_t bytes_sent_ = 0;

  // Output: queue_ collects while inflight_ is being written (buffers_ points into it).
  bool writing_ = false;
  std::vector<std::string> queue_;
  std::vector<std::string> inflight_;
  std::vector<asio::const_buffer> buffers_;
};

}  // namespace bastion::http::internal
