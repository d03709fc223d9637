// RenderPrometheusMetrics: text format 0.0.4 (# HELP / # TYPE lines, labelled samples).
#include "api/metrics_text.h"

#include <cstdio>
#include <string>
#include <vector>

namespace bastion::api {
namespace {

class Writer {
 public:
  void Header(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const std::string& name, const std::string& labels, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    out_ += name + (labels.empty() ? "" : "{" + labels + "}") + " " + buf + "\n";
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string Escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void Histogram(Writer& w, const char* name, const std::string& labels, const std::vector<double>& samples,
               const std::vector<double>& bounds) {
  double sum = 0;
  for (double s : samples) sum += s;
  for (double b : bounds) {
    size_t n = 0;
    for (double s : samples) n += s <= b;
    char le[32];
    std::snprintf(le, sizeof le, "%g", b);
    w.Sample(std::string(name) + "_bucket", labels + ",le=\"" + le + "\"", static_cast<double>(n));
  }
  w.Sample(std::string(name) + "_bucket", labels + ",le=\"+Inf\"", static_cast<double>(samples.size()));
  w.Sample(std::string(name) + "_sum", labels, sum);
  w.Sample(std::string(name) + "_count", labels, static_cast<double>(samples.size()));
}

}  // namespace

std::string RenderPrometheusMetrics(const ApiContext& ctx) {
  Writer w;
  if (ctx.http_metrics != nullptr) {
    const HttpMetrics& h = *ctx.http_metrics;
    w.Header("bastion_http_requests_total", "counter", "HTTP requests answered.");
    w.Sample("bastion_http_requests_total", "", static_cast<double>(h.requests_total.load()));
    w.Header("bastion_http_responses_total", "counter", "HTTP responses by status class.");
    w.Sample("bastion_http_responses_total", "class=\"2xx\"", static_cast<double>(h.responses_2xx.load()));
    w.Sample("bastion_http_responses_total", "class=\"4xx\"", static_cast<double>(h.responses_4xx.load()));
    w.Sample("bastion_http_responses_total", "class=\"5xx\"", static_cast<double>(h.responses_5xx.load()));
  }
  struct Row {
    std::string labels;
    engine::Metrics m;
  };
  std::vector<Row> rows;
  for (const auto& model : ctx.registry->models()) {
    rows.push_back({"model=\"" + Escape(model->name) + "\"", model->engine->GetMetrics()});
  }
  auto counter = [&](const char* name, const char* help, auto field) {
    w.Header(name, "counter", help);
    for (const Row& r : rows) w.Sample(name, r.labels, static_cast<double>(field(r.m)));
  };
  auto gauge = [&](const char* name, const char* help, auto field) {
    w.Header(name, "gauge", help);
    for (const Row& r : rows) w.Sample(name, r.labels, static_cast<double>(field(r.m)));
  };
  counter("bastion_generation_requests_total", "Generation requests accepted.",
          [](const engine::Metrics& m) { return m.requests_total; });
  counter("bastion_generation_requests_rejected_total", "Generation requests refused because the queue was full.",
          [](const engine::Metrics& m) { return m.requests_rejected; });
  counter("bastion_prompt_tokens_total", "Prompt tokens received.",
          [](const engine::Metrics& m) { return m.prompt_tokens_total; });
  counter("bastion_prompt_tokens_cached_total", "Prompt tokens served from the prefix cache.",
          [](const engine::Metrics& m) { return m.cached_prompt_tokens_total; });
  counter("bastion_generated_tokens_total", "Tokens generated.",
          [](const engine::Metrics& m) { return m.generated_tokens_total; });
  counter("bastion_forward_passes_total", "Batched forward passes run.",
          [](const engine::Metrics& m) { return m.forward_passes_total; });
  gauge("bastion_queue_depth", "Requests waiting for a sequence slot.",
        [](const engine::Metrics& m) { return m.queue_depth; });
  gauge("bastion_active_sequences", "Sequences being generated.", [](const engine::Metrics& m) { return m.active_slots; });
  gauge("bastion_sequence_slots", "Sequence slots (parallel requests).", [](const engine::Metrics& m) { return m.n_slots; });
  gauge("bastion_kv_cache_cells_used", "KV-cache positions holding tokens (all slots).",
        [](const engine::Metrics& m) { return m.kv_cells_used; });
  gauge("bastion_kv_cache_cells_total", "KV-cache positions (all slots).",
        [](const engine::Metrics& m) { return m.kv_cells_total; });
  gauge("bastion_kv_cache_usage_ratio", "Used share of the KV cache.", [](const engine::Metrics& m) {
    return m.kv_cells_total > 0 ? static_cast<double>(m.kv_cells_used) / m.kv_cells_total : 0.0;
  });
  w.Header("bastion_time_to_first_token_seconds", "histogram", "Time from request to first generated token.");
  for (const Row& r : rows) {
    Histogram(w, "bastion_time_to_first_token_seconds", r.labels, r.m.ttft_seconds,
              {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  }
  w.Header("bastion_decode_tokens_per_second", "histogram", "Decode speed of finished requests.");
  for (const Row& r : rows) {
    Histogram(w, "bastion_decode_tokens_per_second", r.labels, r.m.tokens_per_second, {1, 5, 10, 20, 40, 80, 160});
  }
  return w.Take();
}

}  // namespace bastion::api
