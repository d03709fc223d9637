// The OpenAI-compatible API: /v1/models, /v1/models/{id}, /v1/chat/completions, /v1/completions.
//
// SSE streaming ends with `data: [DONE]`; `stream_options.include_usage` adds a usage chunk with
// empty choices; `n` > 1 is refused; errors are {"error": {message, type, param, code}}.
#include <chrono>
#include <random>

#include "api/chat_request.h"
#include "api/generation_exchange.h"
#include "api/generation_options.h"
#include "api/json_body.h"
#include "api/routes.h"
#include "app/version.h"

namespace bastion::api {
namespace {

constexpr const char* kEventStream = "text/event-stream";

std::string RandomId(const char* prefix) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kChars[rng() % (sizeof kChars - 1)];
  return id;
}

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }
std::string Sse(const Json& j) { return "data: " + Dump(j) + "\n\n"; }

std::string FinishReasonOf(const engine::Event& e) { return e.finish == FinishReason::kLength ? "length" : "stop"; }

Json Usage(const engine::RequestStats& s) {
  return {{"prompt_tokens", s.prompt_tokens},
          {"completion_tokens", s.generated_tokens},
          {"total_tokens", s.prompt_tokens + s.generated_tokens},
          {"prompt_tokens_details", {{"cached_tokens", s.cached_tokens}}}};
}

// Fields shared by chat and text completions, streamed or not.
class OpenAiFormatBase : public ResponseFormat {
 public:
  OpenAiFormatBase(std::string model, bool include_usage, const char* id_prefix, const char* object)
      : model_(std::move(model)), include_usage_(include_usage), id_(RandomId(id_prefix)), created_(NowUnix()),
        object_(object) {}
  std::string_view stream_content_type() const override { return kEventStream; }
  std::string StreamError(std::string_view message) override {
    return "data: " + OpenAiError(500, message) + "\n\n";
  }

 protected:
  Json Envelope(const char* object) const {
    Json j;
    j["id"] = id_;
    j["object"] = object;
    j["created"] = created_;
    j["model"] = model_;
    j["system_fingerprint"] = std::string("fp_bastion_") + kVersion;
    return j;
  }
  // Closing chunks of a stream: the finish chunk, the usage chunk if asked, [DONE].
  std::string End(Json finish_chunk, const engine::Event& e) const {
    if (include_usage_) finish_chunk["usage"] = nullptr;
    std::string out = Sse(finish_chunk);
    if (include_usage_) {
      Json usage = Envelope(object_);
      usage["choices"] = Json::array();
      usage["usage"] = Usage(e.stats);
      out += Sse(usage);
    }
    return out + "data: [DONE]\n\n";
  }
  Json WithUsageNull(Json chunk) const {
    if (include_usage_) chunk["usage"] = nullptr;
    return chunk;
  }

  std::string model_;
  bool include_usage_;
  std::string id_;
  int64_t created_;
  const char* object_;
};

class ChatCompletionFormat : public OpenAiFormatBase {
 public:
  ChatCompletionFormat(std::string model, bool include_usage)
      : OpenAiFormatBase(std::move(model), include_usage, "chatcmpl-", "chat.completion.chunk") {}
  std::string StreamStart() override { return Sse(WithUsageNull(Chunk({{"role", "assistant"}, {"content", ""}}, nullptr))); }
  std::string StreamChunk(const engine::Event& e) override { return Sse(WithUsageNull(Chunk({{"content", e.text}}, nullptr))); }
  std::string StreamEnd(const engine::Event& e) override { return End(Chunk(Json::object(), FinishReasonOf(e)), e); }
  std::string Whole(const std::string& text, const engine::Event& e) override {
    Json j = Envelope("chat.completion");
    Json choice;
    choice["index"] = 0;
    choice["message"] = {{"role", "assistant"}, {"content", text}};
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = FinishReasonOf(e);
    j["choices"] = Json::array({choice});
    j["usage"] = Usage(e.stats);
    return Dump(j);
  }

 private:
  Json Chunk(Json delta, Json finish_reason) const {
    Json j = Envelope("chat.completion.chunk");
    Json choice;
    choice["index"] = 0;
    choice["delta"] = std::move(delta);
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = std::move(finish_reason);
    j["choices"] = Json::array({choice});
    return j;
  }
};

class TextCompletionFormat : public OpenAiFormatBase {
 public:
  TextCompletionFormat(std::string model, bool include_usage)
      : OpenAiFormatBase(std::move(model), include_usage, "cmpl-", "text_completion") {}
  std::string StreamChunk(const engine::Event& e) override { return Sse(WithUsageNull(Chunk(e.text, nullptr))); }
  std::string StreamEnd(const engine::Event& e) override { return End(Chunk("", FinishReasonOf(e)), e); }
  std::string Whole(const std::string& text, const engine::Event& e) override {
    Json j = Chunk(text, FinishReasonOf(e));
    j["usage"] = Usage(e.stats);
    return Dump(j);
  }

 private:
  Json Chunk(const std::string& text, Json finish_reason) const {
    Json j = Envelope("text_completion");
    Json choice;
    choice["text"] = text;
    choice["index"] = 0;
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = std::move(finish_reason);
    j["choices"] = Json::array({choice});
    return j;
  }
};

Json ModelObject(const ServedModel& m) {
  return {{"id", m.name}, {"object", "model"}, {"created", m.loaded_unix}, {"owned_by", "bastion"}};
}

// An OpenAI error naming the offending parameter, with its error-log line.
void SendParamError(http::ResponseWriter& w, const http::Request& req, int status, const std::string& message,
                    std::string_view param, std::string_view code = "") {
  http::LogErrorResponse(req, status, message);
  w.Send(status, "application/json", OpenAiError(status, message, param, code));
}

const ServedModel* RequireModel(const ApiContext& ctx, const Json& body, const http::Request& req,
                                http::ResponseWriter& w) {
  const auto it = body.find("model");
  if (it == body.end() || !it->is_string() || it->get<std::string>().empty()) {
    SendParamError(w, req, 400, "'model' is required", "model");
    return nullptr;
  }
  const ServedModel* m = ctx.registry->Find(it->get<std::string>());
  if (m == nullptr) {
    SendParamError(w, req, 404, "The model '" + it->get<std::string>() + "' does not exist", "model",
                   "model_not_found");
  }
  return m;
}

struct CommonParams {
  engine::Request request;
  bool stream = false;
  bool include_usage = false;
};

Result<CommonParams> ReadCommon(const Json& body, const ServedModel& m, const ApiLimits& limits) {
  CommonParams c;
  c.request.params = ServerDefaultParams();
  BASTION_RETURN_IF_ERROR(ApplyOpenAiParams(body, &c.request.params));
  BASTION_RETURN_IF_ERROR(ApplyOutputTokenCap(&c.request.params, limits.max_output_tokens,
                                              body.contains("max_completion_tokens") ? "max_completion_tokens"
                                                                                     : "max_tokens"));
  BASTION_ASSIGN_OR_RETURN(c.stream, GetBool(body, "stream", false));
  BASTION_ASSIGN_OR_RETURN(c.request.truncate, GetBool(body, "truncate", false));
  const auto so = body.find("stream_options");
  if (so != body.end() && so->is_object()) {
    BASTION_ASSIGN_OR_RETURN(c.include_usage, GetBool(*so, "include_usage", false));
  }
  if (body.contains("response_format")) {
    BASTION_ASSIGN_OR_RETURN(c.request.constraint,
                             ConstraintFromResponseFormat(body["response_format"], m.model->tokenizer()));
  }
  return c;
}

void HandleChatCompletions(const ApiContext& ctx, const http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
  auto body = ParseJsonObject(req.body, ctx.limits.max_json_depth);
  if (!body.ok()) return SendError(*w, req, 400, body.error().message());
  const ServedModel* m = RequireModel(ctx, *body, req, *w);
  if (m == nullptr) return;
  if (!body->contains("messages")) return SendParamError(*w, req, 400, "'messages' is required", "messages");
  auto messages = ParseOpenAiMessages((*body)["messages"]);
  if (!messages.ok()) return SendParamError(*w, req, 400, messages.error().message(), "messages");
  auto common = ReadCommon(*body, *m, ctx.limits);
  if (!common.ok()) return SendError(*w, req, 400, common.error().message());
  auto prompt = ChatPromptTokens(*m->model, *messages, body->value("tools", Json()));
  if (!prompt.ok()) return SendError(*w, req, 400, prompt.error().message());
  common->request.prompt = std::move(prompt).value();
  RunGeneration(*m->engine, std::move(common->request),
                std::make_unique<ChatCompletionFormat>(m->name, common->include_usage), common->stream, req,
                std::move(w), ctx.limits.max_stream_duration);
}

void HandleCompletions(const ApiContext& ctx, const http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
  auto body = ParseJsonObject(req.body, ctx.limits.max_json_depth);
  if (!body.ok()) return SendError(*w, req, 400, body.error().message());
  const ServedModel* m = RequireModel(ctx, *body, req, *w);
  if (m == nullptr) return;
  std::string prompt_text;
  const auto p = body->find("prompt");
  if (p != body->end() && p->is_string()) {
    prompt_text = p->get<std::string>();
  } else if (p != body->end() && p->is_array() && p->size() == 1 && (*p)[0].is_string()) {
    prompt_text = (*p)[0].get<std::string>();
  } else {
    return SendParamError(*w, req, 400, "'prompt' must be a string", "prompt");
  }
  if (body->value("echo", false)) {
    return SendParamError(*w, req, 400, "'echo' is not supported", "echo");
  }
  if (body->contains("suffix") && (*body)["suffix"].is_string() && !(*body)["suffix"].get<std::string>().empty()) {
    return SendParamError(*w, req, 400, "'suffix' is not supported by this model", "suffix");
  }
  auto common = ReadCommon(*body, *m, ctx.limits);
  if (!common.ok()) return SendError(*w, req, 400, common.error().message());
  // A text completion continues the prompt as written: no chat template, special tokens parsed
  // (as llama.cpp's /v1/completions does).
  auto prompt = GeneratePromptTokens(*m->model, prompt_text, "", /*raw=*/true);
  if (!prompt.ok()) return SendError(*w, req, 400, prompt.error().message());
  if (prompt->empty()) return SendParamError(*w, req, 400, "'prompt' is empty", "prompt");
  common->request.prompt = std::move(prompt).value();
  RunGeneration(*m->engine, std::move(common->request),
                std::make_unique<TextCompletionFormat>(m->name, common->include_usage), common->stream, req,
                std::move(w), ctx.limits.max_stream_duration);
}

void HandleModels(const ApiContext& ctx, const http::Request&, std::shared_ptr<http::ResponseWriter> w) {
  Json data = Json::array();
  for (const auto& m : ctx.registry->models()) data.push_back(ModelObject(*m));
  w->Send(200, "application/json", Dump({{"object", "list"}, {"data", data}}));
}

void HandleModel(const ApiContext& ctx, const http::Request& req, std::shared_ptr<http::ResponseWriter> w) {
  constexpr std::string_view kPrefix = "/v1/models/";
  const std::string id = req.path.substr(kPrefix.size());
  const ServedModel* m = ctx.registry->Find(id);
  if (m == nullptr) {
    return SendParamError(*w, req, 404, "The model '" + id + "' does not exist", "model", "model_not_found");
  }
  w->Send(200, "application/json", Dump(ModelObject(*m)));
}

}  // namespace

void RegisterOpenAiRoutes(http::Router& router, const ApiContext& context) {
  const ApiContext ctx = context;
  router.Add("GET", "/v1/models", [ctx](const http::Request& r, auto w) { HandleModels(ctx, r, std::move(w)); });
  router.Add("GET", "/v1/models/{id}", [ctx](const http::Request& r, auto w) { HandleModel(ctx, r, std::move(w)); });
  router.Add("POST", "/v1/chat/completions",
             [ctx](const http::Request& r, auto w) { HandleChatCompletions(ctx, r, std::move(w)); });
  router.Add("POST", "/v1/completions", [ctx](const http::Request& r, auto w) { HandleCompletions(ctx, r, std::move(w)); });
}

}  // namespace bastion::api
