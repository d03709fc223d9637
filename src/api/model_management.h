// Ollama's model-management routes over the model store (src/store): /api/pull (streamed
// progress), /api/delete and /api/copy; /api/create, /api/push and blob uploads answer 501.
//
// They are off unless the operator enables them (`serve --model-management`): a route that makes
// the server fetch things from the network on a client's request is an SSRF hole waiting to
// happen, and deleting models is an admin's business. When on, the guard demands the admin scope
// once keys exist (api/request_guard.h), and pulls obey store::PullPolicy::ServerDefault(): the
// configured Hugging Face endpoint and Ollama registry only, never a client-supplied URL, and no
// connections to private or loopback addresses — unless the operator pointed HF_ENDPOINT or
// BASTION_OLLAMA_REGISTRY at such an address themselves (a hub on the LAN, a test hub).
//
// A pull runs on its own thread (libcurl blocks); at most kMaxConcurrentPulls at once (more get
// 429). A client that disconnects cancels its pull; the partial file stays for a resume.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "http/router.h"
#include "store/pull.h"
#include "store/source.h"

namespace bastion::api {

inline constexpr int kMaxConcurrentPulls = 2;

class ModelManagement : public std::enable_shared_from_this<ModelManagement> {
 public:
  struct Options {
    std::string state_dir;           // the store is <state_dir>/models
    store::SourceEndpoints endpoints;  // where pulls go (FromEnvironment)
    store::FetchOptions fetch;       // trust roots, user agent
  };
  // The policy follows the endpoints (see above); the note says when private addresses are allowed.
  static Result<std::shared_ptr<ModelManagement>> Create(Options options);

  // Cancels running pulls and waits up to `deadline` for their threads to end (each thread holds
  // a reference to this object, so one that outlives the wait is still safe).
  void Shutdown(std::chrono::milliseconds deadline);

  const store::PullPolicy& policy() const { return policy_; }
  const std::string& note() const { return note_; }

  // The handlers (registered by RegisterModelManagementRoutes).
  void HandlePull(const http::Request& request, std::shared_ptr<http::ResponseWriter> writer);
  void HandleDelete(const http::Request& request, std::shared_ptr<http::ResponseWriter> writer);
  void HandleCopy(const http::Request& request, std::shared_ptr<http::ResponseWriter> writer);

 private:
  explicit ModelManagement(Options options) : options_(std::move(options)) {}
  void PullThread(store::PullRequest request, bool stream, http::Request meta,
                  std::shared_ptr<http::ResponseWriter> writer, std::shared_ptr<std::atomic<bool>> cancel);

  Options options_;
  store::PullPolicy policy_;
  std::string note_;
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
  std::atomic<bool> shutting_down_{false};
};

// Registers /api/pull, /api/delete, /api/copy, /api/create, /api/push, /api/blobs/{digest}.
// With `management` null (the default) they answer 403 saying how to enable them.
void RegisterModelManagementRoutes(http::Router& router, std::shared_ptr<ModelManagement> management);

}  // namespace bastion::api
