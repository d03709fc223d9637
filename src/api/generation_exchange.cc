// RunGeneration: engine events -> HTTP response, with cancellation both ways.
#include "api/generation_exchange.h"

#include <mutex>

#include "api/json_body.h"
#include "base/log.h"
#include "http/wire.h"

namespace bastion::api {
namespace {

// Seconds a client should wait before retrying when the queue is full: long enough for a few
// generations to finish.
constexpr const char* kRetryAfterSeconds = "2";

struct ExchangeState {
  std::shared_ptr<http::ResponseWriter> writer;
  std::unique_ptr<ResponseFormat> format;
  bool stream = false;
  std::string text;  // accumulated, for stream: false
  // What the error responses and log lines need of the HTTP request (which does not outlive the
  // handler): method, target, path, client, key name, request id — never the body.
  http::Request meta;
  uint64_t deadline_ns = 0;  // steady clock; 0 = none
  std::chrono::milliseconds max_duration{0};
  bool expired = false;  // cancelled for running past deadline_ns

  // The stream's headers go out once the engine accepted the request (a full queue must still be
  // able to answer 503), from whichever thread gets there first: the handler right after
  // Submit, or the engine thread with the first event.
  std::mutex mutex;
  bool started = false;
  void EnsureStarted() {
    std::lock_guard<std::mutex> lock(mutex);
    if (started) return;
    started = true;
    writer->StartStream(200, format->stream_content_type(),
                        {{"cache-control", "no-cache"}, {"x-accel-buffering", "no"}});
    const std::string start = format->StreamStart();
    if (!start.empty()) writer->Write(start);
  }
};

}  // namespace

void RunGeneration(engine::Engine& engine, engine::Request request, std::unique_ptr<ResponseFormat> format,
                   bool stream, const http::Request& http_request, std::shared_ptr<http::ResponseWriter> writer,
                   std::chrono::milliseconds max_duration) {
  auto state = std::make_shared<ExchangeState>();
  state->writer = writer;
  state->format = std::move(format);
  state->stream = stream;
  state->meta = http::RequestMeta(http_request);
  std::shared_ptr<http::GenerationLog> log = http_request.generation;
  const uint64_t received_ns = http_request.received_ns;
  if (max_duration.count() > 0) {
    state->max_duration = max_duration;
    state->deadline_ns = (received_ns != 0 ? received_ns : http::wire::SteadyNowNs()) +
                         static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(max_duration).count());
  }
  request.on_event = [state, log, received_ns](const engine::Event& event) -> bool {
    if (log && log->ttft_ns.load(std::memory_order_relaxed) < 0) {
      const uint64_t now = http::wire::SteadyNowNs();
      log->ttft_ns.store(now > received_ns ? static_cast<int64_t>(now - received_ns) : 0, std::memory_order_relaxed);
    }
    if (log && event.done) {
      log->tokens_in.store(event.stats.prompt_tokens, std::memory_order_relaxed);
      log->tokens_out.store(event.stats.generated_tokens, std::memory_order_relaxed);
    }
    http::ResponseWriter& w = *state->writer;
    if (state->stream) state->EnsureStarted();
    if (!event.done) {
      bool keep_going = true;
      if (state->stream) {
        keep_going = w.Write(state->format->StreamChunk(event));
      } else {
        state->text += event.text;
        keep_going = !w.cancelled();
      }
      if (keep_going && state->deadline_ns != 0 && http::wire::SteadyNowNs() >= state->deadline_ns) {
        state->expired = true;
        return false;  // the engine stops it and sends the final event (cancelled)
      }
      return keep_going;
    }
    state->text += event.text;
    if (state->expired) {
      const std::string message = "the generation ran longer than this server's maximum stream duration (" +
                                  std::to_string(state->max_duration.count() / 1000) + " s) and was stopped after " +
                                  std::to_string(event.stats.generated_tokens) + " tokens";
      if (state->stream) {
        http::LogRequest(log::Level::kWarn, state->meta, "stream cut", message);
        if (!event.text.empty()) w.Write(state->format->StreamChunk(event));
        w.Write(state->format->StreamError(message));
        w.End();
      } else {
        SendError(w, state->meta, 503, message);
      }
      return true;
    }
    if (!event.error.empty()) {
      if (state->stream) {
        if (!event.text.empty()) w.Write(state->format->StreamChunk(event));
        w.Write(state->format->StreamError(event.error));
        w.End();
      } else {
        SendError(w, state->meta, 500, event.error);
      }
      return true;
    }
    if (state->stream) {
      if (!event.text.empty()) {
        engine::Event text_only = event;
        text_only.done = false;
        w.Write(state->format->StreamChunk(text_only));
      }
      w.Write(state->format->StreamEnd(event));
      w.End();
    } else {
      w.Send(200, "application/json", state->format->Whole(state->text, event));
    }
    return true;
  };

  auto submitted = engine.Submit(std::move(request));
  if (const auto* rejection = std::get_if<engine::Engine::Rejection>(&submitted)) {
    int status = 400;
    http::Headers extra;
    switch (rejection->code) {
      case engine::Engine::SubmitError::kQueueFull:
        status = 503;
        extra.emplace_back("retry-after", kRetryAfterSeconds);
        break;
      case engine::Engine::SubmitError::kShuttingDown:
        status = 503;
        break;
      case engine::Engine::SubmitError::kPromptTooLong:
      case engine::Engine::SubmitError::kInvalid:
        status = 400;
        break;
    }
    SendError(*writer, http_request, status, rejection->message, std::move(extra));
    return;
  }
  const uint64_t id = std::get<uint64_t>(submitted);
  if (stream) state->EnsureStarted();
  engine::Engine* eng = &engine;
  writer->OnCancel([eng, id] { eng->Cancel(id); });
}

}  // namespace bastion::api
