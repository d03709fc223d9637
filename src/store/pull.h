// Pull: a model reference -> a verified blob and a manifest in the store. The API `bastion pull`
// and the server's /api/pull both use.
//
//   resolve the source (hub metadata, registry manifest)        "pulling manifest"
//   lock the download (models/locks/<key>.lock: one downloader per blob, others wait and reuse)
//   download into blobs/<key>.partial, resuming what is there   "pulling <digest12>" + bytes
//   compare the SHA-256 (and size) with what the source said    "verifying sha256 digest"
//   load it as a Qwen2-family GGUF (header, tensors, tokenizer)
//   move it to blobs/sha256-<hex>, write the manifest           "writing manifest"
//                                                               "success"
// A digest mismatch or a file that is not a loadable Qwen2 GGUF deletes the partial file and
// returns an Error saying why (expected and actual digest). A network failure or cancellation
// keeps it, so the next pull resumes.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "store/http_fetch.h"
#include "store/model_ref.h"
#include "store/model_store.h"
#include "store/source.h"

namespace bastion {
class Model;
}

namespace bastion::store {

// One progress event, shaped like Ollama's /api/pull stream: {status, digest, total, completed}.
struct PullEvent {
  std::string status;  // "pulling manifest", "pulling 3f2a8c1b0e4d", "verifying sha256 digest",
                       // "writing manifest", "success"
  std::string digest;  // "sha256:<hex>" on download events when the digest is known
  uint64_t total = 0;  // bytes; 0 when unknown or not a download event
  uint64_t completed = 0;
};
using PullObserver = std::function<void(const PullEvent&)>;

// Which sources a pull may use. A server that pulls for clients must not fetch arbitrary URLs on
// their behalf (SSRF, CVE-2024-37032-style abuse): ServerDefault() allows the two hubs only.
struct PullPolicy {
  bool allow_hugging_face = true;
  bool allow_ollama = true;
  bool allow_url = true;
  // For plain URLs: hosts allowed ("host" or "host:port", lower case); empty = any host.
  std::vector<std::string> allowed_url_hosts;
  bool require_sha256_for_url = false;
  // FetchOptions::block_private_addresses for every request of the pull (redirects included).
  bool block_private_addresses = false;

  // Hugging Face and the Ollama registry at their configured endpoints; no URLs; no connections
  // to loopback or private addresses.
  static PullPolicy ServerDefault();
};

struct PullRequest {
  std::string reference;  // "qwen2.5:0.5b", "hf.co/O/R:Q8_0", "ollama://qwen2.5:0.5b", "https://..."
  std::string name;       // the store name; "" = the reference's default (ModelRef::name)
  std::string sha256;     // expected digest (hex or sha256:hex); "" = the source's
  std::string state_dir;  // the store is <state_dir>/models
  SourceEndpoints endpoints;  // SourceEndpoints::FromEnvironment() for the CLI
  FetchOptions fetch;         // trust roots, timeouts, retries (its cancel is set by Pull)
  PullPolicy policy;
  // Human notes that are not progress: retries, "waiting for another pull of ...". May be empty.
  std::function<void(const std::string&)> on_note;
};

// Pulls the model and returns its manifest. `observer` may be empty; `cancel` may be null (when
// set, the pull stops soon with an Error containing "cancelled" and keeps the partial file).
// Thread-safe: several pulls may run at once, in one process or several, on one store.
Result<Manifest> Pull(const PullRequest& request, const PullObserver& observer, const std::atomic<bool>* cancel);

// The weight type as Ollama reports it ("Q4_K_M"): general.file_type when the file has it, else
// the type of the first feed-forward weight.
std::string WeightTypeName(const Model& model);

// Checks a reference against a policy without pulling (for a server to answer 403 early).
Status CheckPullAllowed(const ModelRef& ref, const PullPolicy& policy, const std::string& expected_sha256);

}  // namespace bastion::store
