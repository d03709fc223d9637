// Mapping the APIs' sampling and output settings onto GenerationParams and constraints.
//
// Defaults when a request says nothing are Qwen2.5-Instruct's own generation_config (the values
// Ollama's qwen2.5 model also ships): temperature 0.7, top_p 0.8, top_k 20, repeat_penalty 1.05,
// min_p 0; no token limit beyond the context; a random seed unless one is given.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/json_body.h"
#include "base/result.h"
#include "grammar/token_constraint.h"
#include "model/generator.h"
#include "tokenizer/tokenizer.h"

namespace bastion::api {

GenerationParams ServerDefaultParams();

// Ollama `options` object (unknown keys ignored, as Ollama does). num_ctx, when given, is
// returned separately: it caps the context this request may use.
Status ApplyOllamaOptions(const Json& options, GenerationParams* params, std::optional<int>* num_ctx);

// OpenAI request fields: temperature, top_p, frequency/presence penalty, seed, stop,
// max_tokens / max_completion_tokens, plus the common extensions top_k, min_p,
// repeat_penalty that llama.cpp and Ollama accept. `n` > 1 is refused.
Status ApplyOpenAiParams(const Json& body, GenerationParams* params);

// The server's cap on output tokens (ApiLimits::max_output_tokens): a request asking for more is
// refused with a message naming `field` ("num_predict", "max_tokens"); one asking for no limit
// gets the cap.
Status ApplyOutputTokenCap(GenerationParams* params, int cap, std::string_view field);

// "stop": a string or an array of strings.
Result<std::vector<std::string>> ParseStop(const Json& value, std::string_view field);

// Ollama `format`: "json" or a JSON Schema object. nullptr result = no constraint (absent/empty).
Result<std::shared_ptr<grammar::TokenConstraint>> ConstraintFromOllamaFormat(const Json& format,
                                                                           const Tokenizer& tokenizer);
// OpenAI `response_format`: {"type":"text"} | {"type":"json_object"} |
// {"type":"json_schema","json_schema":{"name","schema","strict"}}.
Result<std::shared_ptr<grammar::TokenConstraint>> ConstraintFromResponseFormat(const Json& response_format,
                                                                             const Tokenizer& tokenizer);

}  // namespace bastion::api
