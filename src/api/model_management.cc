#include "api/model_management.h"

#include <chrono>
#include <thread>

#include "api/json_body.h"
#include "base/log.h"
#include "store/http_fetch.h"
#include "store/model_ref.h"
#include "store/model_store.h"

namespace bastion::api {
namespace {

// Progress lines of a download are sent at most this often (Ollama sends one per chunk; a
// client's progress bar gains nothing from more).
constexpr auto kProgressInterval = std::chrono::milliseconds(200);

// Whether the host of a configured base URL is loopback or a private address (a hub the operator
// runs on the LAN, or a test hub): then the SSRF filter must let the server reach it.
bool EndpointIsPrivate(const std::string& base_url) {
  std::string host = store::UrlHost(base_url);
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    host.resize(colon);
  }
  return host == "localhost" || store::IsNonPublicAddress(host);
}

std::string EventJson(const store::PullEvent& e) {
  Json j;
  j["status"] = e.status;
  if (!e.digest.empty()) j["digest"] = e.digest;
  if (e.total > 0) {
    j["total"] = e.total;
    j["completed"] = e.completed;
  }
  return j.dump() + "\n";
}

// The model name of a pull/delete request: "model", or the older "name".
Result<std::string> ModelField(const Json& body, const char* key = "model") {
  BASTION_ASSIGN_OR_RETURN(std::string name, GetString(body, key, ""));
  if (name.empty() && std::string_view(key) == "model") {
    BASTION_ASSIGN_OR_RETURN(name, GetString(body, "name", ""));
  }
  if (name.empty()) return Error(std::string("'") + key + "' is required");
  return name;
}

}  // namespace

Result<std::shared_ptr<ModelManagement>> ModelManagement::Create(Options options) {
  auto m = std::shared_ptr<ModelManagement>(new ModelManagement(std::move(options)));
  m->policy_ = store::PullPolicy::ServerDefault();
  const bool hf_private = EndpointIsPrivate(m->options_.endpoints.hf_endpoint);
  const bool ollama_private = EndpointIsPrivate(m->options_.endpoints.ollama_registry);
  if (hf_private || ollama_private) {
    m->policy_.block_private_addresses = false;
    m->note_ = std::string("model pulls may reach private addresses: ") +
               (hf_private ? "HF_ENDPOINT (" + m->options_.endpoints.hf_endpoint + ")" : "") +
               (hf_private && ollama_private ? " and " : "") +
               (ollama_private ? "BASTION_OLLAMA_REGISTRY (" + m->options_.endpoints.ollama_registry + ")" : "") +
               " point at one";
  }
  // A configured plain-http hub is the operator's choice (FetchOptions refuses http otherwise).
  m->options_.fetch.allow_plain_http = m->options_.endpoints.hf_endpoint.rfind("http://", 0) == 0 ||
                                       m->options_.endpoints.ollama_registry.rfind("http://", 0) == 0;
  BASTION_RETURN_IF_ERROR(store::ModelStore(m->options_.state_dir).EnsureDirectories());
  return m;
}

void ModelManagement::Shutdown(std::chrono::milliseconds deadline) {
  shutting_down_.store(true);
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, deadline, [this] { return running_ == 0; });
}

void ModelManagement::HandlePull(const http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return SendError(*w, req, 400, body.error().message());
  auto name = ModelField(*body);
  if (!name.ok()) return SendError(*w, req, 400, name.error().message());
  auto stream = GetBool(*body, "stream", true);
  if (!stream.ok()) return SendError(*w, req, 400, stream.error().message());
  // "insecure" (skip TLS verification) is accepted and ignored: this server never skips it.
  auto ref = store::ParseModelRef(*name);
  if (!ref.ok()) return SendError(*w, req, 400, ref.error().message());
  if (Status st = store::CheckPullAllowed(*ref, policy_, ""); !st.ok()) {
    return SendError(*w, req, 403, st.error().message());
  }
  if (shutting_down_.load()) return SendError(*w, req, 503, "the server is shutting down");
  {
    std::lock_guard lock(mu_);
    if (running_ >= kMaxConcurrentPulls) {
      return SendError(*w, req, 429,
                       std::to_string(kMaxConcurrentPulls) + " pulls are already running; try again when one ends",
                       {{"Retry-After", "10"}});
    }
    ++running_;
  }
  store::PullRequest pull;
  pull.reference = *name;
  pull.state_dir = options_.state_dir;
  pull.endpoints = options_.endpoints;
  pull.fetch = options_.fetch;
  pull.policy = policy_;
  http::Request meta = http::RequestMeta(req);
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  w->OnCancel([cancel] { cancel->store(true); });
  log::Notice("models", "pull of " + *name + " requested by " +
                            (req.client_address.empty() ? req.remote_address : req.client_address) +
                            (req.key_name.empty() ? "" : " (key " + req.key_name + ")"));
  // The thread keeps this object alive (shared_from_this) until it ends.
  std::thread(&ModelManagement::PullThread, shared_from_this(), std::move(pull), *stream, std::move(meta), std::move(w),
              cancel)
      .detach();
}

void ModelManagement::PullThread(store::PullRequest request, bool stream, http::Request meta,
                                 std::shared_ptr<http::ResponseWriter> w, std::shared_ptr<std::atomic<bool>> cancel) {
  // Cancelled by the client going away or by shutdown (whichever first).
  std::atomic<bool> stop{false};
  const auto stopped = [&] { return cancel->load() || shutting_down_.load(); };
  request.fetch.cancel = &stop;
  request.fetch.on_retry = [&meta](const std::string& note) { log::Warn("models", meta.request_id + ": " + note); };
  if (stream) w->StartStream(200, "application/x-ndjson");
  std::string last_status;
  auto last_sent = std::chrono::steady_clock::time_point{};
  const store::PullObserver observer = [&](const store::PullEvent& e) {
    if (!stream) return;
    const auto now = std::chrono::steady_clock::now();
    const bool download = e.total > 0 && e.completed < e.total;
    if (download && e.status == last_status && now - last_sent < kProgressInterval) return;
    last_status = e.status;
    last_sent = now;
    if (!w->Write(EventJson(e))) stop.store(true);
  };
  // Client gone or shutdown: the poller turns either into `stop`, which the pull watches (the
  // observer is not called while a transfer stalls, so it cannot be the one to look).
  std::atomic<bool> done{false};
  std::thread poller([&] {
    while (!done.load()) {
      if (stopped()) stop.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  auto manifest = store::Pull(request, observer, &stop);
  done.store(true);
  poller.join();
  if (manifest.ok()) {
    log::Notice("models", "pulled " + manifest->name + " (" + manifest->digest + ", " + manifest->weight_type + ")");
    if (stream) {
      w->End();
    } else {
      w->Send(200, "application/json", Json{{"status", "success"}}.dump());
    }
  } else {
    const std::string message = "pull of " + request.reference + " failed: " + manifest.error().message();
    if (stream) {
      http::LogRequest(log::Level::kWarn, meta, "pull failed", message);
      w->Write(OllamaError(message) + "\n");
      w->End();
    } else {
      SendError(*w, meta, 502, message);
    }
  }
  w.reset();
  std::lock_guard lock(mu_);
  --running_;
  cv_.notify_all();
}

void ModelManagement::HandleDelete(const http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return SendError(*w, req, 400, body.error().message());
  auto name = ModelField(*body);
  if (!name.ok()) return SendError(*w, req, 400, name.error().message());
  auto removed = store::ModelStore(options_.state_dir).Remove(*name);
  if (!removed.ok()) return SendError(*w, req, 500, removed.error().message());
  if (!*removed) return SendError(*w, req, 404, "model '" + *name + "' not found");
  log::Notice("models", "deleted " + *name + " (requested by " +
                            (req.client_address.empty() ? req.remote_address : req.client_address) + ")");
  w->Send(200, "application/json", "");
}

void ModelManagement::HandleCopy(const http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return SendError(*w, req, 400, body.error().message());
  auto source = ModelField(*body, "source");
  auto destination = ModelField(*body, "destination");
  if (!source.ok()) return SendError(*w, req, 400, source.error().message());
  if (!destination.ok()) return SendError(*w, req, 400, destination.error().message());
  const store::ModelStore models(options_.state_dir);
  auto found = models.Find(*source);
  if (!found.ok()) return SendError(*w, req, 500, found.error().message());
  if (!*found) return SendError(*w, req, 404, "model '" + *source + "' not found");
  if (Status st = models.Copy(*source, *destination); !st.ok()) return SendError(*w, req, 400, st.error().message());
  log::Notice("models", "copied " + *source + " to " + *destination);
  w->Send(200, "application/json", "");
}

void RegisterModelManagementRoutes(http::Router& router, std::shared_ptr<ModelManagement> management) {
  const auto off = [](const http::Request& r, std::shared_ptr<http::ResponseWriter> w) {
    SendError(*w, r, 403,
              "model management is off on this server; an operator can enable it with `bastion serve "
              "--model-management` (then it needs an admin-scope API key)");
  };
  const auto not_implemented = [](const http::Request& r, std::shared_ptr<http::ResponseWriter> w) {
    SendError(*w, r, 501, r.path + " is not supported by bastion: pull GGUF models with /api/pull or `bastion pull`");
  };
  if (management == nullptr) {
    router.Add("POST", "/api/pull", off);
    router.Add("DELETE", "/api/delete", off);
    router.Add("POST", "/api/copy", off);
  } else {
    router.Add("POST", "/api/pull", [management](const http::Request& r, auto w) { management->HandlePull(r, std::move(w)); });
    router.Add("DELETE", "/api/delete",
               [management](const http::Request& r, auto w) { management->HandleDelete(r, std::move(w)); });
    router.Add("POST", "/api/copy", [management](const http::Request& r, auto w) { management->HandleCopy(r, std::move(w)); });
  }
  router.Add("POST", "/api/create", not_implemented);
  router.Add("POST", "/api/push", not_implemented);
  router.Add("POST", "/api/blobs/{digest}", not_implemented);
  router.Add("HEAD", "/api/blobs/{digest}", not_implemented);
}

}  // namespace bastion::api
