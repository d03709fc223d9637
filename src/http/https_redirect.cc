// The HTTP->HTTPS redirect and ACME HTTP-01 answers (see https_redirect.h).
#include "http/https_redirect.h"

#include <cctype>

namespace bastion::http {
namespace {

// The host part of a Host header ("example.com:80" -> "example.com", "[::1]:80" -> "[::1]"),
// or "" when it is not a plain DNS name / IPv4 / bracketed IPv6 — anything else could inject
// into the Location header or point it somewhere odd.
std::string HostOf(std::string_view host) {
  std::string_view name = host;
  if (!name.empty() && name.front() == '[') {
    const size_t close = name.find(']');
    if (close == std::string_view::npos) return "";
    const std::string_view inside = name.substr(1, close - 1);
    if (inside.empty()) return "";
    for (char c : inside) {
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return "";
    }
    const std::string_view rest = name.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return "";
    return std::string(name.substr(0, close + 1));
  }
  if (const size_t colon = name.find(':'); colon != std::string_view::npos) name = name.substr(0, colon);
  if (name.empty() || name.size() > 253) return "";
  std::string out;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) return "";
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

std::optional<std::string> HttpsLocation(const Request& request, const HttpsRedirectOptions& options) {
  std::string host;
  if (const std::string* h = request.Header("host")) host = HostOf(*h);
  if (host.empty()) host = options.fallback_host;
  if (host.empty()) return std::nullopt;
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";  // IPv6 fallback
  std::string location = "https://" + host;
  if (options.https_port != 443) location += ":" + std::to_string(options.https_port);
  // The target as received (path and query, never absolute-form: the parser reduced it).
  const std::string& target = request.target;
  location += target.empty() || target.front() != '/' ? "/" : target;
  return location;
}

void AddHttpsRedirect(Router& router, HttpsRedirectOptions options) {
  auto shared = std::make_shared<const HttpsRedirectOptions>(std::move(options));
  const std::string challenge_route = std::string(AcmeHttp01Responder::kPathPrefix) + "{token}";
  router.Add("GET", challenge_route, [shared](const Request& request, std::shared_ptr<ResponseWriter> writer) {
    const std::string* token = request.PathParam("token");
    std::optional<std::string> answer;
    if (token != nullptr && shared->http01 != nullptr) answer = shared->http01->Find(*token);
    if (!answer) return writer->Send(404, "text/plain", "no such ACME challenge token\n");
    writer->Send(200, "text/plain", *answer);
  });
  router.SetFallback([shared](const Request& request, std::shared_ptr<ResponseWriter> writer) {
    const auto location = HttpsLocation(request, *shared);
    if (!location) return writer->Send(400, "text/plain", "this server speaks HTTPS; send a Host header\n");
    const int status = request.method == "GET" || request.method == "HEAD" ? 301 : 308;
    writer->Send(status, "text/plain", "moved to " + *location + "\n",
                 {{"Location", *location}, {"Cache-Control", "no-store"}});
  });
}

}  // namespace bastion::http
