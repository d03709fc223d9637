// Sampler: penalties, truncation (top-k, top-p, min-p), temperature and a seeded draw.
#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace bastion {
namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

Status SamplingParams::Validate() const {
  if (!std::isfinite(temperature)) return Error("temperature must be a finite number");
  if (temperature > 100.0f) return Error("temperature must be at most 100, got " + Num(temperature));
  if (!(top_p >= 0.0f && top_p <= 1.0f)) return Error("top_p must be in [0, 1], got " + Num(top_p));
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return Error("min_p must be in [0, 1], got " + Num(min_p));
  if (!(repeat_penalty > 0.0f) || !std::isfinite(repeat_penalty)) {
    return Error("repeat_penalty must be a positive number, got " + Num(repeat_penalty));
  }
  if (repeat_last_n < -1) return Error("repeat_last_n must be -1, 0 or positive, got " + std::to_string(repeat_last_n));
  if (!std::isfinite(presence_penalty) || std::fabs(presence_penalty) > 100.0f) {
    return Error("presence_penalty must be in [-100, 100], got " + Num(presence_penalty));
  }
  if (!std::isfinite(frequency_penalty) || std::fabs(frequency_penalty) > 100.0f) {
    return Error("frequency_penalty must be in [-100, 100], got " + Num(frequency_penalty));
  }
  return OkStatus();
}

Sampler::Sampler(const SamplingParams& params) : params_(params) {
  seed_ = params.seed;
  if (seed_ == SamplingParams::kRandomSeed) seed_ = std::random_device{}();
  rng_.seed(seed_);
}

int32_t Sampler::Argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i) {
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

double Sampler::NextUniform() {
  // 53 random bits -> a double in [0, 1), identical on every platform (unlike
  // std::uniform_real_distribution, whose algorithm is implementation-defined).
  return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
}

void Sampler::ApplyPenalties(std::span<const int32_t> history) {
  const bool any = params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                   params_.frequency_penalty != 0.0f;
  if (!any || params_.repeat_last_n == 0 || history.empty()) return;
  size_t n = history.size();
  if (params_.repeat_last_n > 0) n = std::min(n, static_cast<size_t>(params_.repeat_last_n));
  const std::span<const int32_t> window = history.subspan(history.size() - n);
  if (penalty_counts_.size() < work_.size()) penalty_counts_.assign(work_.size(), 0);
  for (const int32_t id : window) {
    if (id >= 0 && static_cast<size_t>(id) < work_.size()) ++penalty_counts_[id];
  }
  for (const int32_t id : window) {
    if (id < 0 || static_cast<size_t>(id) >= work_.size()) continue;
    const int count = penalty_counts_[id];
    if (count == 0) continue;  // already applied for this id
    float& l = work_[id];
    // As llama.cpp: divide positive logits, multiply negative ones, so the penalty always lowers.
    l = l > 0 ? l / params_.repeat_penalty : l * params_.repeat_penalty;
    l -= static_cast<float>(count) * params_.frequency_penalty + params_.presence_penalty;
    penalty_counts_[id] = 0;
  }
}

int32_t Sampler::FirstAllowedByLogit(const std::function<bool(int32_t)>& allowed) {
  auto better = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  if (candidates_.empty()) return -1;
  // Usually the best candidate is allowed; then a short sorted head; only rarely everything.
  const auto best = std::min_element(candidates_.begin(), candidates_.end(), better);
  if (!allowed || allowed(best->id)) return best->id;
  size_t head = std::min<size_t>(64, candidates_.size());
  std::partial_sort(candidates_.begin(), candidates_.begin() + head, candidates_.end(), better);
  for (size_t i = 1; i < head; ++i) {
    if (allowed(candidates_[i].id)) return candidates_[i].id;
  }
  std::sort(candidates_.begin() + head, candidates_.end(), better);
  for (size_t i = head; i < candidates_.size(); ++i) {
    if (allowed(candidates_[i].id)) return candidates_[i].id;
  }
  return -1;
}

int32_t Sampler::Sample(std::span<const float> logits, std::span<const int32_t> history,
                        const std::function<bool(int32_t)>& allowed) {
  work_.assign(logits.begin(), logits.end());
  ApplyPenalties(history);

  candidates_.clear();
  candidates_.reserve(work_.size());
  for (size_t i = 0; i < work_.size(); ++i) {
    if (std::isnan(work_[i])) continue;
    candidates_.push_back({work_[i], static_cast<int32_t>(i)});
  }
  if (candidates_.empty()) return -1;
  auto better = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };

  if (params_.temperature <= 0.0f) return FirstAllowedByLogit(allowed);

  // top-k: keep the k best, sorted best first.
  size_t keep = candidates_.size();
  if (params_.top_k > 0) keep = std::min(keep, static_cast<size_t>(params_.top_k));
  // Sorting 150k candidates is wasteful when only the head matters: sort the best few thousand,
  // and widen only if top-p needs more mass than they hold.
  size_t sorted = std::min(keep, static_cast<size_t>(4096));
  std::partial_sort(candidates_.begin(), candidates_.begin() + sorted, candidates_.end(), better);

  // Probabilities (before temperature, as llama.cpp's top-p/min-p see them).
  const float max_logit = candidates_[0].logit;
  double total = 0.0;
  for (size_t i = 0; i < keep; ++i) total += std::exp(static_cast<double>(candidates_[i].logit - max_logit));

  if (params_.top_p < 1.0f) {
    double cum = 0.0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      if (i == sorted) {
        // Needed more than the sorted head: sort everything that is kept.
        sorted = keep;
        std::partial_sort(candidates_.begin() + i, candidates_.begin() + keep, candidates_.end(), better);
      }
      cum += std::exp(static_cast<double>(candidates_[i].logit - max_logit)) / total;
      if (cum >= params_.top_p) {
        cut = i + 1;
        break;
      }
    }
    keep = cut;
  }
  if (params_.min_p > 0.0f) {
    // Keep tokens whose probability is at least min_p times the best one's. The kept range need
    // not be sorted here (no top-k or top-p asked for an order), so filter in place.
    const float threshold = max_logit + std::log(params_.min_p);
    const auto end = std::stable_partition(candidates_.begin(), candidates_.begin() + keep,
                                           [&](const Candidate& c) { return c.logit >= threshold; });
    keep = std::max<size_t>(1, static_cast<size_t>(end - candidates_.begin()));
  }

  // Temperature, softmax over the survivors, draw. A filter is applied lazily: a drawn token it
  // rejects leaves the pool and the draw repeats, which samples from the filtered distribution
  // without asking the filter about 150k tokens every step.
  std::vector<double> probs(keep);
  double sum = 0.0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp(static_cast<double>(candidates_[i].logit - max_logit) / params_.temperature);
    sum += probs[i];
  }
  for (size_t attempt = 0; attempt < keep && sum > 0.0; ++attempt) {
    const double u = NextUniform() * sum;
    double cum = 0.0;
    size_t pick = keep - 1;
    for (size_t i = 0; i < keep; ++i) {
      cum += probs[i];
      if (u < cum && probs[i] > 0.0) {
        pick = i;
        break;
      }
    }
    while (probs[pick] == 0.0 && pick > 0) --pick;  // rounding at the top end
    const int32_t id = candidates_[pick].id;
    if (!allowed || allowed(id)) return id;
    sum -= probs[pick];
    probs[pick] = 0.0;
  }
  // Every truncated candidate was rejected: the most likely allowed token of the whole vocabulary.
  return FirstAllowedByLogit(allowed);
}

}  // namespace bastion
