// libFuzzer target for the JSON request decoding of both APIs: the body parser (size, nesting),
// Ollama and OpenAI messages, Ollama `options`, OpenAI sampling fields and `stop`. Whatever the
// bytes, decoding ends in a value or a clear error — never a crash, an exception escaping, or
// parameters outside their documented ranges.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "api/chat_request.h"
#include "api/generation_options.h"
#include "api/json_body.h"

using bastion::api::Json;

namespace {

void CheckParams(const bastion::GenerationParams& p) {
  // Accepted values are finite; the decoders refuse NaN and infinities.
  if (!std::isfinite(p.sampling.temperature) || !std::isfinite(p.sampling.top_p) ||
      !std::isfinite(p.sampling.min_p) || !std::isfinite(p.sampling.repeat_penalty)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = bastion::api::ParseJsonObject(body);
  if (!parsed.ok()) return 0;
  const Json& j = *parsed;
  if (!j.is_object()) std::abort();  // ParseJsonObject promises an object

  if (auto it = j.find("messages"); it != j.end()) {
    (void)bastion::api::ParseOllamaMessages(*it);
    (void)bastion::api::ParseOpenAiMessages(*it);
  }
  bastion::GenerationParams ollama = bastion::api::ServerDefaultParams();
  std::optional<int> num_ctx;
  if (auto it = j.find("options"); it != j.end()) {
    if (bastion::api::ApplyOllamaOptions(*it, &ollama, &num_ctx).ok()) CheckParams(ollama);
  }
  bastion::GenerationParams openai = bastion::api::ServerDefaultParams();
  if (bastion::api::ApplyOpenAiParams(j, &openai).ok()) CheckParams(openai);
  if (auto it = j.find("stop"); it != j.end()) {
    auto stops = bastion::api::ParseStop(*it, "stop");
    if (stops.ok() && stops->size() > 16) std::abort();
  }
  return 0;
}
