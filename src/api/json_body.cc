// JSON request bodies and error shapes (see json_body.h).
#include "api/json_body.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace bastion::api {

Result<Json> ParseJsonObject(std::string_view body, int max_depth) {
  if (body.empty()) return Error("the request body is empty; expected a JSON object");
  if (JsonNestingDepth(body, max_depth) > max_depth) {
    return Error("the request body is nested deeper than " + std::to_string(max_depth) + " levels");
  }
  Json value = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    // Parse again with exceptions only to get the position of the error for the message.
    try {
      const Json again = Json::parse(body.begin(), body.end());
      (void)again;
    } catch (const Json::exception& e) {
      // parse_error, and out_of_range for a number beyond a double ("1e999").
      return Error(std::string("invalid JSON in the request body: ") + e.what());
    }
    return Error("invalid JSON in the request body");
  }
  if (!value.is_object()) return Error("the request body must be a JSON object");
  return value;
}

std::string OllamaError(std::string_view message) {
  Json j;
  j["error"] = std::string(message);
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string OpenAiError(int status, std::string_view message, std::string_view param, std::string_view code) {
  const char* type = "api_error";
  switch (status) {
    case 400: type = "invalid_request_error"; break;
    case 401: type = "authentication_error"; break;
    case 403: type = "permission_error"; break;
    case 404: type = "not_found_error"; break;
    case 429: type = "rate_limit_error"; break;
    default: break;
  }
  Json error;
  error["message"] = std::string(message);
  error["type"] = type;
  error["param"] = param.empty() ? Json(nullptr) : Json(std::string(param));
  error["code"] = code.empty() ? Json(nullptr) : Json(std::string(code));
  Json j;
  j["error"] = error;
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void SendError(http::ResponseWriter& writer, const http::Request& request, int status, std::string_view message,
               http::Headers extra) {
  http::LogErrorResponse(request, status, message);
  const bool openai = std::string_view(request.path).substr(0, 4) == "/v1/";
  writer.Send(status, "application/json", openai ? OpenAiError(status, message) : OllamaError(message),
              std::move(extra));
}

std::string Rfc3339(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Rfc3339NanoNow() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now).count();
  const std::time_t t = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09lldZ", static_cast<long long>(ns % 1000000000));
  return buf;
}

Result<double> GetNumber(const Json& object, std::string_view key, double fallback) {
  const auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_number()) return Error("'" + std::string(key) + "' must be a number");
  return it->get<double>();
}

Result<int64_t> GetInteger(const Json& object, std::string_view key, int64_t fallback) {
  const auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return fallback;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (d == static_cast<double>(static_cast<int64_t>(d))) return static_cast<int64_t>(d);
  }
  return Error("'" + std::string(key) + "' must be an integer");
}

Result<bool> GetBool(const Json& object, std::string_view key, bool fallback) {
  const auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return Error("'" + std::string(key) + "' must be true or false");
  return it->get<bool>();
}

Result<std::string> GetString(const Json& object, std::string_view key, std::string fallback) {
  const auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_string()) return Error("'" + std::string(key) + "' must be a string");
  return it->get<std::string>();
}

}  // namespace bastion::api
