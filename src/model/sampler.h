// Sampler: turns a row of logits into the next token id.
//
// The chain follows llama.cpp's default order so the same settings behave the same way:
// penalties (repetition, presence, frequency over the last repeat_last_n tokens) -> top-k ->
// top-p -> min-p -> temperature -> draw. temperature <= 0 is greedy (argmax, ties to the lowest
// id). The random source is a seeded 64-bit Mersenne Twister with a portable mapping to [0, 1),
// so the same seed gives the same output on every machine.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace bastion {

struct SamplingParams {
  float temperature = 0.8f;        // <= 0: greedy
  int top_k = 40;                  // <= 0: off
  float top_p = 0.95f;             // >= 1: off
  float min_p = 0.05f;             // <= 0: off
  float repeat_penalty = 1.0f;     // 1: off; > 1 discourages repeats
  int repeat_last_n = 64;          // tokens the penalties look back over; -1 = all, 0 = off
  float presence_penalty = 0.0f;   // subtracted once from a token that appeared
  float frequency_penalty = 0.0f;  // subtracted per appearance
  uint64_t seed = 0xFFFFFFFFu;     // kRandomSeed = draw one from the OS

  static constexpr uint64_t kRandomSeed = 0xFFFFFFFFu;

  // Checks ranges; the message names the setting ("top_p must be in [0, 1], got 2").
  Status Validate() const;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  const SamplingParams& params() const { return params_; }
  uint64_t seed() const { return seed_; }

  // history: the tokens so far (prompt and generated), for the penalties.
  // allowed: optional filter (structured output), asked lazily about drawn tokens; a token it
  // rejects is never chosen. If it rejects every token that survived truncation, the most likely
  // allowed token of the whole vocabulary is taken; -1 if it allows none at all.
  int32_t Sample(std::span<const float> logits, std::span<const int32_t> history,
                 const std::function<bool(int32_t)>& allowed = nullptr);

  // Greedy choice over raw logits: argmax, ties to the lowest id.
  static int32_t Argmax(std::span<const float> logits);

 private:
  struct Candidate {
    float logit;
    int32_t id;
  };

  void ApplyPenalties(std::span<const int32_t> history);
  // Highest-logit candidate the filter allows (any, without a filter); -1 if none.
  int32_t FirstAllowedByLogit(const std::function<bool(int32_t)>& allowed);
  double NextUniform();  // [0, 1)

  SamplingParams params_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::vector<float> work_;             // logits after penalties
  std::vector<Candidate> candidates_;
  std::vector<int32_t> penalty_counts_;  // scratch, indexed by token id
};

}  // namespace bastion
