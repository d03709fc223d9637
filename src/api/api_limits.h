// The API layer's limits on a request (the HTTP ones are in http/limits.h), as named constants
// with their defaults, and the ApiLimits struct the serve settings fill. Each is a `serve`
// setting (docs/CONFIG.md). Header-only and dependency-free, so the settings code can name them.
#pragma once

#include <chrono>

namespace bastion::api {

// Deepest nesting of objects/arrays a request body may have (past it: 400). nlohmann's parser
// recurses once per level, so without a bound a body of a million '[' would exhaust the stack;
// real requests (a chat with tool schemas) need fewer than 20.
inline constexpr int kMaxJsonDepth = 64;
// The most a server may be configured to accept.
inline constexpr int kMaxJsonDepthLimit = 1000;
// Output tokens one request may ask for. A request asking for more gets 400 (as OpenAI answers
// a max_tokens beyond the model's limit); one that sets no limit (or Ollama's -1/-2) gets this.
// 4096 is the default context of a slot: a reply that long already fills it.
inline constexpr int kDefaultMaxOutputTokens = 4096;
// Longest a generation may run, from the request's arrival; past it the stream ends with an
// error (a stream: false request gets 503). Ten minutes is llama.cpp server's --timeout and far
// more than 4096 tokens take here; what it stops is a client that keeps a slot forever.
inline constexpr std::chrono::milliseconds kDefaultMaxStreamDuration = std::chrono::minutes(10);

struct ApiLimits {
  int max_output_tokens = kDefaultMaxOutputTokens;
  int max_json_depth = kMaxJsonDepth;
  std::chrono::milliseconds max_stream_duration = kDefaultMaxStreamDuration;  // 0 = none
};

}  // namespace bastion::api
