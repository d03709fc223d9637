// Challenge handoff between `bastion cert renew` and a `bastion serve` running on the same state
// directory. The running server owns ports 80/443, so the CA's validation requests reach it, not
// the renew command; the command therefore hands each challenge to the server through files:
//
//   <state>/acme/challenges/<type>-<token>.json   {"type","domain","token","key_authorization"}
//                                                 written (0600, atomically) by the renew command
//   <state>/acme/challenges/<type>-<token>.ack    "ok\n" or "error: <why>\n", written by the server
//                                                 once its listeners answer the challenge
//
// The server's ChallengeHandoffResponder polls the directory (every 250 ms), presents new
// challenges through its own ChallengeSolver (HTTP-01 responder, TLS-ALPN-01 certificate store)
// and writes the ack; the command's FileChallengeSolver::Present returns only when the ack says
// ok, so the CA is never told to validate before the server answers. When the command removes
// the .json (CleanUp, or it died and the file is older than an hour) the server withdraws the
// challenge. A file-based design needs no extra port or socket and survives either side being
// killed: nothing here is state that matters after the order finishes.
//
// `ServerIsRunning` tells the renew command whether a server answers handoffs: the responder
// holds an flock on <state>/acme/challenges/.responder.lock while it runs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "acme/acme_client.h"
#include "base/atomic_file.h"

namespace bastion::certs {

// True when some process holds the responder lock of `handoff_dir` (a server is answering).
bool ServerIsRunning(const std::string& handoff_dir);

// The renew command's solver: writes challenges for the running server and waits for its ack.
class FileChallengeSolver : public acme::ChallengeSolver {
 public:
  explicit FileChallengeSolver(std::string handoff_dir,
                               std::chrono::milliseconds ack_timeout = std::chrono::seconds(15));
  std::vector<acme::ChallengeType> Supported() const override;
  Status Present(acme::ChallengeType type, const std::string& domain, const std::string& token,
                 const std::string& key_authorization) override;
  void CleanUp(acme::ChallengeType type, const std::string& domain, const std::string& token) override;

 private:
  std::string dir_;
  std::chrono::milliseconds ack_timeout_;
};

// The server's side: answers handed-off challenges through `solver` (which must outlive it).
class ChallengeHandoffResponder {
 public:
  ChallengeHandoffResponder(std::string handoff_dir, acme::ChallengeSolver& solver);
  ~ChallengeHandoffResponder();  // Stop()

  // Creates the directory, takes the responder lock and starts polling every `interval`.
  Status Start(std::chrono::milliseconds interval = std::chrono::milliseconds(250));
  // Withdraws everything presented and stops. Idempotent.
  void Stop();
  // One scan of the directory (what the thread does each interval); for tests.
  void PollOnce();
  size_t presented_count() const;

 private:
  struct Presented {
    acme::ChallengeType type;
    std::string domain, token;
  };
  std::string dir_;
  acme::ChallengeSolver& solver_;
  std::optional<FileLock> lock_;
  mutable std::mutex mutex_;  // guards presented_ (PollOnce from the thread or a test)
  std::map<std::string, Presented> presented_;  // by file stem
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace bastion::certs
