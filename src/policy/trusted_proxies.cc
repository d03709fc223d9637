// Address and CIDR parsing (on inet_pton, which is strict: no octal, no shortened IPv4) and the
// X-Forwarded-For walk. See trusted_proxies.h for why the walk goes right to left.
#include "policy/trusted_proxies.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace bastion::policy {
namespace {

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool ValidPort(std::string_view s) {
  if (!AllDigits(s) || s.size() > 5) return false;
  unsigned value = 0;
  std::from_chars(s.data(), s.data() + s.size(), value);
  return value <= 65535;
}

// inet_pton wants a NUL-terminated string; addresses are short, so copy to a stack buffer.
std::optional<IpAddress> ParseV4(std::string_view s) {
  char buffer[INET_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof(buffer)) return std::nullopt;
  std::memcpy(buffer, s.data(), s.size());
  buffer[s.size()] = '\0';
  uint8_t v4[4];
  if (inet_pton(AF_INET, buffer, v4) != 1) return std::nullopt;
  IpAddress a;
  std::memcpy(a.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
  std::memcpy(a.bytes.data() + 12, v4, 4);
  return a;
}

std::optional<IpAddress> ParseV6(std::string_view s) {
  // A zone ("%eth0") names an interface on this host; it says nothing about who the peer is.
  if (const size_t pct = s.find('%'); pct != std::string_view::npos) {
    if (pct + 1 >= s.size()) return std::nullopt;  // "%" with no zone is malformed
    s = s.substr(0, pct);
  }
  char buffer[INET6_ADDRSTRLEN];
  if (s.empty() || s.size() >= sizeof(buffer)) return std::nullopt;
  std::memcpy(buffer, s.data(), s.size());
  buffer[s.size()] = '\0';
  IpAddress a;
  if (inet_pton(AF_INET6, buffer, a.bytes.data()) != 1) return std::nullopt;
  return a;
}

}  // namespace

bool IpAddress::is_v4() const { return std::memcmp(bytes.data(), kV4MappedPrefix.data(), 12) == 0; }

std::optional<IpAddress> ParseIpAddress(std::string_view text, bool allow_port) {
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (!allow_port || rest.front() != ':' || !ValidPort(rest.substr(1))) return std::nullopt;
    }
    return ParseV6(text.substr(1, close - 1));
  }
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return ParseV4(text);
  // One colon after dotted digits is "a.b.c.d:port"; IPv6 always has at least two colons.
  if (text.find(':', colon + 1) == std::string_view::npos) {
    if (!allow_port || !ValidPort(text.substr(colon + 1))) return std::nullopt;
    return ParseV4(text.substr(0, colon));
  }
  return ParseV6(text);
}

std::string FormatIpAddress(const IpAddress& address) {
  char buffer[INET6_ADDRSTRLEN];
  if (address.is_v4()) {
    if (inet_ntop(AF_INET, address.bytes.data() + 12, buffer, sizeof(buffer)) == nullptr) return {};
  } else {
    if (inet_ntop(AF_INET6, address.bytes.data(), buffer, sizeof(buffer)) == nullptr) return {};
  }
  return buffer;
}

bool Cidr::Contains(const IpAddress& address) const {
  const int full = prefix / 8;
  if (std::memcmp(address.bytes.data(), network.bytes.data(), static_cast<size_t>(full)) != 0) return false;
  const int bits = prefix % 8;
  if (bits == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
  return (address.bytes[full] & mask) == network.bytes[full];
}

Result<Cidr> ParseCidr(std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "'";
  const size_t slash = text.find('/');
  const std::string_view addr_text = text.substr(0, slash);
  std::optional<IpAddress> address;
  // Brackets and ports belong in headers, not in a network list.
  if (!addr_text.empty() && addr_text.front() != '[') address = ParseIpAddress(addr_text, false);
  if (!address) return Error(quoted + ": not an IPv4 or IPv6 address or CIDR (like 10.0.0.0/8 or 2001:db8::/32)");
  const bool v4 = addr_text.find(':') == std::string_view::npos;
  const int max_prefix = v4 ? 32 : 128;
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    if (!AllDigits(p) || p.size() > 3) {
      return Error(quoted + ": prefix length must be a number 0.." + std::to_string(max_prefix));
    }
    std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (prefix > max_prefix) {
      return Error(quoted + ": prefix length " + std::to_string(prefix) + " is out of range for " +
                   (v4 ? "IPv4 (0..32)" : "IPv6 (0..128)"));
    }
  }
  Cidr cidr;
  cidr.prefix = v4 ? prefix + 96 : prefix;
  cidr.network = *address;
  // Zero the host bits and insist they were zero already.
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(cidr.prefix - i * 8, 0, 8);
    const uint8_t mask = keep == 0 ? 0 : static_cast<uint8_t>(0xff << (8 - keep));
    cidr.network.bytes[i] &= mask;
  }
  if (!(cidr.network == *address)) {
    return Error(quoted + ": address has bits set beyond the /" + std::to_string(prefix) +
                 " prefix (did you mean " + FormatCidr(cidr) + "?)");
  }
  return cidr;
}

std::string FormatCidr(const Cidr& cidr) {
  const bool v4 = cidr.network.is_v4() && cidr.prefix >= 96;
  return FormatIpAddress(cidr.network) + "/" + std::to_string(v4 ? cidr.prefix - 96 : cidr.prefix);
}

Result<TrustedProxies> TrustedProxies::Parse(std::string_view list) {
  TrustedProxies proxies;
  size_t index = 0;
  size_t pos = 0;
  while (pos < list.size()) {
    const char c = list[pos];
    if (c == ',' || IsSpace(c) || c == '\n' || c == '\r') {
      ++pos;
      continue;
    }
    size_t end = pos;
    while (end < list.size() && list[end] != ',' && !IsSpace(list[end]) && list[end] != '\n' && list[end] != '\r') {
      ++end;
    }
    ++index;
    Result<Cidr> cidr = ParseCidr(list.substr(pos, end - pos));
    if (!cidr.ok()) return cidr.error().WithContext("trusted proxies, entry " + std::to_string(index));
    proxies.cidrs_.push_back(*cidr);
    pos = end;
  }
  return proxies;
}

bool TrustedProxies::IsTrusted(const IpAddress& address) const {
  for (const Cidr& cidr : cidrs_) {
    if (cidr.Contains(address)) return true;
  }
  return false;
}

bool TrustedProxies::IsTrusted(std::string_view address) const {
  const std::optional<IpAddress> parsed = ParseIpAddress(address, false);
  return parsed && IsTrusted(*parsed);
}

std::string TrustedProxies::ClientAddress(std::string_view socket_ip,
                                          std::optional<std::string_view> x_forwarded_for,
                                          std::optional<std::string_view> x_real_ip) const {
  const std::optional<IpAddress> peer = ParseIpAddress(socket_ip, false);
  if (!peer) return std::string(socket_ip);  // not an IP (a test or a Unix socket): as given
  if (!IsTrusted(*peer)) return FormatIpAddress(*peer);

  if (x_forwarded_for && !Trim(*x_forwarded_for).empty()) {
    IpAddress last_good = *peer;
    std::string_view rest = *x_forwarded_for;
    while (true) {
      const size_t comma = rest.rfind(',');
      const std::string_view item = Trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
      const std::optional<IpAddress> hop = ParseIpAddress(item, true);
      if (!hop) break;  // garbage: nothing left of it can be believed
      last_good = *hop;
      if (!IsTrusted(*hop)) break;
      if (comma == std::string_view::npos) break;  // all trusted: the leftmost stands
      rest = rest.substr(0, comma);
    }
    return FormatIpAddress(last_good);
  }
  if (x_real_ip) {
    if (const std::optional<IpAddress> real = ParseIpAddress(Trim(*x_real_ip), true)) {
      return FormatIpAddress(*real);
    }
  }
  return FormatIpAddress(*peer);
}

std::string TrustedProxies::ClientAddress(const http::Request& request) const {
  // Header names are stored lower-cased by the parser (http_types.h). A string and a flag rather
  // than optional<string>: GCC 12 misreports the latter as maybe-uninitialized in some builds.
  std::string xff;
  bool has_xff = false;
  std::optional<std::string_view> real_ip;
  for (const auto& [name, value] : request.headers) {
    if (name == "x-forwarded-for") {
      if (has_xff) xff += ", ";
      xff += value;
      has_xff = true;
    } else if (name == "x-real-ip" && !real_ip) {
      real_ip = value;
    }
  }
  std::optional<std::string_view> xff_view;
  if (has_xff) xff_view = xff;
  return ClientAddress(request.remote_address, xff_view, real_ip);
}

}  // namespace bastion::policy
