// Registration of every API route on a router (Ollama, OpenAI, and the server's own).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "api/api_limits.h"
#include "api/model_registry.h"
#include "http/router.h"

namespace bastion::api {

// Counters the HTTP layer reports into and /metrics reads.
struct HttpMetrics {
  std::atomic<uint64_t> requests_total{0};
  std::atomic<uint64_t> responses_2xx{0}, responses_4xx{0}, responses_5xx{0};
  void Count(int status);
};

class ModelManagement;

struct ApiContext {
  ModelRegistry* registry = nullptr;
  HttpMetrics* http_metrics = nullptr;
  ApiLimits limits;
  // The model store's state directory: /api/tags lists its models besides the served ones.
  // "" = no store.
  std::string state_dir;
  // /api/pull, /api/delete, /api/copy; null = off (they answer 403). See model_management.h.
  std::shared_ptr<ModelManagement> model_management;
};

// GET / , /health, /metrics, /api/version.
void RegisterServerRoutes(http::Router& router, const ApiContext& context);
// /api/tags, /api/ps, /api/show, /api/generate, /api/chat.
void RegisterOllamaRoutes(http::Router& router, const ApiContext& context);
// /v1/models, /v1/models/{id}, /v1/chat/completions, /v1/completions.
void RegisterOpenAiRoutes(http::Router& router, const ApiContext& context);

// All of the above, and the error responder: /v1/... paths get OpenAI-shaped error bodies,
// everything else Ollama's {"error": "..."}.
void RegisterAllRoutes(http::Router& router, const ApiContext& context);

}  // namespace bastion::api
