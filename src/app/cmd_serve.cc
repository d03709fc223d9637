// `bastion serve`: the HTTP API server (Ollama and OpenAI compatible) over one model.
//
//   bastion serve -m FILE [--alias NAME] [--host 127.0.0.1] [--port 11434] [--no-tls] ...
// Every setting can also come from BASTION_* environment variables or a TOML file (--config);
// `bastion serve --help` and docs/CONFIG.md list them. SIGTERM or SIGINT shut down gracefully:
// no new requests, running streams finish within --shutdown-timeout, then the process exits 0.
//
// HTTPS is the default (docs/TLS.md): a certificate from the local CA, from --tls-cert/--tls-key
// files (reloaded on change and on SIGHUP), or for --domain names via ACME. --http-port adds a
// plain-HTTP listener that answers ACME HTTP-01 and redirects to HTTPS. --user drops root after
// every port is bound and every key read.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "acme/acme_client.h"
#include "api/access_log.h"
#include "api/model_management.h"
#include "api/request_guard.h"
#include "api/routes.h"
#include "app/acme_challenge_solver.h"
#include "app/cli_common.h"
#include "app/serve_config.h"
#include "app/version.h"
#include "base/atomic_file.h"
#include "base/log.h"
#include "certs/cert_manager.h"
#include "engine/engine.h"
#include "http/acme_http01.h"
#include "http/https_redirect.h"
#include "http/router.h"
#include "http/server.h"
#include "keys/key_store.h"
#include "net/curl_common.h"
#include "policy/cors.h"
#include "policy/rate_limiter.h"
#include "policy/trusted_proxies.h"
#include "store/model_ref.h"
#include "store/model_store.h"
#include "store/source.h"
#include "tls/certificate_store.h"
#include "tls/file_reloader.h"
#include "tls/local_ca.h"
#include "tls/server_context.h"
#include "tls/x509_issue.h"

namespace bastion::cli {
namespace {

// The state directory holds keys, certificates, models and logs (later issues); private to the
// user who runs the server.
Status EnsureStateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error("cannot create the state directory " + dir + ": " + ec.message());
  if (::chmod(dir.c_str(), 0700) != 0) {
    return Error("cannot restrict the state directory " + dir + ": " + std::strerror(errno));
  }
  return OkStatus();
}

// Local mode: a server that runs for months renews its local leaf on its own (the check is cheap
// and re-issues only when a third of the lifetime is left), not only at the next start.
class LocalLeafRenewer {
 public:
  LocalLeafRenewer(std::string state_dir, std::vector<std::string> names, std::shared_ptr<tls::CertificateStore> store)
      : state_dir_(std::move(state_dir)), names_(std::move(names)), store_(std::move(store)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~LocalLeafRenewer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::hours(12), [this] { return stop_; })) {
      auto local = tls::EnsureLocalCertificate(state_dir_, names_);
      if (!local.ok()) {
        log::Err("tls", "cannot renew the local TLS certificate: " + local.error().message());
      } else if (local->issued_leaf) {
        store_->SetDefault(local->leaf);
        store_->Put(local->leaf);
        log::Notice("tls", "renewed the local TLS certificate (serial " + local->leaf->serial_hex() + ")");
      }
      std::fflush(stderr);
    }
  }

  const std::string state_dir_;
  const std::vector<std::string> names_;
  const std::shared_ptr<tls::CertificateStore> store_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// What the HTTPS listener needs, made before anything binds (so a bad certificate file stops
// the start with a clear error, and keys are read while still privileged).
struct TlsSetup {
  std::shared_ptr<tls::CertificateStore> store;
  std::shared_ptr<tls::ServerContext> context;
  std::unique_ptr<tls::CertificateFileReloader> reloader;  // files mode
  std::unique_ptr<LocalLeafRenewer> local_renewer;          // local mode
  std::shared_ptr<http::AcmeHttp01Responder> http01 = std::make_shared<http::AcmeHttp01Responder>();
  std::string ca_cert_path;  // local mode
  std::string description;   // for the startup log
};

void OnSighup(int) { tls::RequestCertificateReload(); }

Result<TlsSetup> SetUpTls(const ServeConfig& c) {
  TlsSetup t;
  t.store = std::make_shared<tls::CertificateStore>();
  switch (c.tls_mode()) {
    case ServeConfig::TlsMode::kOff:
      return t;
    case ServeConfig::TlsMode::kLocal: {
      BASTION_ASSIGN_OR_RETURN(tls::LocalCertificate local,
                               tls::EnsureLocalCertificate(c.state_dir, tls::LocalCertificateNames(c.host)));
      t.store->SetDefault(local.leaf);
      t.store->Put(local.leaf);
      t.local_renewer = std::make_unique<LocalLeafRenewer>(c.state_dir, tls::LocalCertificateNames(c.host), t.store);
      t.ca_cert_path = local.ca_cert_path;
      std::string names;
      for (const std::string& n : local.leaf->names()) names += (names.empty() ? "" : ", ") + n;
      t.description = "certificate from the local CA" + std::string(local.created_ca ? " (created now)" : "") +
                      " for " + names;
      break;
    }
    case ServeConfig::TlsMode::kFiles: {
      tls::CertificateFileReloader::Options o;
      o.cert_path = c.tls_cert;
      o.key_path = c.tls_key;
      BASTION_ASSIGN_OR_RETURN(t.reloader, tls::CertificateFileReloader::Start(t.store, o));
      struct sigaction sa {};
      sa.sa_handler = OnSighup;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      ::sigaction(SIGHUP, &sa, nullptr);
      const auto cert = t.reloader->current();
      t.description = "certificate from " + c.tls_cert + " (serial " + cert->serial_hex() +
                      "; reloaded when the files change or on SIGHUP)";
      break;
    }
    case ServeConfig::TlsMode::kAcme: {
      // Startup never waits for the CA: a self-signed placeholder until the certificate manager
      // (src/certs) installs the real certificate in the same store.
      if (auto placeholder = tls::InstallSelfSignedPlaceholder(*t.store, c.domains); !placeholder.ok()) {
        return placeholder.error();
      }
      std::string names;
      for (const std::string& n : c.domains) names += (names.empty() ? "" : ", ") + n;
      t.description = "temporary self-signed certificate for " + names + " until " + c.acme_ca + " issues one";
      break;
    }
  }
  BASTION_ASSIGN_OR_RETURN(t.context, tls::ServerContext::Create(t.store));
  return t;
}

// Gives the state directory (bastion's own tree) to `uid`, so the unprivileged server can still
// write certificates and keys there.
Status ChownTree(const std::string& dir, uid_t uid, gid_t gid) {
  std::error_code ec;
  if (::lchown(dir.c_str(), uid, gid) != 0) {
    return Error("cannot give the state directory " + dir + " to the --user: " + std::strerror(errno));
  }
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (::lchown(it->path().c_str(), uid, gid) != 0) {
      return Error("cannot give " + it->path().string() + " to the --user: " + std::strerror(errno));
    }
  }
  if (ec) return Error("cannot walk the state directory " + dir + ": " + ec.message());
  return OkStatus();
}

// --user: called after every listener is bound and every key is read. Supplementary groups,
// then the group, then the user (the other order would lose the right to change groups), and
// a check that root cannot be regained.
Status DropPrivileges(const std::string& user, const std::string& state_dir) {
  if (user.empty()) return OkStatus();
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) return Error("--user " + user + ": no such user");
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  if (::geteuid() != 0) {
    if (::geteuid() == uid) return OkStatus();  // already that user
    return Error("--user " + user + " needs bastion to be started as root");
  }
  BASTION_RETURN_IF_ERROR(ChownTree(state_dir, uid, gid));
  if (::initgroups(pw->pw_name, gid) != 0) return Error("--user: initgroups failed: " + std::string(std::strerror(errno)));
  if (::setgid(gid) != 0) return Error("--user: setgid failed: " + std::string(std::strerror(errno)));
  if (::setuid(uid) != 0) return Error("--user: setuid failed: " + std::string(std::strerror(errno)));
  if (uid != 0 && ::setuid(0) == 0) return Error("--user: root privileges could be regained after dropping them");
  return OkStatus();
}

// The blob of the store model c.model_name, pulling it (with progress on stderr) when the store
// does not have it. Offline with nothing stored, the error says what to do instead.
Result<std::string> ResolveStoreModel(const ServeConfig& c) {
  const store::ModelStore models(c.state_dir);
  std::vector<std::string> names = {c.model_name};
  // "hf.co/O/R:q8_0" is stored as "hf.co/O/R:Q8_0": look for the canonical name too.
  if (auto ref = store::ParseModelRef(c.model_name); ref.ok() && ref->name != c.model_name) names.push_back(ref->name);
  for (const std::string& name : names) {
    BASTION_ASSIGN_OR_RETURN(std::optional<store::Manifest> found, models.Find(name));
    if (found) return models.BlobPath(found->DigestHex());
  }
  log::Notice("serve", "model " + c.model_name + " is not in the store (" + models.root() + "); pulling it");
  auto pulled = PullWithProgress(c.state_dir, c.model_name, PullCliOptions{});
  if (!pulled.ok()) {
    return Error("cannot serve '" + c.model_name + "': it is not in the store (" + models.root() +
                 ") and pulling it failed: " + pulled.error().message() +
                 ". To serve without the network: pass a GGUF file you have with --model FILE (or BASTION_MODEL); "
                 "or make a synthetic test model with random weights: bastion synth -o synth.gguf, then "
                 "bastion serve --model synth.gguf. Pull models when online with: bastion pull " + c.model_name);
  }
  log::Notice("serve", "pulled " + pulled->name + " (" + pulled->digest.substr(0, 19) + ", " + pulled->weight_type + ")");
  return models.BlobPath(pulled->DigestHex());
}

int RunServe(const ServeFlags& flags) {
  auto config = ResolveServeConfig(flags);
  if (!config.ok()) {
    std::fprintf(stderr, "bastion: error: %s\n", config.error().message().c_str());
    return kExitUsage;
  }
  const ServeConfig& c = *config;
  // The error log first: everything after this reports through it (base/log.h).
  log::Options log_options;
  log_options.path = c.error_log;
  log_options.min_level = log::ParseLevel(c.log_level).value_or(log::Level::kInfo);
  if (Status st = log::Configure(log_options); !st.ok()) return Fail(st.error());
  if (Status st = EnsureStateDir(c.state_dir); !st.ok()) return Fail(st.error());
  // A store name (the default model too): its blob, pulled first when the store lacks it.
  std::string model_path = c.model_path;
  if (model_path.empty()) {
    auto resolved = ResolveStoreModel(c);
    if (!resolved.ok()) return Fail(resolved.error());
    model_path = *resolved;
  }
  auto tls_setup = SetUpTls(c);
  if (!tls_setup.ok()) return Fail(tls_setup.error());
  TlsSetup& tls_state = *tls_setup;

  // A peer that closes a socket must be an error on that socket, never the end of the process
  // (libcurl in the ACME client and OpenSSL write to sockets without MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  // Signals first: a SIGTERM during the model load must not kill the process half-way.
  http::TerminationSignals signals;

  auto model = Model::Load(model_path, c.mmap ? FileResidency::kMapped : FileResidency::kInMemory);
  if (!model.ok()) return Fail(model.error());
  const Model& m = **model;
  if (m.config().name.rfind("bastion synthetic", 0) == 0) {
    log::Warn("serve", model_path + " is a synthetic model with RANDOM weights (bastion synth): it runs at real "
                                      "speed but its answers are noise. Serve a real GGUF for real answers.");
  }

  engine::EngineOptions eo;
  eo.n_slots = c.parallel;
  eo.n_ctx = c.ctx_size;
  eo.n_threads = c.threads;
  eo.kv_type = c.kv_type == "f32" ? GgmlType::kF32 : GgmlType::kF16;
  eo.max_queue = c.max_queue;
  auto engine = engine::Engine::Create(m, eo);
  if (!engine.ok()) return Fail(engine.error());

  api::ModelRegistry registry;
  registry.Add(c.alias, model_path, &m, engine->get());
  api::HttpMetrics http_metrics;
  auto router = std::make_shared<http::Router>();
  // The guard: API keys, rate limits, trusted proxies, CORS (api/request_guard.h). Secure by
  // default: a listener on anything but loopback needs API keys unless --insecure-no-auth.
  auto key_store = keys::KeyStore::Load(c.state_dir);
  if (!key_store.ok()) return Fail(key_store.error());
  const bool public_listener = !c.ListensOnLoopbackOnly();
  if (public_listener && (*key_store)->empty() && !c.insecure_no_auth) {
    std::fprintf(stderr,
                 "bastion: error: refusing to serve on %s without API keys: anyone who can reach it could use "
                 "the model. Create a key first (bastion keys create --name NAME --state-dir %s), listen on "
                 "127.0.0.1, or pass --insecure-no-auth if something in front of bastion authenticates clients.\n",
                 c.host.c_str(), c.state_dir.c_str());
    return kExitUsage;
  }
  auto client_limit = policy::ParseRateLimit(c.rate, c.burst);
  if (!client_limit.ok()) return Fail(client_limit.error());
  policy::RateLimiter::Options lo;
  lo.limit = *client_limit;
  auto client_limiter = policy::RateLimiter::Create(lo);
  if (!client_limiter.ok()) return Fail(client_limiter.error());
  std::string proxies_text;
  for (const std::string& p : c.trusted_proxies) proxies_text += (proxies_text.empty() ? "" : ",") + p;
  auto proxies = policy::TrustedProxies::Parse(proxies_text);
  if (!proxies.ok()) return Fail(proxies.error());
  policy::CorsOptions cors_options;
  cors_options.allowed_origins = c.cors_origins;
  auto cors = policy::CorsPolicy::Create(cors_options);
  if (!cors.ok()) return Fail(cors.error());
  api::GuardOptions go;
  go.keys = key_store->get();
  go.client_limiter = client_limiter->get();
  const policy::TrustedProxies trusted_proxies = *proxies;  // also exempt from the per-address connection limit
  go.proxies = std::move(*proxies);
  go.cors = std::move(*cors);
  go.public_metrics = c.public_metrics;
  go.require_key = public_listener && !c.insecure_no_auth;
  auto guard_metrics = std::make_shared<api::GuardMetrics>();
  api::InstallRequestGuard(*router, std::move(go), guard_metrics);
  api::ApiContext api_context;
  api_context.registry = &registry;
  api_context.http_metrics = &http_metrics;
  api_context.limits.max_output_tokens = c.max_output_tokens;
  api_context.limits.max_json_depth = c.max_json_depth;
  api_context.limits.max_stream_duration = std::chrono::seconds(c.max_stream_duration_s);
  api_context.state_dir = c.state_dir;
  std::shared_ptr<api::ModelManagement> model_management;
  if (c.model_management) {
    api::ModelManagement::Options mo;
    mo.state_dir = c.state_dir;
    auto endpoints = store::SourceEndpoints::FromEnvironment();
    if (!endpoints.ok()) return Fail(endpoints.error());
    mo.endpoints = *endpoints;
    if (const char* ca = std::getenv("BASTION_CA_FILE"); ca != nullptr && ca[0] != '\0') {
      auto roots = net::TrustRoots::LoadPemFile(ca);
      if (!roots.ok()) return Fail(roots.error());
      mo.fetch.extra_roots = *roots;
    }
    mo.fetch.user_agent = std::string("bastion/") + kVersion + " (model pull)";
    auto created = api::ModelManagement::Create(std::move(mo));
    if (!created.ok()) return Fail(created.error());
    model_management = *created;
    if (!model_management->note().empty()) log::Warn("models", model_management->note());
  }
  api_context.model_management = model_management;
  api::RegisterAllRoutes(*router, api_context);

  // The access log (api/access_log.h); it and the error log reopen their files on SIGUSR1.
  struct sigaction usr1 {};
  usr1.sa_handler = [](int) { log::RequestReopen(); };
  sigemptyset(&usr1.sa_mask);
  usr1.sa_flags = SA_RESTART;
  ::sigaction(SIGUSR1, &usr1, nullptr);
  std::unique_ptr<api::AccessLog> access_log;
  if (c.access_log != "off") {
    std::string path = c.access_log;
    if (path.empty()) {
      path = c.state_dir + "/logs/access.log";
      if (Status st = MakeDirectories(c.state_dir + "/logs", 0700); !st.ok()) return Fail(st.error());
    }
    auto opened = api::AccessLog::Open(path, c.access_log_format == "json" ? api::AccessLog::Format::kJson
                                                                           : api::AccessLog::Format::kCombined);
    if (!opened.ok()) return Fail(opened.error());
    access_log = std::move(*opened);
  }
  http::ServerOptions so = c.ToServerOptions();
  so.on_request_done = [&http_metrics, log = access_log.get()](const http::Request& request, int status,
                                                               uint64_t bytes, uint64_t duration_ns) {
    http_metrics.Count(status);
    if (log != nullptr) log->Log(request, status, bytes, duration_ns);
  };
  so.tls = tls_state.context;  // null with --no-tls
  // A trusted proxy's address is every client's behind it: the per-address connection limit
  // would cap all of them together.
  if (!trusted_proxies.empty()) {
    so.per_ip_exempt = [trusted_proxies](const std::string& address) { return trusted_proxies.IsTrusted(address); };
  }
  so.hsts = c.HstsHeader();
  auto server = http::Server::Create(so, router);
  if (!server.ok()) return Fail(server.error());

  // The plain-HTTP companion: ACME HTTP-01 answers and redirects to the HTTPS port.
  std::unique_ptr<http::Server> redirect_server;
  if (c.http_port >= 0) {
    auto redirect_router = std::make_shared<http::Router>();
    http::HttpsRedirectOptions ro;
    ro.https_port = (*server)->port();
    ro.fallback_host = !c.domains.empty() ? c.domains.front() : (c.host == "0.0.0.0" || c.host == "::" ? "" : c.host);
    ro.http01 = tls_state.http01;
    http::AddHttpsRedirect(*redirect_router, ro);
    http::ServerOptions ho;
    ho.host = c.host;
    ho.port = static_cast<uint16_t>(c.http_port);
    ho.io_threads = 1;
    ho.limits = c.limits;
    auto created = http::Server::Create(ho, redirect_router);
    if (!created.ok()) return Fail(created.error());
    redirect_server = std::move(*created);
  }
  // Every port is bound and every key read: now the root privileges can go.
  if (Status st = DropPrivileges(c.user, c.state_dir); !st.ok()) return Fail(st.error());

  // ACME mode: the certificate manager replaces the self-signed placeholder with the stored
  // certificate at once, or with a new one when the CA has issued it (in the background: serving
  // never waits for the CA). Started after the privilege drop so every file it writes belongs to
  // the serving user. HTTP-01 goes through the redirect listener, TLS-ALPN-01 through the store.
  std::unique_ptr<ListenerChallengeSolver> solver;
  std::unique_ptr<certs::CertManager> cert_manager;
  if (c.tls_mode() == ServeConfig::TlsMode::kAcme) {
    solver = std::make_unique<ListenerChallengeSolver>(redirect_server ? tls_state.http01 : nullptr, tls_state.store);
    certs::CertManagerOptions o;
    o.state_dir = c.state_dir;
    o.domains = c.domains;
    o.acme.directory_url = c.acme_ca;
    o.acme.ca_root_file = c.acme_ca_root;
    o.acme.email = c.email;
    o.challenge_order.clear();
    for (const std::string& t : c.acme_challenges) {
      o.challenge_order.push_back(t == "http-01" ? acme::ChallengeType::kHttp01 : acme::ChallengeType::kTlsAlpn01);
    }
    o.backoff_initial = std::chrono::seconds(c.acme_retry_min_s);
    auto created = certs::CertManager::Create(std::move(o), *solver, tls_state.store);
    if (!created.ok()) return Fail(created.error());
    cert_manager = std::move(*created);
    if (Status st = cert_manager->Start(); !st.ok()) return Fail(st.error());
  }

  log::Notice("serve", std::string("bastion ") + kVersion + ": serving " + model_path + " as '" + c.alias + "' (" +
                            m.Describe() + ")");
  log::Notice("serve", std::to_string(c.parallel) + " parallel sequences x " + std::to_string(c.ctx_size) +
                           " tokens of context, " + c.kv_type + " KV cache, state in " + c.state_dir);
  // Whether the weights were read into (huge-page) memory or are mapped: a machine short of
  // memory falls back to the mapping, which decodes slower (base/mapped_file.h).
  const bool in_memory = m.gguf().mapped_file().residency() == FileResidency::kInMemory;
  log::Notice("serve", in_memory ? std::string("weights read into memory (2 MiB pages where the kernel grants them)")
                                 : std::string("weights mapped from the file") +
                                       (c.mmap ? " (mmap = true)" : " (not enough memory to read them in)"));
  const std::string shown_host = c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host;
  if (tls_state.context != nullptr) {
    log::Notice("serve", "TLS: " + tls_state.description);
    if (!tls_state.ca_cert_path.empty()) {
      log::Notice("serve", "clients must trust the local CA certificate " + tls_state.ca_cert_path);
      // Instructions for the person at the terminal (several lines), not for the log.
      std::fprintf(stderr, "To trust the local CA certificate %s, e.g.:\n%s", tls_state.ca_cert_path.c_str(),
                   tls::TrustInstructions(tls_state.ca_cert_path).c_str());
      std::fflush(stderr);
    }
  }
  if (redirect_server != nullptr) {
    log::Notice("serve", "plain HTTP on http://" + shown_host + ":" + std::to_string(redirect_server->port()) +
                             " redirects to HTTPS (and answers ACME HTTP-01)");
  }
  log::Notice("serve", "guard: " +
                           ((*key_store)->empty()
                                ? std::string(public_listener ? "no API keys (--insecure-no-auth)" : "no API keys (loopback only)")
                                : std::to_string((*key_store)->size()) + " API key(s) required") +
                           "; " + policy::FormatRateLimit(*client_limit) + " per client address" +
                           (c.trusted_proxies.empty() ? "" : "; trusted proxies set") + (c.cors_origins.empty() ? "" : "; CORS on"));
  log::Notice("serve", "limits: " + std::to_string(c.limits.max_connections) + " connections (" +
                           (c.limits.max_connections_per_ip > 0 ? std::to_string(c.limits.max_connections_per_ip)
                                                                : std::string("no limit")) +
                           " per address), body " + std::to_string(c.limits.max_body_bytes) + " bytes, JSON depth " +
                           std::to_string(c.max_json_depth) + ", " + std::to_string(c.max_output_tokens) +
                           " output tokens, streams " +
                           (c.max_stream_duration_s > 0 ? std::to_string(c.max_stream_duration_s) + " s" : std::string("unlimited")));
  log::Notice("serve", std::string("listening on ") + (tls_state.context ? "https" : "http") + "://" + shown_host + ":" +
                           std::to_string((*server)->port()));

  const int sig = signals.Wait();
  log::Notice("serve", std::string(sig == SIGINT ? "SIGINT" : "SIGTERM") + " received, finishing running requests (up to " +
                           std::to_string(c.shutdown_timeout_s) + " s)");
  // The engine stops taking requests and finishes what runs; the HTTP server then lets those
  // streams drain to their clients and closes.
  const auto deadline = c.shutdown_timeout();
  const auto start = std::chrono::steady_clock::now();
  if (cert_manager != nullptr) cert_manager->Stop();  // before the listeners that answer its challenges
  if (model_management != nullptr) model_management->Shutdown(std::chrono::seconds(2));  // cancels pulls
  (*engine)->Shutdown(deadline);
  const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  if (redirect_server != nullptr) redirect_server->Shutdown(std::chrono::milliseconds(0));
  (*server)->Shutdown(std::max(std::chrono::milliseconds(500), deadline - spent));
  log::Notice("serve", "stopped");
  return kExitOk;
}

}  // namespace

Command AddServeCommand(CLI::App& root) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* app = root.add_subcommand("serve", "Serve a model over the Ollama- and OpenAI-compatible HTTP API");
  RegisterServeFlags(app, flags.get());
  return {app, [flags] { return RunServe(*flags); }};
}

}  // namespace bastion::cli
