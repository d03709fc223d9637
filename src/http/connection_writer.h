// Internal to src/http: the ResponseWriter the server hands to handlers. It checks the call order
// (Send, or StartStream/Write.../End), turns each call into a WriterOp and delivers it to its
// connection, which applies it on the connection's strand. It holds the connection only weakly
// and goes through a DeliveryGate, so an engine thread that keeps a writer after the client left
// or after the server was destroyed just has its calls dropped. No Asio here: the connection side
// is the abstract ConnectionSink.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "http/http_types.h"

namespace bastion::http::internal {

struct WriterOp {
  enum class Kind {
    kSend,     // status, content_type, data = body, extra
    kStart,    // status, content_type, extra
    kChunk,    // data
    kEnd,
    kAbandon,  // the writer died (or the handler threw) without finishing: 500, or cut the stream
  };
  Kind kind = Kind::kSend;
  int status = 0;
  std::string content_type;
  std::string data;
  Headers extra;
};

// The connection end of a writer. Deliver is thread-safe and must not run the op inline (it
// posts onto the connection's strand), so a handler calling Send never re-enters the connection.
class ConnectionSink {
 public:
  virtual ~ConnectionSink() = default;
  virtual void Deliver(uint64_t response_seq, WriterOp op) = 0;
};

// Open while the server's I/O context exists. Writers deliver under a shared lock; the server
// closes the gate (exclusive lock) before destroying the context, so no delivery can race the
// teardown.
struct DeliveryGate {
  std::shared_mutex mu;
  bool open = true;
};

class ConnectionWriter final : public ResponseWriter {
 public:
  ConnectionWriter(std::shared_ptr<DeliveryGate> gate, std::weak_ptr<ConnectionSink> sink, uint64_t response_seq);
  ~ConnectionWriter() override;

  void Send(int status, std::string_view content_type, std::string body, Headers extra = {}) override;
  void StartStream(int status, std::string_view content_type, Headers extra = {}) override;
  bool Write(std::string chunk) override;
  void End() override;
  bool cancelled() const override { return cancelled_.load(std::memory_order_acquire); }
  void OnCancel(std::function<void()> callback) override;

  // Connection side (on its strand).
  // The client went away or the server gave up: cancelled() turns true, OnCancel fires once.
  // Ignored after MarkFinished.
  void MarkCancelled();
  // The response was fully written: OnCancel will never fire (its callback is released).
  void MarkFinished();
  // The handler threw: answer 500 if nothing was sent yet, else cut the stream.
  void Abandon();

 private:
  enum class State { kFresh, kSent, kStreaming, kEnded };

  bool Forward(WriterOp op);

  const std::shared_ptr<DeliveryGate> gate_;
  const std::weak_ptr<ConnectionSink> sink_;
  const uint64_t seq_;

  std::mutex mu_;
  State state_ = State::kFresh;
  bool finished_ = false;
  std::function<void()> on_cancel_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace bastion::http::internal
