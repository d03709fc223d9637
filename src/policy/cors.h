// CORS: which browser origins may call the API, and the answers to their preflights.
//
// Off by default (no origin allowed): a web page on another site cannot read bastion's
// responses, so a browser that happens to hold access to a private bastion (same LAN, localhost)
// cannot be turned against it by a page it visits. The operator lists exact origins
// ("https://app.example.com"); the request's Origin is compared byte for byte, and only a listed
// origin is ever echoed — never an arbitrary one. "*" (any origin) is allowed only as the sole
// entry and only without credentials: the answer is then the literal "*", which browsers refuse
// to combine with cookies or HTTP authentication. API keys sent by script in an Authorization or
// X-Api-Key header do not need credentials mode, only the header in the allow-list below.
//
// Preflight (OPTIONS with Origin and Access-Control-Request-Method): answered 204 with the
// allowed origin, methods, the requested headers (each checked) and a max-age; anything not
// allowed gets 403 and no CORS headers, so the browser blocks the request before it is sent.
//
// Allowed request headers: authorization, content-type, x-api-key, x-request-id, accept,
// accept-language, content-language, user-agent (Ollama's JS client sets it), openai-organization,
// openai-project, openai-beta and every x-stainless-* (the OpenAI SDKs' telemetry headers), plus
// any configured extra. Exposed response headers: X-Request-Id and Retry-After (clients read them
// to report and to back off).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "http/http_types.h"

namespace bastion::policy {

struct CorsOptions {
  // Exact origins: scheme "http" or "https", host, optional port, nothing else
  // ("https://app.example.com", "http://localhost:3000"). Or the single entry "*".
  std::vector<std::string> allowed_origins;
  // Access-Control-Allow-Credentials: true (cookies / HTTP auth / client certificates). Not
  // needed for API keys in headers; not allowed with "*".
  bool allow_credentials = false;
  // How long a browser may cache a preflight answer (Access-Control-Max-Age).
  int max_age_seconds = 600;
  // More request headers to allow (case-insensitive names), beyond the built-in list.
  std::vector<std::string> extra_allowed_headers;
};

struct CorsDecision {
  // True for a CORS preflight: answer it with `status`, `headers` and an empty body instead of
  // routing it. False: route the request as usual and add `headers` to its response (whatever
  // the status, errors included, so browser clients can read 401/429 bodies).
  bool preflight = false;
  int status = 0;         // preflight only: 204 allowed, 403 refused
  bool allowed = false;   // the request carried an Origin this policy allows
  http::Headers headers;  // names as sent on the wire ("Access-Control-Allow-Origin")
};

class CorsPolicy {
 public:
  // CORS off: every decision is "no headers" and preflights get 403.
  CorsPolicy() = default;

  // Checks and normalizes the options (lower-case scheme and host; a path, query, "null", a
  // bad scheme, "*" among other origins or with credentials, a bad header name are errors).
  static Result<CorsPolicy> Create(CorsOptions options);

  bool enabled() const { return wildcard_ || !origins_.empty(); }

  CorsDecision Decide(const http::Request& request) const;
  // The same from the pieces: method and the Origin / Access-Control-Request-Method /
  // Access-Control-Request-Headers values (nullptr when absent).
  CorsDecision Decide(std::string_view method, const std::string* origin, const std::string* request_method,
                      const std::string* request_headers) const;

 private:
  bool OriginAllowed(std::string_view origin) const;
  bool HeaderAllowed(std::string_view lower_name) const;

  bool wildcard_ = false;
  bool credentials_ = false;
  int max_age_ = 600;
  std::vector<std::string> origins_;
  std::vector<std::string> extra_headers_;  // lower-case
};

}  // namespace bastion::policy
