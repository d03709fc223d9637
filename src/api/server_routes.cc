// The server's own routes: GET / (the liveness banner), /health, /metrics (Prometheus text
// format), /api/version; and RegisterAllRoutes.
#include <cstdio>

#include "api/json_body.h"
#include "api/metrics_text.h"
#include "api/model_management.h"
#include "api/routes.h"
#include "app/version.h"

namespace bastion::api {

void HttpMetrics::Count(int status) {
  requests_total.fetch_add(1, std::memory_order_relaxed);
  if (status < 300) {
    responses_2xx.fetch_add(1, std::memory_order_relaxed);
  } else if (status < 500) {
    responses_4xx.fetch_add(1, std::memory_order_relaxed);
  } else {
    responses_5xx.fetch_add(1, std::memory_order_relaxed);
  }
}

void RegisterServerRoutes(http::Router& router, const ApiContext& context) {
  const ApiContext ctx = context;
  router.Add("GET", "/", [](const http::Request&, std::shared_ptr<http::ResponseWriter> w) {
    w->Send(200, "text/plain; charset=utf-8", "bastion is running");
  });
  router.Add("GET", "/health", [ctx](const http::Request&, std::shared_ptr<http::ResponseWriter> w) {
    Json j;
    j["status"] = "ok";
    j["models"] = ctx.registry->models().size();
    w->Send(200, "application/json", j.dump());
  });
  router.Add("GET", "/api/version", [](const http::Request&, std::shared_ptr<http::ResponseWriter> w) {
    w->Send(200, "application/json", Json{{"version", kVersion}}.dump());
  });
  router.Add("GET", "/metrics", [ctx](const http::Request&, std::shared_ptr<http::ResponseWriter> w) {
    w->Send(200, "text/plain; version=0.0.4; charset=utf-8", RenderPrometheusMetrics(ctx));
  });
}

void RegisterAllRoutes(http::Router& router, const ApiContext& context) {
  router.SetErrorResponder([](const http::Request& request, int status, std::string_view message) {
    const bool openai = std::string_view(request.path).substr(0, 4) == "/v1/";
    return http::ErrorBody{"application/json", openai ? OpenAiError(status, message) : OllamaError(message)};
  });
  RegisterServerRoutes(router, context);
  RegisterOllamaRoutes(router, context);
  RegisterOpenAiRoutes(router, context);
  RegisterModelManagementRoutes(router, context.model_management);
}

}  // namespace bastion::api
