// `bastion serve`: the HTTP API server (Ollama and OpenAI compatible) over one model.
//
//   bastion serve -m FILE [--alias NAME] [--host 127.0.0.1] [--port 11434] [--no-tls] ...
// Every setting can also come from BASTION_* environment variables or a TOML file (--config);
// `bastion serve --help` and docs/CONFIG.md list them. SIGTERM or SIGINT shut down gracefully:
// no new requests, running streams finish within --shutdown-timeout, then the process exits 0.
#include <sys/stat.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "api/routes.h"
#include "app/cli_common.h"
#include "app/serve_config.h"
#include "app/version.h"
#include "engine/engine.h"
#include "http/router.h"
#include "http/server.h"

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

int RunServe(const ServeFlags& flags) {
  auto config = ResolveServeConfig(flags);
  if (!config.ok()) {
    std::fprintf(stderr, "bastion: error: %s\n", config.error().message().c_str());
    return kExitUsage;
  }
  const ServeConfig& c = *config;
  if (Status st = EnsureStateDir(c.state_dir); !st.ok()) return Fail(st.error());

  // Signals first: a SIGTERM during the model load must not kill the process half-way.
  http::TerminationSignals signals;

  auto model = Model::Load(c.model_path);
  if (!model.ok()) return Fail(model.error());
  const Model& m = **model;
  if (m.config().name.rfind("bastion synthetic", 0) == 0) {
    std::fprintf(stderr,
                 "bastion: warning: %s is a synthetic model with RANDOM weights (bastion synth): it runs at real speed "
                 "but its answers are noise. Serve a real GGUF for real answers.\n",
                 c.model_path.c_str());
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
  registry.Add(c.alias, c.model_path, &m, engine->get());
  api::HttpMetrics http_metrics;
  auto router = std::make_shared<http::Router>();
  api::RegisterAllRoutes(*router, api::ApiContext{&registry, &http_metrics});

  http::ServerOptions so = c.ToServerOptions();
  so.on_request_done = [&http_metrics](const http::Request&, int status, uint64_t, uint64_t) {
    http_metrics.Count(status);
  };
  auto server = http::Server::Create(so, router);
  if (!server.ok()) return Fail(server.error());

  std::fprintf(stderr, "bastion %s: serving %s as '%s' (%s)\n", kVersion, c.model_path.c_str(), c.alias.c_str(),
               m.Describe().c_str());
  std::fprintf(stderr, "bastion: %d parallel sequences x %d tokens of context, %s KV cache, state in %s\n", c.parallel,
               c.ctx_size, c.kv_type.c_str(), c.state_dir.c_str());
  const std::string shown_host = c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host;
  std::fprintf(stderr, "bastion: listening on http://%s:%u\n", shown_host.c_str(), (*server)->port());
  std::fflush(stderr);

  const int sig = signals.Wait();
  std::fprintf(stderr, "bastion: %s received, finishing running requests (up to %d s)\n",
               sig == SIGINT ? "SIGINT" : "SIGTERM", c.shutdown_timeout_s);
  std::fflush(stderr);
  // The engine stops taking requests and finishes what runs; the HTTP server then lets those
  // streams drain to their clients and closes.
  const auto deadline = c.shutdown_timeout();
  const auto start = std::chrono::steady_clock::now();
  (*engine)->Shutdown(deadline);
  const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  (*server)->Shutdown(std::max(std::chrono::milliseconds(500), deadline - spent));
  std::fprintf(stderr, "bastion: stopped\n");
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
