// Request-rate and concurrency limits per key (a client address or an API key name).
//
// RateLimiter follows nginx's limit_req exactly, so an operator's expectations from an
// nginx set-up carry over: a leaky bucket whose "excess" drains at `rate`; a request is admitted
// when the excess after adding it is at most `burst`; admitted requests are served at once
// (nginx `nodelay`); a rejected request does not add to the excess, so a client hammering the
// server gets its next request through as soon as the bucket allows, not later. A key seen for
// the first time starts with excess 0, and draining can go one request below empty (nginx clamps
// after adding the request), so an idle key gets burst + 1 requests at once.
//
// Rates are kept in thousandths of a request per second or per minute (nginx keeps
// milli-requests too; "2.5r/s", "30r/m" and "1r/m" are all exact). Where nginx counts per
// millisecond and truncates, the arithmetic here is exact integers (one request = 6e13 units,
// time in nanoseconds), so "3r/s" admits exactly on schedule and unit tests can count admissions
// over simulated time.
//
// The table is bounded: at most `max_entries` keys. On every request up to two least recently
// used entries that are idle (drained so far that a request now would find them like a fresh
// key, so forgetting them changes nothing) are deleted; when the table is full and nothing is
// idle the least recently used entry is evicted (as nginx does when its zone is full), which
// forgives that key's excess. Every operation is O(1); the table is sharded by key hash, each
// shard under its own mutex.
//
// Time is passed in (steady clock) so tests can drive it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"

namespace bastion::policy {

// `milli_requests`/1000 requests per second (or per minute) with `burst` requests of excess
// allowed. 5 r/s burst 10 is the usual nginx set-up and bastion's default per client address.
struct RateLimit {
  uint64_t milli_requests = 5000;  // per period, in thousandths: 5 r/s = 5000, 2.5 r/s = 2500
  bool per_minute = false;         // false: per second; true: per minute ("30r/m")
  uint32_t burst = 10;
};

// Bounds that keep the integer arithmetic exact and overflow-free: rate 0.001..1e6 requests per
// period, burst 0..1e5.
inline constexpr uint64_t kMaxMilliRequests = 1'000'000'000;
inline constexpr uint32_t kMaxBurst = 100'000;

Status ValidateRateLimit(const RateLimit& limit);

// Parses a rate as written in nginx or on the command line: "5r/s", "30r/m", "2.5r/s", "5"
// (per second), "5/s", "30/m"; at most three decimals. Returns the limit with `burst` filled in,
// validated.
Result<RateLimit> ParseRateLimit(std::string_view rate, int64_t burst);

// From a requests-per-second number (the key store's "rate": 2.5) rounded to thousandths.
Result<RateLimit> RateLimitPerSecond(double requests_per_second, int64_t burst);

// "5r/s burst=10", "2.5r/s burst=0", "30r/m burst=5": for logs and error messages.
std::string FormatRateLimit(const RateLimit& limit);

struct RateDecision {
  bool admitted = false;
  // When rejected: whole seconds until one more request from this key would be admitted,
  // rounded up, at least 1 (the Retry-After value). 0 when admitted.
  int64_t retry_after_seconds = 0;
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    RateLimit limit;               // used by Check(key, now)
    size_t max_entries = 100'000;  // keys remembered at most (memory bound)
    size_t shards = 16;            // independent mutexes; capacity is split evenly among them
  };

  // Validates the options (limit, max_entries ≥ 1, 1 ≤ shards ≤ max_entries, shards ≤ 1024).
  static Result<std::unique_ptr<RateLimiter>> Create(const Options& options);

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Counts one request from `key` at `now` against the default limit.
  RateDecision Check(std::string_view key, Clock::time_point now);
  // The same with a limit of its own (a per-API-key rate). A key must always be checked with the
  // same limit; the limit must be valid (ValidateRateLimit), anything else is a bug.
  RateDecision Check(std::string_view key, const RateLimit& limit, Clock::time_point now);

  // Keys currently remembered (≤ max_entries).
  size_t size() const;
  size_t max_entries() const { return max_entries_; }
  // Entries dropped while not idle because the table was full (their excess was forgiven). A
  // growing count means the table is too small for the number of active clients, or a flood.
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::string key;
    int64_t excess = 0;   // units (kUnitsPerRequest per request), after the last admitted request
    int64_t last_ns = 0;  // when excess was last updated
    int64_t drain = 1;    // units drained per nanosecond (from this key's rate)
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Entry> lru;  // front: most recently used
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index;  // views into lru
    size_t capacity = 0;
  };

  explicit RateLimiter(const Options& options);
  Shard& ShardFor(std::string_view key);
  // Deletes up to `max` idle entries from the LRU end. Caller holds shard.mu.
  static void ExpireIdle(Shard& shard, int64_t now_ns, int max);

  RateLimit default_limit_;
  size_t max_entries_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> evictions_{0};
};

// At most N requests in flight per key (concurrent generations per API key). Acquire returns a
// token that releases its slot when destroyed, from any thread; tokens may outlive the limiter.
// Memory: one entry per key that has something in flight, removed when its count drops to 0.
class ConcurrencyLimiter {
  struct State;

 public:
  class Token {
   public:
    Token() = default;
    Token(Token&& other) noexcept;
    Token& operator=(Token&& other) noexcept;
    Token(const Token&) = delete;
    Token& operator=(const Token&) = delete;
    ~Token();

    // Releases the slot now (idempotent).
    void Release();
    bool held() const { return state_ != nullptr; }

   private:
    friend class ConcurrencyLimiter;
    Token(std::shared_ptr<State> state, std::string key) : state_(std::move(state)), key_(std::move(key)) {}
    std::shared_ptr<State> state_;
    std::string key_;
  };

  ConcurrencyLimiter();

  // A token if `key` has fewer than `max_in_flight` tokens held; nullopt otherwise (and always
  // for max_in_flight 0).
  std::optional<Token> TryAcquire(std::string_view key, uint32_t max_in_flight);

  size_t InFlight(std::string_view key) const;
  // Keys with something in flight.
  size_t keys() const;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace bastion::policy
