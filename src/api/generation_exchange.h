// One generation request from submission to the last byte: submits to the engine, streams its
// events to the client in the API's format (NDJSON, SSE, or one JSON body), and cancels the
// engine work when the client goes away.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "engine/engine.h"
#include "http/http_types.h"

namespace bastion::api {

// How one API writes a generation: chunks while streaming, or one body at the end.
class ResponseFormat {
 public:
  virtual ~ResponseFormat() = default;
  virtual std::string_view stream_content_type() const = 0;
  // Sent right after the headers of a stream (OpenAI's first chunk with the role).
  virtual std::string StreamStart() { return ""; }
  // A text event.
  virtual std::string StreamChunk(const engine::Event& event) = 0;
  // The final event (and any trailer such as "data: [DONE]").
  virtual std::string StreamEnd(const engine::Event& event) = 0;
  // An error after the stream started.
  virtual std::string StreamError(std::string_view message) = 0;
  // The whole response at once (stream: false); `text` is everything generated.
  virtual std::string Whole(const std::string& text, const engine::Event& final_event) = 0;
};

// Submits `request` (its on_event is set here) and answers through `writer`. Rejections become
// errors in the path's API shape: a full queue 503 with Retry-After, a prompt that does not fit
// 400, a server shutting down 503. A generation still running `max_duration` after the request
// arrived (0 = no limit) is cancelled: a stream ends with an error event, a whole response is a
// 503; either way the error log says so.
void RunGeneration(engine::Engine& engine, engine::Request request, std::unique_ptr<ResponseFormat> format,
                   bool stream, const http::Request& http_request, std::shared_ptr<http::ResponseWriter> writer,
                   std::chrono::milliseconds max_duration);

}  // namespace bastion::api
