// RateLimiter: exact admission counts over simulated time (nginx limit_req semantics), the
// bounded table (expiry, LRU eviction, a flood of distinct keys), thread safety; and
// ConcurrencyLimiter.
#include "policy/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace bastion::policy {
namespace {

using Clock = RateLimiter::Clock;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

// A fixed origin far from the clock's epoch, so "t = 0" is an ordinary time point.
const Clock::time_point kT0 = Clock::time_point(std::chrono::hours(1000));

std::unique_ptr<RateLimiter> Make(RateLimit limit, size_t max_entries = 1000, size_t shards = 4) {
  RateLimiter::Options options;
  options.limit = limit;
  options.max_entries = max_entries;
  options.shards = shards;
  auto limiter = RateLimiter::Create(options);
  EXPECT_TRUE(limiter.ok()) << (limiter.ok() ? "" : limiter.error().message());
  return std::move(limiter).value();
}

RateLimit Limit(uint32_t requests, uint32_t burst, bool per_minute = false) {
  RateLimit l;
  l.milli_requests = uint64_t{requests} * 1000;
  l.burst = burst;
  l.per_minute = per_minute;
  return l;
}

// Requests `key` once every `step` from t0 to t_end inclusive; returns the admission times (ms).
std::vector<int64_t> Hammer(RateLimiter& limiter, const std::string& key, milliseconds t_end,
                            milliseconds step = milliseconds(1)) {
  std::vector<int64_t> admitted;
  for (milliseconds t(0); t <= t_end; t += step) {
    if (limiter.Check(key, kT0 + t).admitted) admitted.push_back(t.count());
  }
  return admitted;
}

TEST(RateLimiterTest, DefaultBurstThenOneEvery200ms) {
  auto limiter = Make(Limit(5, 10));
  int at_zero = 0;
  for (int i = 0; i < 100; ++i) at_zero += limiter->Check("1.2.3.4", kT0).admitted;
  EXPECT_EQ(at_zero, 11);  // burst 10, plus the first request of a fresh key (excess 0)

  // Then a request every millisecond for 10 s: exactly one per 200 ms, at the 200 ms marks.
  std::vector<int64_t> times;
  for (int64_t ms = 1; ms <= 10000; ++ms) {
    if (limiter->Check("1.2.3.4", kT0 + milliseconds(ms)).admitted) times.push_back(ms);
  }
  ASSERT_EQ(times.size(), 50u);
  for (size_t i = 0; i < times.size(); ++i) EXPECT_EQ(times[i], 200 * static_cast<int64_t>(i + 1));
}

TEST(RateLimiterTest, RejectedRequestsDoNotAddToExcess) {
  auto limiter = Make(Limit(1, 0));
  // A client firing every millisecond still gets exactly one per second, on the second.
  const std::vector<int64_t> times = Hammer(*limiter, "k", milliseconds(5000));
  EXPECT_EQ(times, (std::vector<int64_t>{0, 1000, 2000, 3000, 4000, 5000}));
}

TEST(RateLimiterTest, RateOneBurstZero) {
  auto limiter = Make(Limit(1, 0));
  EXPECT_TRUE(limiter->Check("k", kT0).admitted);
  RateDecision d = limiter->Check("k", kT0);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_seconds, 1);
  d = limiter->Check("k", kT0 + milliseconds(999));
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_seconds, 1);  // 1 ms, rounded up to a whole second
  EXPECT_TRUE(limiter->Check("k", kT0 + milliseconds(1000)).admitted);
  EXPECT_FALSE(limiter->Check("k", kT0 + milliseconds(1000)).admitted);
}

TEST(RateLimiterTest, PerMinuteRate) {
  auto limiter = Make(Limit(30, 0, /*per_minute=*/true));  // 30r/m: one every 2 s
  EXPECT_TRUE(limiter->Check("k", kT0).admitted);
  RateDecision d = limiter->Check("k", kT0);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_seconds, 2);
  const std::vector<int64_t> times = Hammer(*limiter, "k", milliseconds(60000), milliseconds(10));
  ASSERT_EQ(times.size(), 30u);  // 2000, 4000, ..., 60000
  for (size_t i = 0; i < times.size(); ++i) EXPECT_EQ(times[i], 2000 * static_cast<int64_t>(i + 1));

  auto slow = Make(Limit(1, 0, true));
  EXPECT_TRUE(slow->Check("k", kT0).admitted);
  EXPECT_EQ(slow->Check("k", kT0).retry_after_seconds, 60);
  EXPECT_FALSE(slow->Check("k", kT0 + seconds(59)).admitted);
  EXPECT_TRUE(slow->Check("k", kT0 + seconds(60)).admitted);
}

TEST(RateLimiterTest, FractionalIntervalsAreExact) {
  // 3 r/s: the interval is 333.33 ms. After the burst, the n-th admission is at the first
  // millisecond ≥ n * 1000/3, and no fraction is lost along the way: exactly 9 in 3 s.
  auto limiter = Make(Limit(3, 3));
  int at_zero = 0;
  for (int i = 0; i < 10; ++i) at_zero += limiter->Check("k", kT0).admitted;
  EXPECT_EQ(at_zero, 4);
  std::vector<int64_t> times;
  for (int64_t ms = 1; ms <= 3000; ++ms) {
    if (limiter->Check("k", kT0 + milliseconds(ms)).admitted) times.push_back(ms);
  }
  EXPECT_EQ(times, (std::vector<int64_t>{334, 667, 1000, 1334, 1667, 2000, 2334, 2667, 3000}));

  // Nanosecond precision at the boundary: 3 r/s burst 0, the second request is due at 1e9/3 ns.
  auto precise = Make(Limit(3, 0));
  EXPECT_TRUE(precise->Check("k", kT0).admitted);
  EXPECT_FALSE(precise->Check("k", kT0 + nanoseconds(333'333'333)).admitted);
  EXPECT_TRUE(precise->Check("k", kT0 + nanoseconds(333'333'334)).admitted);
}

TEST(RateLimiterTest, FractionalRates) {
  // 2.5 r/s (a key store rate): one every 400 ms once the burst is spent.
  auto limiter = Make(*RateLimitPerSecond(2.5, 2));
  int at_zero = 0;
  for (int i = 0; i < 10; ++i) at_zero += limiter->Check("k", kT0).admitted;
  EXPECT_EQ(at_zero, 3);
  std::vector<int64_t> times;
  for (int64_t ms = 1; ms <= 2000; ++ms) {
    if (limiter->Check("k", kT0 + milliseconds(ms)).admitted) times.push_back(ms);
  }
  EXPECT_EQ(times, (std::vector<int64_t>{400, 800, 1200, 1600, 2000}));
  // 0.5r/s and 30r/m are the same rate.
  auto half = Make(*ParseRateLimit("0.5r/s", 0));
  EXPECT_EQ(Hammer(*half, "k", milliseconds(6000)), (std::vector<int64_t>{0, 2000, 4000, 6000}));
  EXPECT_EQ(half->Check("k", kT0 + milliseconds(6000)).retry_after_seconds, 2);
}

TEST(RateLimiterTest, IdleKeyRefillsToBurstPlusOne) {
  auto limiter = Make(Limit(5, 10));
  int first = 0;
  for (int i = 0; i < 20; ++i) first += limiter->Check("k", kT0).admitted;
  EXPECT_EQ(first, 11);
  // Half drained after 1 s (5 requests' worth): 5 more.
  int partial = 0;
  for (int i = 0; i < 20; ++i) partial += limiter->Check("k", kT0 + seconds(1)).admitted;
  EXPECT_EQ(partial, 5);
  // Long idle: like a fresh key again.
  int later = 0;
  for (int i = 0; i < 20; ++i) later += limiter->Check("k", kT0 + seconds(100)).admitted;
  EXPECT_EQ(later, 11);
}

TEST(RateLimiterTest, RetryAfterIsTimeUntilNextAdmission) {
  auto limiter = Make(Limit(1, 5));
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(limiter->Check("k", kT0).admitted);
  RateDecision d = limiter->Check("k", kT0);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_seconds, 1);
  // 2 r/m burst 2 → after 3 requests the next is due in 30 s.
  auto slow = Make(Limit(2, 2, true));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(slow->Check("k", kT0).admitted);
  d = slow->Check("k", kT0 + seconds(10));
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_seconds, 20);
  EXPECT_FALSE(slow->Check("k", kT0 + milliseconds(29999)).admitted);
  EXPECT_TRUE(slow->Check("k", kT0 + seconds(30)).admitted);
}

TEST(RateLimiterTest, KeysAreIndependent) {
  auto limiter = Make(Limit(5, 10));
  for (int k = 0; k < 100; ++k) {
    int admitted = 0;
    for (int i = 0; i < 20; ++i) admitted += limiter->Check("10.0.0." + std::to_string(k), kT0).admitted;
    EXPECT_EQ(admitted, 11) << k;
  }
  EXPECT_EQ(limiter->size(), 100u);
}

TEST(RateLimiterTest, PerCallLimit) {
  auto limiter = Make(Limit(5, 10));
  const RateLimit key_limit = Limit(1, 2);
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += limiter->Check("key:alice", key_limit, kT0).admitted;
  EXPECT_EQ(admitted, 3);
  EXPECT_TRUE(limiter->Check("key:alice", key_limit, kT0 + seconds(1)).admitted);
  EXPECT_FALSE(limiter->Check("key:alice", key_limit, kT0 + seconds(1)).admitted);
}

TEST(RateLimiterTest, ClockGoingBackwardsCountsAsNoTime) {
  auto limiter = Make(Limit(1, 0));
  EXPECT_TRUE(limiter->Check("k", kT0 + seconds(10)).admitted);
  EXPECT_FALSE(limiter->Check("k", kT0).admitted);
  EXPECT_TRUE(limiter->Check("k", kT0 + seconds(11)).admitted);
}

TEST(RateLimiterTest, TableBoundHoldsUnderAFloodOfKeys) {
  auto limiter = Make(Limit(5, 10), /*max_entries=*/1000, /*shards=*/16);
  for (int i = 0; i < 1'000'000; ++i) {
    // All at the same instant: nothing is idle, so every insert past the bound evicts.
    ASSERT_TRUE(limiter->Check("flood-" + std::to_string(i), kT0).admitted);
    if (i % 100'000 == 0) {
      ASSERT_LE(limiter->size(), 1000u);
    }
  }
  EXPECT_EQ(limiter->size(), 1000u);
  EXPECT_EQ(limiter->evictions(), 1'000'000u - 1000u);
}

TEST(RateLimiterTest, ActiveClientSurvivesAFloodWithIdleExpiry) {
  // Flood keys that each send one request are idle 200 ms later (5 r/s: a request then would
  // find excess 0) and expire as new ones come, so nothing active is evicted.
  auto limiter = Make(Limit(5, 10), /*max_entries=*/100, /*shards=*/1);
  for (int i = 0; i < 11; ++i) ASSERT_TRUE(limiter->Check("victim", kT0).admitted);
  for (int i = 0; i < 10000; ++i) {
    // A new address every 5 ms: about 40 of them are not yet idle at any moment.
    const Clock::time_point t = kT0 + milliseconds(5 * i);
    limiter->Check("flood-" + std::to_string(i), t);
    // The victim keeps sending once per 100 ms: it stays recently used.
    if (i % 20 == 0) limiter->Check("victim", t);
  }
  EXPECT_LE(limiter->size(), 100u);
  EXPECT_EQ(limiter->evictions(), 0u);
}

TEST(RateLimiterTest, LruEvictionForgivesTheOldest) {
  auto limiter = Make(Limit(1, 0), /*max_entries=*/2, /*shards=*/1);
  EXPECT_TRUE(limiter->Check("a", kT0).admitted);
  EXPECT_TRUE(limiter->Check("b", kT0).admitted);
  EXPECT_FALSE(limiter->Check("a", kT0).admitted);  // a is now the most recently used
  EXPECT_TRUE(limiter->Check("c", kT0).admitted);   // evicts b
  EXPECT_EQ(limiter->evictions(), 1u);
  EXPECT_FALSE(limiter->Check("a", kT0).admitted);  // a was kept
  EXPECT_TRUE(limiter->Check("b", kT0).admitted);   // b was forgotten: fresh again
  EXPECT_EQ(limiter->size(), 2u);
}

TEST(RateLimiterTest, IdleEntriesExpire) {
  auto limiter = Make(Limit(5, 10), /*max_entries=*/1000, /*shards=*/1);
  for (int i = 0; i < 500; ++i) limiter->Check("old-" + std::to_string(i), kT0);
  EXPECT_EQ(limiter->size(), 500u);
  // One request leaves 0 excess; a request now would add 1 and find more than 0: not idle yet.
  limiter->Check("new-0", kT0 + milliseconds(199));
  EXPECT_EQ(limiter->size(), 501u);
  // From 200 ms on, each request tidies two idle entries from the old end.
  for (int i = 1; i <= 250; ++i) limiter->Check("new-" + std::to_string(i), kT0 + milliseconds(200 + i));
  EXPECT_EQ(limiter->size(), 251u);
  // Expiry is invisible: an expired key behaves exactly like one that was kept.
  int admitted = 0;
  for (int i = 0; i < 20; ++i) admitted += limiter->Check("old-0", kT0 + seconds(1)).admitted;
  EXPECT_EQ(admitted, 11);
}

TEST(RateLimiterTest, ConcurrentChecksCountExactly) {
  auto limiter = Make(Limit(5, 999), 1000, 8);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        admitted += limiter->Check("shared", kT0).admitted;
        limiter->Check("own-" + std::to_string(i % 50), kT0);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(admitted.load(), 1000);
}

TEST(RateLimiterTest, ParseAndValidate) {
  Result<RateLimit> r = ParseRateLimit("5r/s", 10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->milli_requests, 5000u);
  EXPECT_FALSE(r->per_minute);
  EXPECT_EQ(r->burst, 10u);
  r = ParseRateLimit("30r/m", 0);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->per_minute);
  EXPECT_EQ(FormatRateLimit(*r), "30r/m burst=0");
  EXPECT_TRUE(ParseRateLimit("7", 1).ok());
  EXPECT_TRUE(ParseRateLimit("7/m", 1).ok());
  r = ParseRateLimit("2.5r/s", 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->milli_requests, 2500u);
  EXPECT_EQ(FormatRateLimit(*r), "2.5r/s burst=3");
  r = ParseRateLimit("0.001", 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(FormatRateLimit(*r), "0.001r/s burst=0");
  for (const char* bad : {"", "0r/s", "0.0004r/s", "r/s", "5r/h", "-1", "5 r/s", "99999999999r/s", "1.r/s", ".5r/s",
                          "1e3r/s"}) {
    Result<RateLimit> e = ParseRateLimit(bad, 1);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_NE(e.error().message().find("rate"), std::string::npos) << e.error().message();
  }
  EXPECT_FALSE(ParseRateLimit("5r/s", kMaxBurst + 1).ok());
  EXPECT_FALSE(ParseRateLimit("5r/s", -1).ok());

  r = RateLimitPerSecond(2.5, 10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->milli_requests, 2500u);
  EXPECT_FALSE(r->per_minute);
  for (const double bad : {0.0, -1.0, 1e7, std::nan(""), 0.0001}) EXPECT_FALSE(RateLimitPerSecond(bad, 1).ok()) << bad;
  EXPECT_FALSE(RateLimitPerSecond(1, -1).ok());

  RateLimiter::Options options;
  options.max_entries = 0;
  EXPECT_FALSE(RateLimiter::Create(options).ok());
  options.max_entries = 4;
  options.shards = 8;
  EXPECT_FALSE(RateLimiter::Create(options).ok());
  options.shards = 4;
  options.limit.milli_requests = 0;
  EXPECT_FALSE(RateLimiter::Create(options).ok());
}

TEST(RateLimiterTest, ExtremeValuesDoNotOverflow) {
  auto limiter = Make(Limit(static_cast<uint32_t>(kMaxMilliRequests / 1000), kMaxBurst));
  int64_t admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += limiter->Check("k", kT0).admitted;
  EXPECT_EQ(admitted, 10);
  // Years later, at the largest rate: the bucket is simply empty.
  EXPECT_TRUE(limiter->Check("k", kT0 + std::chrono::hours(24 * 365 * 100)).admitted);
  auto slow = Make(Limit(1, kMaxBurst, true));
  for (int i = 0; i <= static_cast<int>(kMaxBurst); ++i) ASSERT_TRUE(slow->Check("k", kT0).admitted);
  RateDecision d = slow->Check("k", kT0);
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.retry_after_seconds, 60);
}

TEST(ConcurrencyLimiterTest, LimitsInFlightPerKey) {
  ConcurrencyLimiter limiter;
  std::optional<ConcurrencyLimiter::Token> a1 = limiter.TryAcquire("alice", 2);
  std::optional<ConcurrencyLimiter::Token> a2 = limiter.TryAcquire("alice", 2);
  ASSERT_TRUE(a1 && a2);
  EXPECT_FALSE(limiter.TryAcquire("alice", 2));
  std::optional<ConcurrencyLimiter::Token> b = limiter.TryAcquire("bob", 2);
  EXPECT_TRUE(b);
  EXPECT_EQ(limiter.InFlight("alice"), 2u);
  EXPECT_EQ(limiter.keys(), 2u);
  a1.reset();
  EXPECT_EQ(limiter.InFlight("alice"), 1u);
  EXPECT_TRUE(limiter.TryAcquire("alice", 2));  // acquired and released at once (temporary)
  EXPECT_EQ(limiter.InFlight("alice"), 1u);

  // Moving a token moves the slot; releasing twice releases once.
  ConcurrencyLimiter::Token moved = std::move(*a2);
  EXPECT_FALSE(a2->held());
  EXPECT_TRUE(moved.held());
  moved.Release();
  moved.Release();
  EXPECT_EQ(limiter.InFlight("alice"), 0u);
  b.reset();
  EXPECT_EQ(limiter.keys(), 0u);  // nothing in flight, nothing remembered
  EXPECT_FALSE(limiter.TryAcquire("carol", 0));
  EXPECT_EQ(limiter.keys(), 0u);
}

TEST(ConcurrencyLimiterTest, TokenOutlivesLimiter) {
  std::optional<ConcurrencyLimiter::Token> token;
  {
    ConcurrencyLimiter limiter;
    token = limiter.TryAcquire("k", 1);
    ASSERT_TRUE(token);
  }
  token.reset();  // releases into the shared state; no use after free
}

TEST(ConcurrencyLimiterTest, ConcurrentAcquireNeverExceedsLimit) {
  ConcurrencyLimiter limiter;
  std::atomic<int> current{0};
  std::atomic<int> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        if (auto token = limiter.TryAcquire("k", 3)) {
          const int now = ++current;
          int seen = peak.load();
          while (now > seen && !peak.compare_exchange_weak(seen, now)) {
          }
          --current;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(peak.load(), 3);
  EXPECT_EQ(limiter.keys(), 0u);
}

}  // namespace
}  // namespace bastion::policy
