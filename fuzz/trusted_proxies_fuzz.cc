// libFuzzer target for the address-parsing side of the guard: the trusted-proxy CIDR list (from
// configuration), client addresses and X-Forwarded-For / X-Real-IP values (from any client), and
// CORS preflight headers. Never crashes; a violated invariant aborts.
//
// Input: lines separated by '\n': CIDR list, socket address, X-Forwarded-For, X-Real-IP, Origin,
// Access-Control-Request-Headers. A missing line is an absent header.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "policy/cors.h"
#include "policy/trusted_proxies.h"

namespace {

using namespace bastion::policy;

// A canonical address parses back to itself: one client, one spelling.
void CheckCanonical(const std::string& text) {
  const std::optional<IpAddress> parsed = ParseIpAddress(text, false);
  BASTION_CHECK(parsed.has_value());
  BASTION_CHECK(FormatIpAddress(*parsed) == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos <= input.size() && lines.size() < 6) {
    const size_t nl = input.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? input.size() : nl;
    lines.push_back(input.substr(pos, end - pos));
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  auto line = [&](size_t i) -> std::optional<std::string_view> {
    if (i < lines.size()) return lines[i];
    return std::nullopt;
  };

  // Every address the parser accepts round-trips through its canonical form.
  for (const std::string_view l : lines) {
    for (const bool port : {false, true}) {
      if (const std::optional<IpAddress> a = ParseIpAddress(l, port)) CheckCanonical(FormatIpAddress(*a));
    }
    if (bastion::Result<Cidr> c = ParseCidr(l); c.ok()) {
      // The network is inside itself, and the canonical form parses to the same network.
      BASTION_CHECK(c->Contains(c->network));
      const bastion::Result<Cidr> again = ParseCidr(FormatCidr(*c));
      BASTION_CHECK(again.ok() && again->network == c->network && again->prefix == c->prefix);
    }
  }

  bastion::Result<TrustedProxies> proxies = TrustedProxies::Parse(line(0).value_or(""));
  if (!proxies.ok()) {
    BASTION_CHECK(!proxies.error().message().empty());
    proxies = TrustedProxies::Parse("10.0.0.0/8, ::1, 2001:db8::/32");
    BASTION_CHECK(proxies.ok());
  }
  const std::string_view socket_ip = line(1).value_or("10.0.0.1");
  const std::string client = proxies->ClientAddress(socket_ip, line(2), line(3));
  if (!ParseIpAddress(socket_ip, false)) {
    BASTION_CHECK(client == socket_ip);  // not an address: passed through untouched
  } else {
    CheckCanonical(client);
    // An untrusted peer is always the client, whatever the headers say.
    if (!proxies->IsTrusted(socket_ip)) BASTION_CHECK(client == FormatIpAddress(*ParseIpAddress(socket_ip, false)));
  }

  // CORS over the same bytes: the answer never carries an origin that was not configured.
  bastion::Result<CorsPolicy> cors = CorsPolicy::Create({{"https://app.example.com"}, false, 600, {}});
  BASTION_CHECK(cors.ok());
  const std::string origin(line(4).value_or("https://app.example.com"));
  const std::string request_method = "POST";
  const std::optional<std::string_view> acrh = line(5);
  const std::string acrh_text(acrh.value_or(""));
  for (const char* method : {"OPTIONS", "POST"}) {
    const CorsDecision d = cors->Decide(method, &origin, &request_method, acrh ? &acrh_text : nullptr);
    for (const auto& [name, value] : d.headers) {
      if (name == "Access-Control-Allow-Origin") BASTION_CHECK(value == "https://app.example.com");
      BASTION_CHECK(value.find('\r') == std::string::npos && value.find('\n') == std::string::npos);
    }
    BASTION_CHECK(!d.preflight || d.status == 204 || d.status == 403);
  }
  return 0;
}
