// Reading JSON request bodies safely, and the two error shapes the APIs answer with.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "api/api_limits.h"
#include "base/json_depth.h"
#include "base/result.h"
#include "http/http_types.h"

namespace bastion::api {

using Json = nlohmann::ordered_json;  // keeps the client's key order (tool schemas, tojson)


// Parses a request body: empty, invalid UTF-8/JSON, too deeply nested, or not an object gives
// an error that says which (and where, for syntax errors).
Result<Json> ParseJsonObject(std::string_view body, int max_depth = kMaxJsonDepth);

// Ollama error body: {"error": "..."}.
std::string OllamaError(std::string_view message);

// OpenAI error body: {"error": {"message", "type", "param", "code"}}; type follows the status as
// Ollama's OpenAI layer maps it (400 invalid_request_error, 401 authentication_error,
// 403 permission_error, 404 not_found_error, 429 rate_limit_error, else api_error).
std::string OpenAiError(int status, std::string_view message, std::string_view param = "",
                        std::string_view code = "");

// Sends an error in the shape the request path's API uses: /v1/... OpenAI, everything else
// Ollama; and writes the error-log line for it (http::LogErrorResponse).
void SendError(http::ResponseWriter& writer, const http::Request& request, int status, std::string_view message,
               http::Headers extra = {});

// Current time as RFC 3339 with nanoseconds (Ollama's created_at), UTC.
std::string Rfc3339NanoNow();
std::string Rfc3339(int64_t unix_seconds);

// Typed field access with errors naming the field ("'temperature' must be a number").
Result<double> GetNumber(const Json& object, std::string_view key, double fallback);
Result<int64_t> GetInteger(const Json& object, std::string_view key, int64_t fallback);
Result<bool> GetBool(const Json& object, std::string_view key, bool fallback);
Result<std::string> GetString(const Json& object, std::string_view key, std::string fallback);

}  // namespace bastion::api
