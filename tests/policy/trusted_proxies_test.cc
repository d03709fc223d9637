// Trusted proxies: address and CIDR parsing (errors included) and the X-Forwarded-For walk.
#include "policy/trusted_proxies.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace bastion::policy {
namespace {

TrustedProxies Proxies(std::string_view list) {
  Result<TrustedProxies> p = TrustedProxies::Parse(list);
  EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message());
  return p.ok() ? *p : TrustedProxies();
}

std::string Error(std::string_view list) {
  Result<TrustedProxies> p = TrustedProxies::Parse(list);
  return p.ok() ? "(ok)" : p.error().message();
}

TEST(IpAddressTest, ParseAndFormat) {
  EXPECT_EQ(FormatIpAddress(*ParseIpAddress("10.0.0.1")), "10.0.0.1");
  EXPECT_EQ(FormatIpAddress(*ParseIpAddress("::ffff:10.0.0.1")), "10.0.0.1");
  EXPECT_EQ(FormatIpAddress(*ParseIpAddress("2001:DB8:0:0::1")), "2001:db8::1");
  EXPECT_EQ(FormatIpAddress(*ParseIpAddress("[2001:db8::1]")), "2001:db8::1");
  EXPECT_EQ(FormatIpAddress(*ParseIpAddress("fe80::1%eth0")), "fe80::1");
  EXPECT_EQ(FormatIpAddress(*ParseIpAddress("::1")), "::1");
  EXPECT_TRUE(ParseIpAddress("10.0.0.1")->is_v4());
  EXPECT_FALSE(ParseIpAddress("::1")->is_v4());
  EXPECT_EQ(*ParseIpAddress("::ffff:1.2.3.4"), *ParseIpAddress("1.2.3.4"));

  // Ports only where allowed.
  EXPECT_FALSE(ParseIpAddress("10.0.0.1:80"));
  EXPECT_EQ(FormatIpAddress(*ParseIpAddress("10.0.0.1:80", true)), "10.0.0.1");
  EXPECT_EQ(FormatIpAddress(*ParseIpAddress("[2001:db8::1]:443", true)), "2001:db8::1");
  EXPECT_FALSE(ParseIpAddress("[2001:db8::1]:443"));
  EXPECT_FALSE(ParseIpAddress("10.0.0.1:99999", true));
  EXPECT_FALSE(ParseIpAddress("10.0.0.1:", true));
  EXPECT_FALSE(ParseIpAddress("[2001:db8::1]x", true));

  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "0x7f.0.0.1", "abc", "1.2.3.4 ",
                          "[::1", "::1]", "fe80::1%", "1::2::3", "unknown", "_hidden", "[1.2.3.4]"}) {
    EXPECT_FALSE(ParseIpAddress(bad, true)) << bad;
  }
}

TEST(CidrTest, ParseContainsAndErrors) {
  Result<Cidr> c = ParseCidr("10.0.0.0/8");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(FormatCidr(*c), "10.0.0.0/8");
  EXPECT_TRUE(c->Contains(*ParseIpAddress("10.255.1.2")));
  EXPECT_TRUE(c->Contains(*ParseIpAddress("::ffff:10.1.1.1")));
  EXPECT_FALSE(c->Contains(*ParseIpAddress("11.0.0.1")));
  EXPECT_FALSE(c->Contains(*ParseIpAddress("::a00:1")));  // IPv4-compatible, not mapped

  c = ParseCidr("192.168.1.0/23");
  EXPECT_FALSE(c.ok());
  EXPECT_NE(c.error().message().find("did you mean 192.168.0.0/23"), std::string::npos) << c.error().message();

  c = ParseCidr("2001:db8::/32");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->Contains(*ParseIpAddress("2001:db8:ffff::1")));
  EXPECT_FALSE(c->Contains(*ParseIpAddress("2001:db9::1")));
  EXPECT_EQ(FormatCidr(*c), "2001:db8::/32");

  c = ParseCidr("172.16.0.0/12");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->Contains(*ParseIpAddress("172.31.255.255")));
  EXPECT_FALSE(c->Contains(*ParseIpAddress("172.32.0.0")));

  c = ParseCidr("1.2.3.4");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(FormatCidr(*c), "1.2.3.4/32");
  EXPECT_FALSE(c->Contains(*ParseIpAddress("1.2.3.5")));
  c = ParseCidr("::1");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(FormatCidr(*c), "::1/128");

  c = ParseCidr("0.0.0.0/0");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->Contains(*ParseIpAddress("8.8.8.8")));
  EXPECT_FALSE(c->Contains(*ParseIpAddress("2001:db8::1")));  // all of IPv4, none of IPv6
  c = ParseCidr("::/0");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->Contains(*ParseIpAddress("2001:db8::1")));

  EXPECT_NE(ParseCidr("10.0.0.0/33").error().message().find("out of range for IPv4 (0..32)"), std::string::npos);
  EXPECT_NE(ParseCidr("::/129").error().message().find("IPv6 (0..128)"), std::string::npos);
  for (const char* bad : {"10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0.0/ 8", "/8", "[::1]/128", "::1/0128",
                          "10.0.0.0/8x", "10.0.0.0:80", "host.example/8"}) {
    EXPECT_FALSE(ParseCidr(bad).ok()) << bad;
  }
}

TEST(TrustedProxiesTest, ParseList) {
  TrustedProxies p = Proxies("10.0.0.0/8, 192.168.0.0/16, ::1/128, 2001:db8::/32");
  EXPECT_EQ(p.cidrs().size(), 4u);
  EXPECT_TRUE(p.IsTrusted("10.1.2.3"));
  EXPECT_TRUE(p.IsTrusted("::ffff:192.168.9.9"));
  EXPECT_TRUE(p.IsTrusted("::1"));
  EXPECT_TRUE(p.IsTrusted("2001:db8:1::5"));
  EXPECT_FALSE(p.IsTrusted("127.0.0.1"));
  EXPECT_FALSE(p.IsTrusted("not an ip"));
  EXPECT_EQ(Proxies("1.2.3.4 5.6.7.8\n,9.9.9.9,").cidrs().size(), 3u);
  EXPECT_TRUE(Proxies("").empty());
  EXPECT_TRUE(Proxies(" , ").empty());

  EXPECT_EQ(Error("10.0.0.0/8, 10.0.0.1/8"),
            "trusted proxies, entry 2: '10.0.0.1/8': address has bits set beyond the /8 prefix (did you mean "
            "10.0.0.0/8?)");
  EXPECT_EQ(Error("10.0.0.0/8;192.168.0.0/16"),
            "trusted proxies, entry 1: '10.0.0.0/8;192.168.0.0/16': prefix length must be a number 0..32");
  EXPECT_NE(Error("localhost").find("not an IPv4 or IPv6 address"), std::string::npos);
}

TEST(TrustedProxiesTest, UntrustedPeerIgnoresHeaders) {
  TrustedProxies p = Proxies("10.0.0.0/8");
  EXPECT_EQ(p.ClientAddress("203.0.113.7", "1.1.1.1", "2.2.2.2"), "203.0.113.7");
  EXPECT_EQ(p.ClientAddress("::ffff:203.0.113.7", "1.1.1.1", std::nullopt), "203.0.113.7");
  TrustedProxies none;
  EXPECT_EQ(none.ClientAddress("10.0.0.1", "1.1.1.1", "2.2.2.2"), "10.0.0.1");
  EXPECT_EQ(none.ClientAddress("2001:DB8::1", std::nullopt, std::nullopt), "2001:db8::1");
  EXPECT_EQ(none.ClientAddress("not-an-ip", "1.1.1.1", std::nullopt), "not-an-ip");
}

TEST(TrustedProxiesTest, WalksForwardedForFromTheRight) {
  TrustedProxies p = Proxies("10.0.0.0/8, 2001:db8::/32");
  // A client-supplied spoof on the left, the real client, then our own proxies.
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "6.6.6.6, 198.51.100.9, 10.0.0.2, 10.0.0.3", std::nullopt),
            "198.51.100.9");
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "198.51.100.9", std::nullopt), "198.51.100.9");
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "  198.51.100.9 ,10.0.0.2  ", std::nullopt), "198.51.100.9");
  // Ports and IPv6.
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "198.51.100.9:5555, [2001:db8::7]:443", std::nullopt), "198.51.100.9");
  EXPECT_EQ(p.ClientAddress("2001:db8::1", "2001:DB8::7, 2001:0db8:0::8", std::nullopt), "2001:db8::7");
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "2606:4700::1", std::nullopt), "2606:4700::1");
  // Every hop trusted: the leftmost.
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "10.9.9.9, 10.0.0.2", std::nullopt), "10.9.9.9");
  // Malformed entries end the walk at the last good address.
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "1.1.1.1, garbage, 10.0.0.2", std::nullopt), "10.0.0.2");
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "1.1.1.1, unknown", std::nullopt), "10.0.0.1");
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "1.1.1.1,,10.0.0.2", std::nullopt), "10.0.0.2");
  EXPECT_EQ(p.ClientAddress("10.0.0.1", ",", std::nullopt), "10.0.0.1");
  // A spoof right of the real client cannot happen: our proxy appends last. But if the proxy is
  // untrusted, its entry is the answer, never what it was told.
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "10.0.0.5, 203.0.113.1, 10.0.0.2", std::nullopt), "203.0.113.1");
}

TEST(TrustedProxiesTest, RealIpOnlyWithoutForwardedFor) {
  TrustedProxies p = Proxies("10.0.0.0/8");
  EXPECT_EQ(p.ClientAddress("10.0.0.1", std::nullopt, "198.51.100.9"), "198.51.100.9");
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "203.0.113.5", "198.51.100.9"), "203.0.113.5");
  EXPECT_EQ(p.ClientAddress("10.0.0.1", "   ", " 198.51.100.9 "), "198.51.100.9");  // blank XFF = absent
  EXPECT_EQ(p.ClientAddress("10.0.0.1", std::nullopt, "bogus"), "10.0.0.1");
  EXPECT_EQ(p.ClientAddress("10.0.0.1", std::nullopt, std::nullopt), "10.0.0.1");
}

TEST(TrustedProxiesTest, FromRequestJoinsRepeatedHeaders) {
  TrustedProxies p = Proxies("10.0.0.0/8");
  http::Request r;
  r.remote_address = "10.0.0.1";
  r.headers = {{"x-forwarded-for", "6.6.6.6, 198.51.100.9"}, {"x-real-ip", "7.7.7.7"}, {"x-forwarded-for", "10.0.0.2"}};
  EXPECT_EQ(p.ClientAddress(r), "198.51.100.9");
  r.headers = {{"x-real-ip", "7.7.7.7"}};
  EXPECT_EQ(p.ClientAddress(r), "7.7.7.7");
  r.remote_address = "8.8.8.8";
  EXPECT_EQ(p.ClientAddress(r), "8.8.8.8");
}

}  // namespace
}  // namespace bastion::policy
