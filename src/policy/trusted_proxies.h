// Which address is the client: believing X-Forwarded-For / X-Real-IP only from trusted proxies.
//
// Anyone can send "X-Forwarded-For: 1.2.3.4"; believing it from an arbitrary peer would let a
// client pick its own rate-limit bucket and its own line in the access log. So the headers count
// only when the socket peer is inside a configured CIDR (bastion behind nginx, a load balancer,
// a CDN). Then X-Forwarded-For is walked from the right — each proxy appends the address it saw
// — skipping trusted addresses, and the first untrusted one is the client (nginx
// `real_ip_recursive on`). Entries left of it were written by the client and are never believed.
//
// Addresses are compared as 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so a dual-stack
// socket's "::ffff:10.0.0.1" matches "10.0.0.0/8". Results are canonical text ("10.0.0.1",
// "2001:db8::1"), so one client is one rate-limit key however its address was spelled.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "http/http_types.h"

namespace bastion::policy {

struct IpAddress {
  std::array<uint8_t, 16> bytes{};  // IPv6 order; IPv4 as ::ffff:a.b.c.d

  bool is_v4() const;  // an IPv4-mapped address
  bool operator==(const IpAddress&) const = default;
};

// Parses "10.0.0.1", "2001:db8::1", "::ffff:10.0.0.1", "[2001:db8::1]"; a zone ("fe80::1%eth0")
// is dropped. With allow_port, "10.0.0.1:8080" and "[2001:db8::1]:443" too (some proxies put the
// port in X-Forwarded-For). nullopt for anything else.
std::optional<IpAddress> ParseIpAddress(std::string_view text, bool allow_port = false);

// "10.0.0.1" for IPv4 (and IPv4-mapped); RFC 5952 form for IPv6 ("2001:db8::1").
std::string FormatIpAddress(const IpAddress& address);

struct Cidr {
  IpAddress network;  // host bits zero
  int prefix = 0;     // 0..128, counted on the 16-byte form (IPv4 /8 is stored as /104)

  bool Contains(const IpAddress& address) const;
};

// "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128). Host bits must be zero
// ("10.0.0.1/8" is an error that suggests 10.0.0.0/8): a typo there would trust more, or less,
// than the operator meant.
Result<Cidr> ParseCidr(std::string_view text);
std::string FormatCidr(const Cidr& cidr);

class TrustedProxies {
 public:
  // No trusted proxies: the socket address is always the client.
  TrustedProxies() = default;

  // A list separated by commas and/or whitespace: "10.0.0.0/8, 192.168.0.0/16 ::1". Empty list →
  // nothing trusted. The error names the bad entry and its position.
  static Result<TrustedProxies> Parse(std::string_view list);

  bool empty() const { return cidrs_.empty(); }
  const std::vector<Cidr>& cidrs() const { return cidrs_; }

  bool IsTrusted(const IpAddress& address) const;
  // False for text that is not an address.
  bool IsTrusted(std::string_view address) const;

  // The client's address, canonical. `socket_ip` is the peer of the connection; the header
  // values are nullopt when absent (several X-Forwarded-For headers are joined with ", " in
  // order, as RFC 9110 allows). If the peer is untrusted (or not an address), the socket address
  // — the headers are ignored. Otherwise X-Forwarded-For is walked from the right: trusted
  // entries are skipped, the first untrusted one is returned; a malformed or empty entry ends the
  // walk and the last good address (initially the peer) is returned; if every entry is trusted,
  // the leftmost is. X-Real-IP is used only when X-Forwarded-For is absent (or blank).
  std::string ClientAddress(std::string_view socket_ip, std::optional<std::string_view> x_forwarded_for,
                            std::optional<std::string_view> x_real_ip) const;

  // The same over a request: remote_address and its x-forwarded-for / x-real-ip headers.
  std::string ClientAddress(const http::Request& request) const;

 private:
  std::vector<Cidr> cidrs_;
};

}  // namespace bastion::policy
