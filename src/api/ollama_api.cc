// The Ollama API: /api/tags, /api/ps, /api/show, /api/generate, /api/chat.
//
// Shapes follow Ollama's docs (shared/reference/api-compat.md): NDJSON streaming by default,
// `stream: false` for one object, durations in nanoseconds, errors as {"error": "..."}.
#include <algorithm>
#include <chrono>
#include <optional>

#include "api/chat_request.h"
#include "api/generation_exchange.h"
#include "api/generation_options.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "store/model_store.h"

namespace bastion::api {
namespace {

constexpr const char* kNdjson = "application/x-ndjson";

Json Details(const ServedModel& m) {
  Json d;
  d["parent_model"] = "";
  d["format"] = "gguf";
  d["family"] = m.family;
  d["families"] = Json::array({m.family});
  d["parameter_size"] = m.parameter_size;
  d["quantization_level"] = m.quantization;
  return d;
}

// Statistics fields of a final chunk.
void AddStats(const engine::RequestStats& s, Json* j) {
  (*j)["total_duration"] = s.total_ns;
  (*j)["load_duration"] = s.queue_ns;  // the model is resident; time spent waiting for a slot
  (*j)["prompt_eval_count"] = s.prompt_tokens;
  (*j)["prompt_eval_duration"] = s.prompt_ns;
  (*j)["eval_count"] = s.generated_tokens;
  (*j)["eval_duration"] = s.generate_ns;
}

std::string DoneReason(const engine::Event& e) { return e.finish == FinishReason::kLength ? "length" : "stop"; }

std::string Line(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n"; }

class OllamaChatFormat : public ResponseFormat {
 public:
  explicit OllamaChatFormat(std::string model) : model_(std::move(model)) {}
  std::string_view stream_content_type() const override { return kNdjson; }
  std::string StreamChunk(const engine::Event& e) override { return Line(Message(e.text, false)); }
  std::string StreamEnd(const engine::Event& e) override {
    Json j = Message("", true);
    j["done_reason"] = DoneReason(e);
    AddStats(e.stats, &j);
    return Line(j);
  }
  std::string StreamError(std::string_view message) override { return OllamaError(message) + "\n"; }
  std::string Whole(const std::string& text, const engine::Event& e) override {
    Json j = Message(text, true);
    j["done_reason"] = DoneReason(e);
    AddStats(e.stats, &j);
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
  }

 private:
  Json Message(const std::string& text, bool done) const {
    Json j;
    j["model"] = model_;
    j["created_at"] = Rfc3339NanoNow();
    j["message"] = {{"role", "assistant"}, {"content", text}};
    j["done"] = done;
    return j;
  }
  std::string model_;
};

class OllamaGenerateFormat : public ResponseFormat {
 public:
  OllamaGenerateFormat(std::string model, std::vector<int32_t> prompt, bool with_context)
      : model_(std::move(model)), context_(std::move(prompt)), with_context_(with_context) {}
  std::string_view stream_content_type() const override { return kNdjson; }
  std::string StreamChunk(const engine::Event& e) override {
    context_.insert(context_.end(), e.tokens.begin(), e.tokens.end());
    return Line(Response(e.text, false));
  }
  std::string StreamEnd(const engine::Event& e) override {
    context_.insert(context_.end(), e.tokens.begin(), e.tokens.end());
    return Line(Final("", e));
  }
  std::string StreamError(std::string_view message) override { return OllamaError(message) + "\n"; }
  std::string Whole(const std::string& text, const engine::Event& e) override {
    return Final(text, e).dump(-1, ' ', false, Json::error_handler_t::replace);
  }

 private:
  Json Response(const std::string& text, bool done) const {
    Json j;
    j["model"] = model_;
    j["created_at"] = Rfc3339NanoNow();
    j["response"] = text;
    j["done"] = done;
    return j;
  }
  Json Final(const std::string& text, const engine::Event& e) const {
    Json j = Response(text, true);
    j["done_reason"] = DoneReason(e);
    if (with_context_) j["context"] = context_;  // deprecated in Ollama, still sent by it
    AddStats(e.stats, &j);
    return j;
  }
  std::string model_;
  std::vector<int32_t> context_;
  bool with_context_;
};

// Finds the model a request names, or answers 404.
const ServedModel* RequireModel(const ApiContext& ctx, const Json& body, const http::Request& req,
                                http::ResponseWriter& w) {
  std::string name = body.value("model", "");
  if (name.empty()) name = body.value("name", "");
  if (name.empty()) {
    SendError(w, req, 400, "'model' is required");
    return nullptr;
  }
  const ServedModel* m = ctx.registry->Find(name);
  if (m == nullptr) SendError(w, req, 404, "model '" + name + "' not found");
  return m;
}

// The "load" answer Ollama gives to an empty prompt or message list.
void SendLoaded(const ServedModel& m, bool chat, http::ResponseWriter& w) {
  Json j;
  j["model"] = m.name;
  j["created_at"] = Rfc3339NanoNow();
  if (chat) {
    j["message"] = {{"role", "assistant"}, {"content", ""}};
  } else {
    j["response"] = "";
  }
  j["done"] = true;
  j["done_reason"] = "load";
  w.Send(200, "application/json", j.dump());
}

// Shared by generate and chat: options, format, truncate, stream.
struct CommonParams {
  engine::Request request;
  bool stream = true;
  std::optional<int> num_ctx;

  // Ollama's num_ctx: the prompt and the reply must fit in it. Below the engine's slot size it is
  // enforced here (a too-long prompt is refused, or cut to its last num_ctx/2 tokens when the
  // request asks for truncation; the reply is capped); above, the slot size is the limit.
  Status ApplyNumCtx() {
    if (!num_ctx) return OkStatus();
    const int n = *num_ctx;
    std::vector<int32_t>& p = request.prompt;
    if (static_cast<int>(p.size()) >= n) {
      if (!request.truncate) {
        return Error("the prompt has " + std::to_string(p.size()) + " tokens, more than num_ctx " +
                     std::to_string(n) + " allows; shorten it or set \"truncate\": true");
      }
      p.erase(p.begin(), p.end() - std::max(1, n / 2));
    }
    const int room = n - static_cast<int>(p.size());
    int& max = request.params.max_tokens;
    max = max < 0 ? room : std::min(max, room);
    return OkStatus();
  }
};

Result<CommonParams> ReadCommon(const Json& body, const ServedModel& m, const ApiLimits& limits) {
  CommonParams c;
  c.request.params = ServerDefaultParams();
  if (body.contains("options")) {
    BASTION_RETURN_IF_ERROR(ApplyOllamaOptions(body["options"], &c.request.params, &c.num_ctx));
  }
  BASTION_RETURN_IF_ERROR(ApplyOutputTokenCap(&c.request.params, limits.max_output_tokens, "num_predict"));
  BASTION_ASSIGN_OR_RETURN(c.stream, GetBool(body, "stream", true));
  BASTION_ASSIGN_OR_RETURN(c.request.truncate, GetBool(body, "truncate", false));
  if (body.contains("format")) {
    BASTION_ASSIGN_OR_RETURN(c.request.constraint, ConstraintFromOllamaFormat(body["format"], m.model->tokenizer()));
  }
  // keep_alive is accepted and has nothing to do: served models stay loaded.
  if (body.contains("keep_alive") && !body["keep_alive"].is_null() && !body["keep_alive"].is_string() &&
      !body["keep_alive"].is_number()) {
    return Error("'keep_alive' must be a duration string or a number of seconds");
  }
  return c;
}

void HandleChat(const ApiContext& ctx, const http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
  auto body = ParseJsonObject(req.body, ctx.limits.max_json_depth);
  if (!body.ok()) return SendError(*w, req, 400, body.error().message());
  const ServedModel* m = RequireModel(ctx, *body, req, *w);
  if (m == nullptr) return;
  const Json messages_json = body->value("messages", Json::array());
  auto messages = ParseOllamaMessages(messages_json);
  if (!messages.ok()) return SendError(*w, req, 400, messages.error().message());
  if (messages->empty()) return SendLoaded(*m, /*chat=*/true, *w);
  auto common = ReadCommon(*body, *m, ctx.limits);
  if (!common.ok()) return SendError(*w, req, 400, common.error().message());
  auto prompt = ChatPromptTokens(*m->model, *messages, body->value("tools", Json()));
  if (!prompt.ok()) return SendError(*w, req, 400, prompt.error().message());
  common->request.prompt = std::move(prompt).value();
  if (Status st = common->ApplyNumCtx(); !st.ok()) return SendError(*w, req, 400, st.error().message());
  RunGeneration(*m->engine, std::move(common->request), std::make_unique<OllamaChatFormat>(m->name),
                common->stream, req, std::move(w), ctx.limits.max_stream_duration);
}

void HandleGenerate(const ApiContext& ctx, const http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
  auto body = ParseJsonObject(req.body, ctx.limits.max_json_depth);
  if (!body.ok()) return SendError(*w, req, 400, body.error().message());
  const ServedModel* m = RequireModel(ctx, *body, req, *w);
  if (m == nullptr) return;
  auto prompt_text = GetString(*body, "prompt", "");
  auto system = GetString(*body, "system", "");
  auto raw = GetBool(*body, "raw", false);
  if (!prompt_text.ok() || !system.ok() || !raw.ok()) {
    return SendError(*w, req, 400, "'prompt' and 'system' must be strings and 'raw' a boolean");
  }
  if (body->contains("images") && (*body)["images"].is_array() && !(*body)["images"].empty()) {
    return SendError(*w, req, 400, "this model does not support images");
  }
  if (body->contains("suffix") && (*body)["suffix"].is_string() && !(*body)["suffix"].get<std::string>().empty()) {
    return SendError(*w, req, 400, "this model does not support insert (suffix)");
  }
  std::vector<int32_t> context;
  if (body->contains("context") && !(*body)["context"].is_null()) {
    const Json& c = (*body)["context"];
    if (!c.is_array()) return SendError(*w, req, 400, "'context' must be an array of token ids");
    for (const Json& id : c) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= m->model->config().n_vocab) {
        return SendError(*w, req, 400, "'context' holds an invalid token id");
      }
      context.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  }
  if (prompt_text->empty() && context.empty()) return SendLoaded(*m, /*chat=*/false, *w);
  auto common = ReadCommon(*body, *m, ctx.limits);
  if (!common.ok()) return SendError(*w, req, 400, common.error().message());
  auto prompt = GeneratePromptTokens(*m->model, *prompt_text, *system, *raw);
  if (!prompt.ok()) return SendError(*w, req, 400, prompt.error().message());
  // A previous response's context continues the conversation: its tokens come first.
  std::vector<int32_t> tokens = std::move(context);
  tokens.insert(tokens.end(), prompt->begin(), prompt->end());
  common->request.prompt = tokens;
  if (Status st = common->ApplyNumCtx(); !st.ok()) return SendError(*w, req, 400, st.error().message());
  tokens = common->request.prompt;
  RunGeneration(*m->engine, std::move(common->request),
                std::make_unique<OllamaGenerateFormat>(m->name, tokens, !*raw), common->stream, req, std::move(w),
                ctx.limits.max_stream_duration);
}

void HandleTags(const ApiContext& ctx, const http::Request&, std::shared_ptr<http::ResponseWriter> w) {
  Json models = Json::array();
  for (const auto& m : ctx.registry->models()) {
    Json j;
    j["name"] = m->name;
    j["model"] = m->name;
    j["modified_at"] = Rfc3339(m->modified_unix);
    j["size"] = m->size_bytes;
    j["digest"] = ctx.registry->Digest(*m);
    j["details"] = Details(*m);
    models.push_back(j);
  }
  // The store's other models (pulled, not served by this process), as Ollama lists local models.
  if (!ctx.state_dir.empty()) {
    for (const store::Manifest& man : store::ModelStore(ctx.state_dir).List()) {
      if (ctx.registry->Find(man.name) != nullptr) continue;
      Json j;
      j["name"] = man.name;
      j["model"] = man.name;
      j["modified_at"] = man.added;
      j["size"] = man.size;
      j["digest"] = man.DigestHex();
      Json d;
      d["parent_model"] = "";
      d["format"] = "gguf";
      d["family"] = man.architecture;
      d["families"] = Json::array({man.architecture});
      d["parameter_size"] = FormatParameterCount(man.parameters);
      d["quantization_level"] = man.weight_type;
      j["details"] = d;
      models.push_back(j);
    }
  }
  w->Send(200, "application/json", Json{{"models", models}}.dump());
}

void HandlePs(const ApiContext& ctx, const http::Request&, std::shared_ptr<http::ResponseWriter> w) {
  Json models = Json::array();
  for (const auto& m : ctx.registry->models()) {
    Json j;
    j["name"] = m->name;
    j["model"] = m->name;
    j["size"] = m->size_bytes;
    j["digest"] = ctx.registry->Digest(*m);
    j["details"] = Details(*m);
    j["expires_at"] = "2318-08-22T00:00:00Z";  // served models never unload (Ollama's "forever")
    j["size_vram"] = 0;
    j["context_length"] = m->engine->options().n_ctx;
    models.push_back(j);
  }
  w->Send(200, "application/json", Json{{"models", models}}.dump());
}

void HandleShow(const ApiContext& ctx, const http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
  auto body = ParseJsonObject(req.body, ctx.limits.max_json_depth);
  if (!body.ok()) return SendError(*w, req, 400, body.error().message());
  const ServedModel* m = RequireModel(ctx, *body, req, *w);
  if (m == nullptr) return;
  const GgufFile& gguf = m->model->gguf();
  Json info;
  // Scalar metadata as Ollama's model_info; long arrays (the vocabulary) are left out as Ollama
  // does without verbose.
  for (const std::string& key : gguf.keys()) {
    const GgufValue* v = gguf.Find(key);
    if (v == nullptr || v->is_array()) continue;
    if (const auto* s = v->As<std::string>()) {
      if (key != "tokenizer.chat_template") info[key] = *s;
      continue;
    }
    uint64_t u = 0;
    int64_t i = 0;
    if (v->ToUint64(&u)) {
      info[key] = u;
    } else if (v->ToInt64(&i)) {
      info[key] = i;
    } else if (const auto* f = v->As<float>()) {
      info[key] = *f;
    } else if (const auto* d = v->As<double>()) {
      info[key] = *d;
    } else if (const auto* b = v->As<bool>()) {
      info[key] = *b;
    }
  }
  info["general.parameter_count"] = m->model->ParameterCount();
  const GenerationParams d = ServerDefaultParams();
  char params[256];
  std::snprintf(params, sizeof params, "temperature %g\ntop_k %d\ntop_p %g\nrepeat_penalty %g\n",
                static_cast<double>(d.sampling.temperature), d.sampling.top_k, static_cast<double>(d.sampling.top_p),
                static_cast<double>(d.sampling.repeat_penalty));
  Json j;
  j["modelfile"] = "FROM " + m->file_path + "\n";
  j["parameters"] = params;
  j["template"] = m->model->chat_template();
  j["system"] = std::string(kQwenDefaultSystemPrompt);
  j["details"] = Details(*m);
  j["model_info"] = info;
  j["capabilities"] = Json::array({"completion", "tools"});
  j["modified_at"] = Rfc3339(m->modified_unix);
  w->Send(200, "application/json", j.dump(-1, ' ', false, Json::error_handler_t::replace));
}

}  // namespace

void RegisterOllamaRoutes(http::Router& router, const ApiContext& context) {
  const ApiContext ctx = context;
  router.Add("GET", "/api/tags", [ctx](const http::Request& r, auto w) { HandleTags(ctx, r, std::move(w)); });
  router.Add("GET", "/api/ps", [ctx](const http::Request& r, auto w) { HandlePs(ctx, r, std::move(w)); });
  router.Add("POST", "/api/show", [ctx](const http::Request& r, auto w) { HandleShow(ctx, r, std::move(w)); });
  router.Add("POST", "/api/generate", [ctx](const http::Request& r, auto w) { HandleGenerate(ctx, r, std::move(w)); });
  router.Add("POST", "/api/chat", [ctx](const http::Request& r, auto w) { HandleChat(ctx, r, std::move(w)); });
}

}  // namespace bastion::api
