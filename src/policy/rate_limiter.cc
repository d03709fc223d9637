// RateLimiter (nginx limit_req in exact integer arithmetic, bounded LRU table) and
// ConcurrencyLimiter. The semantics are explained in rate_limiter.h.
#include "policy/rate_limiter.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <utility>

#include "base/check.h"

namespace bastion::policy {
namespace {

// One request in excess units: 60 s in nanoseconds times 1000, so rates in thousandths of a
// request per second or per minute drain a whole number of units per nanosecond: m milli-r/s
// drains 60*m, m milli-r/m drains m. Nothing rounds. (1e5 burst * 6e13 < 2^63.)
constexpr int64_t kUnitsPerRequest = 60'000'000'000'000;
constexpr int64_t kNanosPerSecond = 1'000'000'000;

int64_t DrainPerNano(const RateLimit& limit) {
  const int64_t m = static_cast<int64_t>(limit.milli_requests);
  return limit.per_minute ? m : int64_t{60} * m;
}

std::string FormatMilli(uint64_t milli) {
  std::string out = std::to_string(milli / 1000);
  if (const uint64_t frac = milli % 1000; frac != 0) {
    std::string digits = std::to_string(frac + 1000).substr(1);  // three digits, leading zeros
    while (digits.back() == '0') digits.pop_back();
    out += "." + digits;
  }
  return out;
}

int64_t ToNanos(RateLimiter::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Excess after draining for `elapsed` ns and adding one request, clamped at 0 after the addition
// as nginx does (so a long-idle key can end at 0, not at one request).
int64_t ExcessWithOneMore(int64_t excess, int64_t elapsed, int64_t drain) {
  const int64_t base = excess + kUnitsPerRequest;
  // elapsed*drain could overflow after a long idle; anything past base/drain empties the bucket.
  if (elapsed > base / drain) return 0;
  return base - elapsed * drain;  // ≥ 0, and elapsed*drain ≤ base cannot overflow
}

// True when a request now would see this entry exactly as a fresh key (excess 0): only then is
// forgetting it invisible. Merely drained to 0 is not enough — the next request would land at one
// request of excess where a fresh key lands at 0.
bool IsIdle(int64_t excess, int64_t last_ns, int64_t drain, int64_t now_ns) {
  const int64_t elapsed = now_ns > last_ns ? now_ns - last_ns : 0;
  return ExcessWithOneMore(excess, elapsed, drain) == 0;
}

}  // namespace

Status ValidateRateLimit(const RateLimit& limit) {
  if (limit.milli_requests == 0 || limit.milli_requests > kMaxMilliRequests) {
    return Error(std::string("rate must be 0.001..") + FormatMilli(kMaxMilliRequests) + " requests per " +
                 (limit.per_minute ? "minute" : "second") + ", got " + FormatMilli(limit.milli_requests));
  }
  if (limit.burst > kMaxBurst) {
    return Error("burst must be 0.." + std::to_string(kMaxBurst) + ", got " + std::to_string(limit.burst));
  }
  return OkStatus();
}

Result<RateLimit> ParseRateLimit(std::string_view rate, int64_t burst) {
  const std::string quoted = "rate '" + std::string(rate) + "'";
  RateLimit limit;
  if (burst < 0 || burst > kMaxBurst) {
    return Error(quoted + ": burst must be 0.." + std::to_string(kMaxBurst) + ", got " + std::to_string(burst));
  }
  limit.burst = static_cast<uint32_t>(burst);
  const char* begin = rate.data();
  const char* end = rate.data() + rate.size();
  uint64_t whole = 0;
  auto [ptr, ec] = std::from_chars(begin, end, whole);
  if (ec != std::errc() || ptr == begin) {
    return Error(quoted + ": expected a number of requests, like 5r/s, 2.5r/s or 30r/m");
  }
  uint64_t frac = 0;
  if (ptr != end && *ptr == '.') {
    ++ptr;
    int digits = 0;
    while (ptr != end && *ptr >= '0' && *ptr <= '9') {
      if (++digits > 3) return Error(quoted + ": at most three decimals");
      frac = frac * 10 + static_cast<uint64_t>(*ptr - '0');
      ++ptr;
    }
    if (digits == 0) return Error(quoted + ": expected digits after '.'");
    for (; digits < 3; ++digits) frac *= 10;
  }
  if (whole > kMaxMilliRequests / 1000) {
    return Error(quoted + ": at most " + FormatMilli(kMaxMilliRequests) + " requests per period");
  }
  const std::string_view unit(ptr, static_cast<size_t>(end - ptr));
  if (unit.empty() || unit == "r/s" || unit == "/s") {
    limit.per_minute = false;
  } else if (unit == "r/m" || unit == "/m") {
    limit.per_minute = true;
  } else {
    return Error(quoted + ": unknown unit '" + std::string(unit) + "' (expected r/s or r/m)");
  }
  limit.milli_requests = whole * 1000 + frac;
  const Status valid = ValidateRateLimit(limit);
  if (!valid.ok()) return valid.error().WithContext(quoted);
  return limit;
}

Result<RateLimit> RateLimitPerSecond(double requests_per_second, int64_t burst) {
  if (!std::isfinite(requests_per_second) || requests_per_second < 0.0005 ||
      requests_per_second > static_cast<double>(kMaxMilliRequests / 1000)) {
    return Error("rate must be 0.001.." + FormatMilli(kMaxMilliRequests) + " requests per second, got " +
                 std::to_string(requests_per_second));
  }
  if (burst < 0 || burst > kMaxBurst) {
    return Error("burst must be 0.." + std::to_string(kMaxBurst) + ", got " + std::to_string(burst));
  }
  RateLimit limit;
  limit.milli_requests = static_cast<uint64_t>(std::llround(requests_per_second * 1000.0));
  limit.per_minute = false;
  limit.burst = static_cast<uint32_t>(burst);
  BASTION_RETURN_IF_ERROR(ValidateRateLimit(limit));
  return limit;
}

std::string FormatRateLimit(const RateLimit& limit) {
  return FormatMilli(limit.milli_requests) + (limit.per_minute ? "r/m" : "r/s") +
         " burst=" + std::to_string(limit.burst);
}

Result<std::unique_ptr<RateLimiter>> RateLimiter::Create(const Options& options) {
  const Status valid = ValidateRateLimit(options.limit);
  if (!valid.ok()) return valid.error();
  if (options.max_entries == 0) return Error("rate limiter: max_entries must be at least 1");
  if (options.shards == 0 || options.shards > 1024 || options.shards > options.max_entries) {
    return Error("rate limiter: shards must be 1..min(1024, max_entries), got " +
                 std::to_string(options.shards));
  }
  return std::unique_ptr<RateLimiter>(new RateLimiter(options));
}

RateLimiter::RateLimiter(const Options& options)
    : default_limit_(options.limit), max_entries_(options.max_entries) {
  // Split the capacity so the shards add up to exactly max_entries: the bound is the bound.
  const size_t n = options.shards;
  for (size_t i = 0; i < n; ++i) {
    auto shard = std::make_unique<Shard>();
    shard->capacity = max_entries_ / n + (i < max_entries_ % n ? 1 : 0);
    // Reserving up front means the index never rehashes (no latency spike under a flood).
    shard->index.reserve(shard->capacity);
    shards_.push_back(std::move(shard));
  }
}

RateLimiter::Shard& RateLimiter::ShardFor(std::string_view key) {
  // The map inside the shard uses the same hash; take high bits here so shards and buckets do
  // not correlate.
  const size_t h = std::hash<std::string_view>{}(key);
  return *shards_[(h >> 32 ^ h) % shards_.size()];
}

void RateLimiter::ExpireIdle(Shard& shard, int64_t now_ns, int max) {
  for (int i = 0; i < max && !shard.lru.empty(); ++i) {
    Entry& oldest = shard.lru.back();
    if (!IsIdle(oldest.excess, oldest.last_ns, oldest.drain, now_ns)) return;
    shard.index.erase(oldest.key);
    shard.lru.pop_back();
  }
}

RateDecision RateLimiter::Check(std::string_view key, Clock::time_point now) {
  return Check(key, default_limit_, now);
}

RateDecision RateLimiter::Check(std::string_view key, const RateLimit& limit, Clock::time_point now) {
  BASTION_CHECK(limit.milli_requests >= 1 && limit.milli_requests <= kMaxMilliRequests && limit.burst <= kMaxBurst);
  const int64_t now_ns = ToNanos(now);
  const int64_t drain = DrainPerNano(limit);
  const int64_t burst_units = int64_t{limit.burst} * kUnitsPerRequest;
  Shard& shard = ShardFor(key);
  std::lock_guard<std::mutex> lock(shard.mu);

  // Like nginx, tidy a little on every request so idle entries do not pile up until a flood.
  ExpireIdle(shard, now_ns, 2);

  auto found = shard.index.find(key);
  if (found == shard.index.end()) {
    if (shard.lru.size() >= shard.capacity) {
      ExpireIdle(shard, now_ns, 2);
      if (shard.lru.size() >= shard.capacity) {
        // Full of active keys: forget the least recently used one (nginx does the same).
        shard.index.erase(shard.lru.back().key);
        shard.lru.pop_back();
        evictions_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    // A fresh key starts at excess 0 and is admitted (nginx: the first request always passes).
    shard.lru.push_front(Entry{std::string(key), 0, now_ns, drain});
    Entry& entry = shard.lru.front();
    shard.index.emplace(entry.key, shard.lru.begin());
    return RateDecision{true, 0};
  }

  // Seen: it becomes the most recently used whether or not it is admitted, so a client that keeps
  // hammering stays remembered (and limited) instead of aging out.
  shard.lru.splice(shard.lru.begin(), shard.lru, found->second);
  Entry& entry = *found->second;
  entry.drain = drain;
  // A clock that went backwards (only possible with injected time) counts as no time passing.
  const int64_t elapsed = now_ns > entry.last_ns ? now_ns - entry.last_ns : 0;
  const int64_t excess = ExcessWithOneMore(entry.excess, elapsed, drain);
  if (excess > burst_units) {
    // Rejected requests leave the bucket alone. Wait until it drains to exactly `burst`.
    const int64_t over = excess - burst_units;
    const int64_t wait_ns = (over + drain - 1) / drain;
    const int64_t seconds = std::max<int64_t>(1, (wait_ns + kNanosPerSecond - 1) / kNanosPerSecond);
    return RateDecision{false, seconds};
  }
  entry.excess = excess;
  entry.last_ns = std::max(entry.last_ns, now_ns);
  return RateDecision{true, 0};
}

size_t RateLimiter::size() const {
  size_t total = 0;
  for (const auto& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard->mu);
    total += shard->lru.size();
  }
  return total;
}

// ---------------------------------------------------------------------------------------------

struct ConcurrencyLimiter::State {
  mutable std::mutex mu;
  std::unordered_map<std::string, uint32_t> in_flight;  // only keys with a count > 0
};

ConcurrencyLimiter::ConcurrencyLimiter() : state_(std::make_shared<State>()) {}

std::optional<ConcurrencyLimiter::Token> ConcurrencyLimiter::TryAcquire(std::string_view key,
                                                                        uint32_t max_in_flight) {
  if (max_in_flight == 0) return std::nullopt;
  std::string owned(key);
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    uint32_t& count = state_->in_flight[owned];
    // count ≥ 1 here when refused (max_in_flight ≥ 1), so no zero-count entry is left behind.
    if (count >= max_in_flight) return std::nullopt;
    ++count;
  }
  return Token(state_, std::move(owned));
}

size_t ConcurrencyLimiter::InFlight(std::string_view key) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  const auto it = state_->in_flight.find(std::string(key));
  return it == state_->in_flight.end() ? 0 : it->second;
}

size_t ConcurrencyLimiter::keys() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->in_flight.size();
}

ConcurrencyLimiter::Token::Token(Token&& other) noexcept
    : state_(std::move(other.state_)), key_(std::move(other.key_)) {
  other.state_.reset();
}

ConcurrencyLimiter::Token& ConcurrencyLimiter::Token::operator=(Token&& other) noexcept {
  if (this != &other) {
    Release();
    state_ = std::move(other.state_);
    key_ = std::move(other.key_);
    other.state_.reset();
  }
  return *this;
}

ConcurrencyLimiter::Token::~Token() { Release(); }

void ConcurrencyLimiter::Token::Release() {
  if (!state_) return;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    const auto it = state_->in_flight.find(key_);
    BASTION_CHECK(it != state_->in_flight.end() && it->second > 0);
    if (--it->second == 0) state_->in_flight.erase(it);
  }
  state_.reset();
}

}  // namespace bastion::policy
