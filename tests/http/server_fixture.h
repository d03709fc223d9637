// Test fixture for the socket-level server tests: starts a Server on 127.0.0.1 with an ephemeral
// port, records on_request_done calls, and owns the background "engine" threads that tests use
// to answer from another thread (joined after the server is shut down).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/router.h"
#include "http/server.h"
#include "http_test_client.h"

namespace bastion::http::testing {

struct DoneRecord {
  std::string path;
  int status;
  uint64_t bytes;
};

// A one-shot flag with a timed wait.
class Event {
 public:
  void Set() {
    std::lock_guard lock(mu_);
    set_ = true;
    cv_.notify_all();
  }
  bool WaitFor(Ms timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return set_; });
  }
  bool IsSet() {
    std::lock_guard lock(mu_);
    return set_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool set_ = false;
};

class ServerTest : public ::testing::Test {
 protected:
  // Starts the server with the routes `setup` adds.
  void Start(const std::function<void(Router&)>& setup, ServerLimits limits = {}, int io_threads = 2) {
    router_ = std::make_shared<Router>();
    setup(*router_);
    ServerOptions options;
    options.port = 0;
    options.io_threads = io_threads;
    options.limits = limits;
    options.on_request_done = [this](const Request& r, int status, uint64_t bytes, uint64_t) {
      std::lock_guard lock(done_mu_);
      done_.push_back({r.path, status, bytes});
      done_cv_.notify_all();
    };
    auto server = Server::Create(options, router_);
    ASSERT_TRUE(server.ok()) << server.error().message();
    server_ = std::move(server).value();
  }

  uint16_t port() const { return server_->port(); }

  // Runs `fn` on a background thread, like the engine answering later.
  void Spawn(std::function<void()> fn) {
    std::lock_guard lock(workers_mu_);
    workers_.emplace_back(std::move(fn));
  }

  // Waits until on_request_done has been called `n` times.
  std::vector<DoneRecord> WaitDone(size_t n, Ms timeout = Ms(3000)) {
    std::unique_lock lock(done_mu_);
    done_cv_.wait_for(lock, timeout, [&] { return done_.size() >= n; });
    return done_;
  }

  void TearDown() override {
    if (server_) server_->Shutdown(Ms(1000));
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(workers_mu_);
      workers.swap(workers_);
    }
    for (std::thread& t : workers) t.join();
    server_.reset();
  }

  std::shared_ptr<Router> router_;
  std::unique_ptr<Server> server_;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::vector<DoneRecord> done_;

  std::mutex workers_mu_;
  std::vector<std::thread> workers_;
};

inline Handler TextHandler(std::string text) {
  return [text](const Request&, std::shared_ptr<ResponseWriter> w) { w->Send(200, "text/plain", text); };
}

}  // namespace bastion::http::testing
