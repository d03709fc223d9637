// Sampling options and structured-output constraints from API requests.
#include "api/generation_options.h"

#include <cmath>

#include "grammar/json_constraint.h"

namespace bastion::api {
namespace {

// Reads a numeric option into a float field, if present.
Status ReadFloat(const Json& obj, const char* key, float* out) {
  BASTION_ASSIGN_OR_RETURN(double v, GetNumber(obj, key, static_cast<double>(*out)));
  if (!std::isfinite(v)) return Error(std::string("'") + key + "' must be a finite number");
  *out = static_cast<float>(v);
  return OkStatus();
}

Status ReadInt(const Json& obj, const char* key, int* out) {
  BASTION_ASSIGN_OR_RETURN(int64_t v, GetInteger(obj, key, *out));
  if (v < INT32_MIN || v > INT32_MAX) return Error(std::string("'") + key + "' is out of range");
  *out = static_cast<int>(v);
  return OkStatus();
}

Status ReadSeed(const Json& obj, const char* key, uint64_t* seed) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return OkStatus();
  BASTION_ASSIGN_OR_RETURN(int64_t v, GetInteger(obj, key, 0));
  // Negative seeds mean "random" (llama.cpp's -1); anything else is used as given (the one value
  // that collides with the "random" marker is nudged, so an explicit seed stays deterministic).
  if (v < 0) {
    *seed = SamplingParams::kRandomSeed;
  } else {
    *seed = static_cast<uint64_t>(v);
    if (*seed == SamplingParams::kRandomSeed) *seed ^= 1;
  }
  return OkStatus();
}

Result<std::shared_ptr<grammar::TokenConstraint>> FromSchema(const Json& schema, const Tokenizer& tokenizer) {
  // The grammar compiler takes nlohmann::json; key order does not matter for validation.
  const nlohmann::json plain = nlohmann::json::parse(schema.dump());
  BASTION_ASSIGN_OR_RETURN(auto grammar, grammar::JsonGrammar::FromSchema(plain));
  return std::shared_ptr<grammar::TokenConstraint>(std::make_shared<grammar::JsonTokenConstraint>(tokenizer, grammar));
}

}  // namespace

GenerationParams ServerDefaultParams() {
  GenerationParams p;
  p.sampling.temperature = 0.7f;
  p.sampling.top_p = 0.8f;
  p.sampling.top_k = 20;
  p.sampling.min_p = 0.0f;
  p.sampling.repeat_penalty = 1.05f;
  p.sampling.repeat_last_n = 64;
  p.sampling.seed = SamplingParams::kRandomSeed;
  p.max_tokens = -1;
  return p;
}

// Built with append rather than `"'" + std::string(...)`: GCC 12 at -O2 reports a false
// -Wrestrict on operator+(const char*, string&&).
static std::string QuotedField(std::string_view field, std::string_view rest) {
  std::string out = "'";
  out.append(field).append("' ").append(rest);
  return out;
}

Result<std::vector<std::string>> ParseStop(const Json& value, std::string_view field) {
  std::vector<std::string> stops;
  if (value.is_null()) return stops;
  if (value.is_string()) {
    stops.push_back(value.get<std::string>());
    return stops;
  }
  if (!value.is_array()) return Error(QuotedField(field, "must be a string or an array of strings"));
  for (const Json& s : value) {
    if (!s.is_string()) return Error(QuotedField(field, "must contain only strings"));
    stops.push_back(s.get<std::string>());
  }
  if (stops.size() > 16) return Error(QuotedField(field, "has more than 16 stop strings"));
  return stops;
}

Status ApplyOllamaOptions(const Json& options, GenerationParams* params, std::optional<int>* num_ctx) {
  if (options.is_null()) return OkStatus();
  if (!options.is_object()) return Error("'options' must be an object");
  SamplingParams& s = params->sampling;
  BASTION_RETURN_IF_ERROR(ReadFloat(options, "temperature", &s.temperature));
  BASTION_RETURN_IF_ERROR(ReadInt(options, "top_k", &s.top_k));
  BASTION_RETURN_IF_ERROR(ReadFloat(options, "top_p", &s.top_p));
  BASTION_RETURN_IF_ERROR(ReadFloat(options, "min_p", &s.min_p));
  BASTION_RETURN_IF_ERROR(ReadFloat(options, "repeat_penalty", &s.repeat_penalty));
  BASTION_RETURN_IF_ERROR(ReadInt(options, "repeat_last_n", &s.repeat_last_n));
  BASTION_RETURN_IF_ERROR(ReadFloat(options, "presence_penalty", &s.presence_penalty));
  BASTION_RETURN_IF_ERROR(ReadFloat(options, "frequency_penalty", &s.frequency_penalty));
  BASTION_RETURN_IF_ERROR(ReadSeed(options, "seed", &s.seed));
  BASTION_RETURN_IF_ERROR(ReadInt(options, "num_predict", &params->max_tokens));
  if (params->max_tokens < -2) return Error("'num_predict' must be -1 (unlimited) or more");
  if (params->max_tokens == -2) params->max_tokens = -1;  // Ollama: -2 = fill the context
  if (options.contains("stop")) {
    BASTION_ASSIGN_OR_RETURN(params->stop, ParseStop(options["stop"], "options.stop"));
  }
  if (options.contains("num_ctx") && !options["num_ctx"].is_null()) {
    int n = 0;
    BASTION_RETURN_IF_ERROR(ReadInt(options, "num_ctx", &n));
    if (n < 1) return Error("'num_ctx' must be positive");
    *num_ctx = n;
  }
  return s.Validate();
}

Status ApplyOpenAiParams(const Json& body, GenerationParams* params) {
  SamplingParams& s = params->sampling;
  BASTION_ASSIGN_OR_RETURN(int64_t n, GetInteger(body, "n", 1));
  if (n != 1) return Error("'n' must be 1: only one choice per request is supported");
  BASTION_RETURN_IF_ERROR(ReadFloat(body, "temperature", &s.temperature));
  if (s.temperature > 2.0f || s.temperature < 0.0f) return Error("'temperature' must be between 0 and 2");
  BASTION_RETURN_IF_ERROR(ReadFloat(body, "top_p", &s.top_p));
  BASTION_RETURN_IF_ERROR(ReadFloat(body, "frequency_penalty", &s.frequency_penalty));
  BASTION_RETURN_IF_ERROR(ReadFloat(body, "presence_penalty", &s.presence_penalty));
  if (std::fabs(s.frequency_penalty) > 2.0f) return Error("'frequency_penalty' must be between -2 and 2");
  if (std::fabs(s.presence_penalty) > 2.0f) return Error("'presence_penalty' must be between -2 and 2");
  // Extensions llama.cpp and Ollama accept on their OpenAI endpoints.
  BASTION_RETURN_IF_ERROR(ReadInt(body, "top_k", &s.top_k));
  BASTION_RETURN_IF_ERROR(ReadFloat(body, "min_p", &s.min_p));
  BASTION_RETURN_IF_ERROR(ReadFloat(body, "repeat_penalty", &s.repeat_penalty));
  BASTION_RETURN_IF_ERROR(ReadSeed(body, "seed", &s.seed));
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (!body.contains(key) || body[key].is_null()) continue;
    int max_tokens = 0;
    BASTION_RETURN_IF_ERROR(ReadInt(body, key, &max_tokens));
    if (max_tokens < 1) return Error(std::string("'") + key + "' must be at least 1");
    params->max_tokens = max_tokens;
  }
  if (body.contains("stop")) {
    BASTION_ASSIGN_OR_RETURN(params->stop, ParseStop(body["stop"], "stop"));
  }
  // llama.cpp's extension: keep generating past end-of-generation tokens (benchmarks).
  BASTION_ASSIGN_OR_RETURN(params->ignore_eos, GetBool(body, "ignore_eos", false));
  return s.Validate();
}

Result<std::shared_ptr<grammar::TokenConstraint>> ConstraintFromOllamaFormat(const Json& format,
                                                                           const Tokenizer& tokenizer) {
  if (format.is_null()) return std::shared_ptr<grammar::TokenConstraint>();
  if (format.is_string()) {
    const std::string f = format.get<std::string>();
    if (f.empty()) return std::shared_ptr<grammar::TokenConstraint>();
    if (f != "json") return Error("'format' must be \"json\" or a JSON schema object, got \"" + f + "\"");
    return std::shared_ptr<grammar::TokenConstraint>(
        std::make_shared<grammar::JsonTokenConstraint>(tokenizer, grammar::JsonGrammar::AnyValue()));
  }
  if (!format.is_object()) return Error("'format' must be \"json\" or a JSON schema object");
  auto constraint = FromSchema(format, tokenizer);
  if (!constraint.ok()) return constraint.error().WithContext("'format'");
  return constraint;
}

Result<std::shared_ptr<grammar::TokenConstraint>> ConstraintFromResponseFormat(const Json& rf,
                                                                             const Tokenizer& tokenizer) {
  if (rf.is_null()) return std::shared_ptr<grammar::TokenConstraint>();
  if (!rf.is_object()) return Error("'response_format' must be an object");
  BASTION_ASSIGN_OR_RETURN(std::string type, GetString(rf, "type", ""));
  if (type == "text" || type.empty()) return std::shared_ptr<grammar::TokenConstraint>();
  if (type == "json_object") {
    return std::shared_ptr<grammar::TokenConstraint>(
        std::make_shared<grammar::JsonTokenConstraint>(tokenizer, grammar::JsonGrammar::AnyObject()));
  }
  if (type == "json_schema") {
    const auto js = rf.find("json_schema");
    if (js == rf.end() || !js->is_object()) return Error("'response_format.json_schema' must be an object");
    const auto schema = js->find("schema");
    if (schema == js->end() || !schema->is_object()) {
      return Error("'response_format.json_schema.schema' must be a JSON schema object");
    }
    auto constraint = FromSchema(*schema, tokenizer);
    if (!constraint.ok()) return constraint.error().WithContext("'response_format.json_schema.schema'");
    return constraint;
  }
  return Error("'response_format.type' must be text, json_object or json_schema, got '" + type + "'");
}

Status ApplyOutputTokenCap(GenerationParams* params, int cap, std::string_view field) {
  if (params->max_tokens < 0) {
    params->max_tokens = cap;
  } else if (params->max_tokens > cap) {
    return Error("'" + std::string(field) + "' is " + std::to_string(params->max_tokens) +
                 ", more than this server allows (" + std::to_string(cap) + ")");
  }
  return OkStatus();
}

}  // namespace bastion::api
