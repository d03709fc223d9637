// The plain-HTTP listener beside the HTTPS one (--http-port, port 80 with --domain): it answers
// ACME HTTP-01 challenges (RFC 8555 section 8.3) from an AcmeHttp01Responder and redirects
// everything else to the same host and target on the HTTPS port.
//
// Redirect status: 301 for GET and HEAD (followed by every client, old ones included), 308 for
// other methods (RFC 9110: keeps the method and body, where 301 lets clients turn a POST into
// a GET — a different request). A request body sent over plain HTTP has already crossed the
// network in clear; the redirect only stops the next one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/acme_http01.h"
#include "http/router.h"

namespace bastion::http {

struct HttpsRedirectOptions {
  uint16_t https_port = 443;  // left out of the Location when 443
  // Used when the request has no usable Host header (HTTP/1.0); empty: such requests get 400.
  std::string fallback_host;
  std::shared_ptr<AcmeHttp01Responder> http01;  // may be null: no challenges answered
};

// Registers the challenge route and the redirecting fallback on `router`.
void AddHttpsRedirect(Router& router, HttpsRedirectOptions options);

// The Location for `request` ("https://host[:port]/target"), or nullopt when its Host header is
// missing or malformed and there is no fallback host. Exposed for tests.
std::optional<std::string> HttpsLocation(const Request& request, const HttpsRedirectOptions& options);

}  // namespace bastion::http
