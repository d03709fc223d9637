// CorsPolicy: option checking and the per-request decision. See cors.h for the policy.
#include "policy/cors.h"

#include <algorithm>
#include <charconv>

namespace bastion::policy {
namespace {

constexpr std::string_view kAllowedMethods = "GET, HEAD, POST, DELETE, OPTIONS";
constexpr std::string_view kExposedHeaders = "X-Request-Id, Retry-After";

// Request headers browser clients of the two APIs send. Lower-case, as compared.
constexpr std::string_view kAllowedHeaders[] = {
    "authorization",   "content-type",    "x-api-key",           "x-request-id",
    "accept",          "accept-language", "content-language",    "user-agent",
    "openai-organization", "openai-project", "openai-beta",
};
// The OpenAI SDKs send a family of x-stainless-* headers (os, arch, runtime, retry count...)
// whose members change between releases; allowing the prefix keeps those clients working.
constexpr std::string_view kAllowedHeaderPrefix = "x-stainless-";

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "https://App.Example.com:443" → "https://app.example.com": the form a browser sends in Origin
// (lower-case scheme and host, default port omitted), so comparing bytes is enough.
Result<std::string> NormalizeOrigin(std::string_view text) {
  const std::string quoted = "CORS origin '" + std::string(text) + "'";
  if (text == "null") {
    return Error(quoted + ": the 'null' origin is sent by sandboxed frames and local files; it cannot be allowed");
  }
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return Error(quoted + ": expected scheme://host[:port], like https://app.example.com");
  const std::string scheme = Lower(text.substr(0, sep));
  if (scheme != "http" && scheme != "https") return Error(quoted + ": scheme must be http or https");
  std::string_view rest = text.substr(sep + 3);
  if (rest.find_first_of("/?#") != std::string_view::npos) {
    const std::string_view bare = text.substr(0, text.size() - rest.size() + rest.find_first_of("/?#"));
    return Error(quoted + ": an origin has no path, query or fragment (did you mean '" + std::string(bare) + "'?)");
  }
  if (rest.find('@') != std::string_view::npos) return Error(quoted + ": an origin has no user information");
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return Error(quoted + ": unterminated IPv6 address");
    host = rest.substr(0, close + 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Error(quoted + ": unexpected text after the IPv6 address");
      port = after.substr(1);
      if (port.empty()) return Error(quoted + ": empty port");
    }
  } else if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) return Error(quoted + ": empty port");
  }
  if (host.empty()) return Error(quoted + ": missing host");
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '[' || c == ']' || c == ':';
    if (!ok) return Error(quoted + ": invalid character in host");
  }
  std::string out = scheme + "://" + Lower(host);
  if (!port.empty()) {
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535 || port.size() > 5) {
      return Error(quoted + ": port must be 1..65535");
    }
    const bool default_port = (scheme == "https" && value == 443) || (scheme == "http" && value == 80);
    if (!default_port) out += ":" + std::to_string(value);
  }
  return out;
}

}  // namespace

Result<CorsPolicy> CorsPolicy::Create(CorsOptions options) {
  CorsPolicy policy;
  policy.credentials_ = options.allow_credentials;
  if (options.max_age_seconds < 0 || options.max_age_seconds > 86400) {
    return Error("CORS max-age must be 0..86400 seconds, got " + std::to_string(options.max_age_seconds));
  }
  policy.max_age_ = options.max_age_seconds;
  for (const std::string& origin : options.allowed_origins) {
    if (origin == "*") {
      if (options.allowed_origins.size() != 1) {
        return Error("CORS origins: '*' (any origin) must be the only entry");
      }
      if (options.allow_credentials) {
        return Error("CORS origins: '*' cannot be combined with credentials (browsers refuse it, and "
                     "reflecting any origin instead would let every site act as the user)");
      }
      policy.wildcard_ = true;
      continue;
    }
    Result<std::string> normalized = NormalizeOrigin(origin);
    if (!normalized.ok()) return normalized.error();
    if (std::find(policy.origins_.begin(), policy.origins_.end(), *normalized) == policy.origins_.end()) {
      policy.origins_.push_back(std::move(normalized).value());
    }
  }
  for (const std::string& name : options.extra_allowed_headers) {
    if (!IsToken(name)) return Error("CORS allowed header '" + name + "': not a valid header name");
    policy.extra_headers_.push_back(Lower(name));
  }
  return policy;
}

bool CorsPolicy::OriginAllowed(std::string_view origin) const {
  if (wildcard_) return true;
  return std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
}

bool CorsPolicy::HeaderAllowed(std::string_view lower_name) const {
  for (const std::string_view allowed : kAllowedHeaders) {
    if (lower_name == allowed) return true;
  }
  if (lower_name.size() > kAllowedHeaderPrefix.size() && lower_name.starts_with(kAllowedHeaderPrefix)) return true;
  return std::find(extra_headers_.begin(), extra_headers_.end(), lower_name) != extra_headers_.end();
}

CorsDecision CorsPolicy::Decide(const http::Request& request) const {
  // Header names are lower-cased by the parser (http_types.h); the first of each counts.
  const std::string* origin = nullptr;
  const std::string* request_method = nullptr;
  const std::string* request_headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    if (name == "origin" && !origin) origin = &value;
    if (name == "access-control-request-method" && !request_method) request_method = &value;
    if (name == "access-control-request-headers" && !request_headers) request_headers = &value;
  }
  return Decide(request.method, origin, request_method, request_headers);
}

CorsDecision CorsPolicy::Decide(std::string_view method, const std::string* origin, const std::string* request_method,
                                const std::string* request_headers) const {
  CorsDecision d;
  // With CORS on, a response differs by Origin; caches must key on it or they would hand one
  // origin's answer (or a no-Origin answer) to another.
  if (enabled()) d.headers.emplace_back("Vary", "Origin");
  d.allowed = origin != nullptr && OriginAllowed(*origin);

  if (method == "OPTIONS" && origin != nullptr && request_method != nullptr) {
    d.preflight = true;
    d.status = 403;
    if (enabled()) {
      d.headers.clear();
      d.headers.emplace_back("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    }
    if (!d.allowed) return d;
    // Methods are case-sensitive tokens; only the ones the API uses.
    const std::string_view m = Trim(*request_method);
    if (m != "GET" && m != "HEAD" && m != "POST" && m != "DELETE" && m != "OPTIONS") return d;
    std::string echoed;
    if (request_headers != nullptr) {
      std::string_view rest = *request_headers;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string_view item = Trim(rest.substr(0, comma));
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        if (item.empty()) continue;
        if (!IsToken(item)) return d;
        const std::string lower = Lower(item);
        if (!HeaderAllowed(lower)) return d;
        if (!echoed.empty()) echoed += ", ";
        echoed += lower;
      }
    }
    d.status = 204;
    d.headers.emplace_back("Access-Control-Allow-Origin", wildcard_ ? std::string("*") : *origin);
    if (credentials_) d.headers.emplace_back("Access-Control-Allow-Credentials", "true");
    d.headers.emplace_back("Access-Control-Allow-Methods", std::string(kAllowedMethods));
    // Echo exactly the checked names: "*" would not cover Authorization, and the x-stainless-*
    // family cannot be listed in advance.
    if (!echoed.empty()) d.headers.emplace_back("Access-Control-Allow-Headers", echoed);
    d.headers.emplace_back("Access-Control-Max-Age", std::to_string(max_age_));
    return d;
  }

  if (d.allowed) {
    d.headers.emplace_back("Access-Control-Allow-Origin", wildcard_ ? std::string("*") : *origin);
    if (credentials_) d.headers.emplace_back("Access-Control-Allow-Credentials", "true");
    d.headers.emplace_back("Access-Control-Expose-Headers", std::string(kExposedHeaders));
  }
  return d;
}

}  // namespace bastion::policy
