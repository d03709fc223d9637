#include "store/pull.h"

#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "model/model.h"
#include "store/downloader.h"
#include "store/hf_source.h"
#include "store/ollama_source.h"
#include "store/sha256.h"
#include "synth/type_mix.h"

namespace bastion::store {
namespace {

// How often a pull waiting for another process's download of the same blob looks again.
constexpr auto kLockPoll = std::chrono::milliseconds(200);

bool Cancelled(const std::atomic<bool>* cancel) { return cancel != nullptr && cancel->load(); }

}  // namespace

std::string WeightTypeName(const Model& model) {
  const GgufFile& gguf = model.gguf();
  if (gguf.Find("general.file_type") != nullptr) {
    auto ftype = gguf.GetUint("general.file_type");
    if (ftype.ok() && *ftype <= 0xffffffffu) {
      const std::string name = FileTypeName(static_cast<FileType>(*ftype));
      if (name != "?") return name;
    }
  }
  const ModelWeights& w = model.weights();
  return TypeName(w.layers.empty() ? w.output.type : w.layers[0].w_gate.type);
}

namespace {

// Waits for the per-blob download lock, telling the user once that another pull holds it.
Result<FileLock> AcquireDownloadLock(const std::string& path, const std::string& what, const PullRequest& request,
                                     const std::atomic<bool>* cancel) {
  bool told = false;
  for (;;) {
    auto lock = FileLock::Acquire(path, std::chrono::milliseconds(0));
    if (lock.ok()) return lock;
    if (lock.error().message().find("locked by another process") == std::string::npos) return lock.error();
    if (!told && request.on_note) request.on_note("waiting for another pull of " + what + " to finish");
    told = true;
    if (Cancelled(cancel)) return Error("cancelled while waiting for another pull of " + what);
    std::this_thread::sleep_for(kLockPoll);
  }
}

}  // namespace

PullPolicy PullPolicy::ServerDefault() {
  PullPolicy p;
  p.allow_url = false;
  p.block_private_addresses = true;
  return p;
}

Status CheckPullAllowed(const ModelRef& ref, const PullPolicy& policy, const std::string& expected_sha256) {
  switch (ref.kind) {
    case SourceKind::kHuggingFace:
      if (!policy.allow_hugging_face) return Error("pulling from Hugging Face is not allowed here");
      return OkStatus();
    case SourceKind::kOllama:
      if (!policy.allow_ollama) return Error("pulling from the Ollama registry is not allowed here");
      return OkStatus();
    case SourceKind::kUrl: {
      if (!policy.allow_url) return Error("pulling from a URL is not allowed here (only Hugging Face and Ollama names)");
      if (policy.require_sha256_for_url && expected_sha256.empty()) {
        return Error("pulling from a URL needs the expected SHA-256 here");
      }
      if (!policy.allowed_url_hosts.empty()) {
        const std::string host = UrlHost(ref.url);
        bool ok = false;
        for (const std::string& h : policy.allowed_url_hosts) ok = ok || h == host;
        if (!ok) return Error("pulling from host '" + host + "' is not allowed here");
      }
      return OkStatus();
    }
  }
  return Error("unknown source");
}

Result<Manifest> Pull(const PullRequest& request, const PullObserver& observer, const std::atomic<bool>* cancel) {
  auto emit = [&](PullEvent e) {
    if (observer) observer(e);
  };
  BASTION_ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(request.reference));
  const std::string name = request.name.empty() ? ref.name : request.name;
  if (!IsValidModelName(name)) {
    return Error("invalid model name '" + name.substr(0, 64) + "': 1 to 200 printable characters without spaces");
  }
  std::string user_sha;
  if (!request.sha256.empty()) {
    auto hex = NormalizeSha256(request.sha256);
    if (!hex.ok()) return hex.error().WithContext("--sha256");
    user_sha = *hex;
  }
  BASTION_RETURN_IF_ERROR(CheckPullAllowed(ref, request.policy, user_sha));

  FetchOptions fetch = request.fetch;
  fetch.cancel = cancel;
  fetch.block_private_addresses = fetch.block_private_addresses || request.policy.block_private_addresses;
  if (request.on_note) fetch.on_retry = request.on_note;

  emit({"pulling manifest", "", 0, 0});
  ResolvedBlob blob;
  switch (ref.kind) {
    case SourceKind::kHuggingFace: {
      // Plain http only when the endpoint itself was configured that way (a mirror, a test hub).
      fetch.allow_plain_http = request.endpoints.hf_endpoint.rfind("http://", 0) == 0;
      BASTION_ASSIGN_OR_RETURN(blob, ResolveHuggingFace(ref, request.endpoints, fetch));
      break;
    }
    case SourceKind::kOllama: {
      fetch.allow_plain_http = request.endpoints.ollama_registry.rfind("http://", 0) == 0;
      BASTION_ASSIGN_OR_RETURN(blob, ResolveOllama(ref, request.endpoints, fetch));
      break;
    }
    case SourceKind::kUrl:
      // Over plain http the digest is what guarantees the content, so it is required there.
      fetch.allow_plain_http = !user_sha.empty();
      BASTION_RETURN_IF_ERROR(CheckUrlAllowed(ref.url, fetch));
      blob.url = ref.url;
      blob.file_name = ref.url.substr(ref.url.find_last_of('/') + 1);
      break;
  }
  if (!user_sha.empty() && !blob.sha256.empty() && user_sha != blob.sha256) {
    return Error(ref.Source() + ": the source says sha256:" + blob.sha256 + " but --sha256 says sha256:" + user_sha);
  }
  const std::string expected = user_sha.empty() ? blob.sha256 : user_sha;
  if (expected.empty() && ref.kind != SourceKind::kUrl) {
    return Error(blob.url + ": the hub sent no SHA-256 (no X-Linked-Etag, and the ETag is not one), so the download "
                 "cannot be verified; pass --sha256 to pull it anyway");
  }
  if (expected.empty() && request.on_note) {
    request.on_note("no --sha256 given: " + blob.url + " is checked only as a GGUF file, not against a known digest");
  }

  ModelStore store(request.state_dir);
  BASTION_RETURN_IF_ERROR(store.EnsureDirectories());
  BASTION_RETURN_IF_ERROR(MakeDirectories(store.root() + "/locks", 0755));

  PullEvent download_event;
  download_event.status = "pulling " + (expected.empty() ? blob.file_name : expected.substr(0, 12));
  download_event.digest = expected.empty() ? "" : "sha256:" + expected;
  download_event.total = blob.size.value_or(0);

  // Key of the partial file and its lock: the digest when known, else the URL.
  std::string key;
  if (expected.empty()) {
    Sha256 h;
    h.Update(blob.url);
    key = "url-" + h.FinishHex().substr(0, 24);
  } else {
    key = "sha256-" + expected;
  }
  const std::string partial = store.PartialPath(key);

  auto blob_present = [&] {
    if (expected.empty()) return false;
    struct stat st {};
    const std::string path = store.BlobPath(expected);
    return ::stat(path.c_str(), &st) == 0 && (!blob.size || static_cast<uint64_t>(st.st_size) == *blob.size);
  };

  std::optional<FileLock> download_lock;
  std::string verified_file;  // the partial file to move in; "" when the blob is already there
  std::string digest = expected;
  uint64_t size = blob.size.value_or(0);
  if (!blob_present()) {
    BASTION_ASSIGN_OR_RETURN(FileLock lock, AcquireDownloadLock(store.root() + "/locks/" + key + ".lock",
                                                                blob.file_name, request, cancel));
    download_lock.emplace(std::move(lock));
  }
  if (blob_present()) {  // already there, or another process finished it while we waited
    struct stat st {};
    ::stat(store.BlobPath(expected).c_str(), &st);
    size = static_cast<uint64_t>(st.st_size);
    download_event.total = download_event.completed = size;
    emit(download_event);
  } else {
    DownloadRequest dl;
    dl.url = blob.url;
    dl.headers = blob.headers;
    dl.partial_path = partial;
    dl.expected_size = blob.size;
    auto result = Download(dl, fetch, [&](uint64_t completed, uint64_t total) {
      download_event.completed = completed;
      if (total != 0) download_event.total = total;
      emit(download_event);
    });
    if (!result.ok()) return result.error();
    emit({"verifying sha256 digest", "", 0, 0});
    auto reject = [&](const std::string& why) {
      ::unlink(partial.c_str());
      return Error(why + "; the downloaded file was deleted");
    };
    if (!expected.empty() && result->sha256 != expected) {
      return reject("sha256 mismatch for " + blob.url + ": expected sha256:" + expected + ", got sha256:" +
                    result->sha256 + " (" + std::to_string(result->size) + " bytes)");
    }
    if (blob.size && result->size != *blob.size) {
      return reject("size mismatch for " + blob.url + ": expected " + std::to_string(*blob.size) + " bytes, got " +
                    std::to_string(result->size));
    }
    digest = result->sha256;
    size = result->size;
    verified_file = partial;
  }

  // Only a file bastion can serve enters the store.
  const std::string check_path = verified_file.empty() ? store.BlobPath(digest) : verified_file;
  auto model = Model::Load(check_path);
  if (!model.ok()) {
    if (!verified_file.empty()) ::unlink(verified_file.c_str());
    return Error("the download from " + blob.url + " is not a loadable Qwen2-family GGUF model (" +
                 model.error().message() + ")" + (verified_file.empty() ? "" : "; the downloaded file was deleted"));
  }
  Manifest manifest;
  manifest.name = name;
  manifest.source = ref.Source();
  manifest.source_url = blob.url;
  manifest.digest = "sha256:" + digest;
  manifest.size = size;
  manifest.weight_type = WeightTypeName(**model);
  manifest.architecture = (*model)->config().architecture;
  manifest.parameters = (*model)->ParameterCount();
  manifest.context_length = (*model)->config().n_ctx_train;
  manifest.added = NowRfc3339();
  model = Error("released");  // unmap before the rename

  emit({"writing manifest", "", 0, 0});
  BASTION_RETURN_IF_ERROR(store.Commit(verified_file, manifest));
  download_lock.reset();
  emit({"success", "", 0, 0});
  return manifest;
}

}  // namespace bastion::store
