// ConnectionWriter: call-order checks, cancellation and delivery of response ops (see
// connection_writer.h).
#include "http/connection_writer.h"

#include <utility>

#include "base/check.h"

namespace bastion::http::internal {

ConnectionWriter::ConnectionWriter(std::shared_ptr<DeliveryGate> gate, std::weak_ptr<ConnectionSink> sink,
                                   uint64_t response_seq)
    : gate_(std::move(gate)), sink_(std::move(sink)), seq_(response_seq) {}

ConnectionWriter::~ConnectionWriter() {
  // A handler (or the engine) dropped the writer without finishing the response: the connection
  // must not wait forever for it.
  if ((state_ == State::kFresh || state_ == State::kStreaming) && !cancelled()) {
    Forward(WriterOp{WriterOp::Kind::kAbandon, 0, {}, {}, {}});
  }
}

bool ConnectionWriter::Forward(WriterOp op) {
  std::shared_lock lock(gate_->mu);
  if (!gate_->open) return false;
  // Declared inside the lock: if this is the last reference, the connection is destroyed while
  // the gate is still known to be open (its socket needs the I/O context alive).
  std::shared_ptr<ConnectionSink> sink = sink_.lock();
  if (!sink) return false;
  sink->Deliver(seq_, std::move(op));
  return true;
}

void ConnectionWriter::Send(int status, std::string_view content_type, std::string body, Headers extra) {
  BASTION_CHECK_MSG(status >= 200 && status <= 599, "ResponseWriter::Send: status must be 200..599");
  {
    std::lock_guard lock(mu_);
    if (cancelled()) return;  // the client is gone: accepted and dropped
    BASTION_CHECK_MSG(state_ == State::kFresh, "ResponseWriter::Send after a response was started");
    state_ = State::kSent;
  }
  Forward(WriterOp{WriterOp::Kind::kSend, status, std::string(content_type), std::move(body), std::move(extra)});
}

void ConnectionWriter::StartStream(int status, std::string_view content_type, Headers extra) {
  BASTION_CHECK_MSG(status >= 200 && status <= 599, "ResponseWriter::StartStream: status must be 200..599");
  {
    std::lock_guard lock(mu_);
    if (cancelled()) return;
    BASTION_CHECK_MSG(state_ == State::kFresh, "ResponseWriter::StartStream after a response was started");
    state_ = State::kStreaming;
  }
  Forward(WriterOp{WriterOp::Kind::kStart, status, std::string(content_type), {}, std::move(extra)});
}

bool ConnectionWriter::Write(std::string chunk) {
  {
    std::lock_guard lock(mu_);
    if (cancelled()) return false;
    BASTION_CHECK_MSG(state_ == State::kStreaming, "ResponseWriter::Write outside StartStream..End");
  }
  if (chunk.empty()) return true;  // an empty chunk would end a chunked body
  return Forward(WriterOp{WriterOp::Kind::kChunk, 0, {}, std::move(chunk), {}}) && !cancelled();
}

void ConnectionWriter::End() {
  {
    std::lock_guard lock(mu_);
    if (cancelled()) return;
    BASTION_CHECK_MSG(state_ == State::kStreaming, "ResponseWriter::End without StartStream (or twice)");
    state_ = State::kEnded;
  }
  Forward(WriterOp{WriterOp::Kind::kEnd, 0, {}, {}, {}});
}

void ConnectionWriter::OnCancel(std::function<void()> callback) {
  {
    std::lock_guard lock(mu_);
    if (finished_) return;  // can no longer be cancelled
    if (!cancelled()) {
      on_cancel_ = std::move(callback);
      return;
    }
  }
  if (callback) callback();  // already cancelled: run now, outside the lock
}

void ConnectionWriter::MarkCancelled() {
  std::function<void()> callback;
  {
    std::lock_guard lock(mu_);
    if (finished_ || cancelled()) return;
    cancelled_.store(true, std::memory_order_release);
    callback = std::move(on_cancel_);
    on_cancel_ = nullptr;
  }
  if (callback) callback();
}

void ConnectionWriter::MarkFinished() {
  std::function<void()> release;
  {
    std::lock_guard lock(mu_);
    finished_ = true;
    release = std::move(on_cancel_);  // may capture this writer: break the cycle
    on_cancel_ = nullptr;
  }
}

void ConnectionWriter::Abandon() {
  {
    std::lock_guard lock(mu_);
    if (cancelled() || state_ == State::kSent || state_ == State::kEnded) return;
  }
  Forward(WriterOp{WriterOp::Kind::kAbandon, 0, {}, {}, {}});
  // Whoever still holds the writer (work queued before the throw) sees a cancelled request, and
  // its later calls are dropped.
  MarkCancelled();
}

}  // namespace bastion::http::internal
