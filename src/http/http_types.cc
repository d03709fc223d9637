// Request accessors (headers, query and path parameters), percent-decoding and the status reason
// phrases: the transport-free half of http_types.h.
#include "http/http_types.h"

#include <cstddef>

#include "base/log.h"

namespace bastion::http {
namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

const std::string* Request::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (IEquals(key, name)) return &value;
  }
  return nullptr;
}

std::optional<std::string> Request::FindQueryParam(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const size_t eq = pair.find('=');
    const std::string_view raw_key = pair.substr(0, eq);
    const std::string_view raw_value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    // Keys are compared decoded, so "a%62c" finds "abc"; a malformed escape never matches.
    const auto key = PercentDecode(raw_key, /*plus_as_space=*/true);
    if (!key || *key != name) continue;
    auto value = PercentDecode(raw_value, /*plus_as_space=*/true);
    if (value) return value;
  }
  return std::nullopt;
}

std::string Request::QueryParam(std::string_view name) const {
  auto value = FindQueryParam(name);
  return value ? std::move(*value) : std::string();
}

const std::string* Request::PathParam(std::string_view name) const {
  for (const auto& [key, value] : path_params) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::optional<std::string> PercentDecode(std::string_view text, bool plus_as_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;  // needs two hex digits after '%'
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      const char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') return std::nullopt;
      out.push_back(decoded);
      i += 2;
    } else if (c == '+' && plus_as_space) {
      out.push_back(' ');
    } else if (c == '\0') {
      return std::nullopt;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string_view StatusReason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
  }
}

Request RequestMeta(const Request& request) {
  Request meta;
  meta.method = request.method;
  meta.target = request.target;
  meta.path = request.path;
  meta.remote_address = request.remote_address;
  meta.client_address = request.client_address;
  meta.key_name = request.key_name;
  meta.request_id = request.request_id;
  return meta;
}

void LogErrorResponse(const Request& request, int status, std::string_view message) {
  log::Level level = log::Level::kInfo;
  if (status == 408 || status == 413 || status == 414 || status == 429 || status == 431 || status == 503) {
    level = log::Level::kWarn;
  } else if (status >= 500) {
    level = log::Level::kError;
  }
  LogRequest(level, request, std::to_string(status), message);
}

void LogRequest(log::Level level, const Request& request, std::string_view what, std::string_view message) {
  if (!log::Enabled(level) || !log::AdmitRequestLine()) return;
  std::string line(what);
  line += ' ';
  line += request.method.empty() ? "-" : request.method;
  line += ' ';
  line += request.target.empty() ? "-" : request.target;
  line += " client=";
  line += request.client_address.empty() ? request.remote_address : request.client_address;
  if (!request.key_name.empty()) line += " key=" + request.key_name;
  if (!request.request_id.empty()) line += " rid=" + request.request_id;
  line += ": ";
  line += message;
  log::Write(level, "http", line);
}

}  // namespace bastion::http
