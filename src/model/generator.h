// Generator: prompt -> streamed text for one sequence slot (the CLI's generation loop).
//
// It reuses whatever prefix of the prompt the slot already holds (a multi-turn chat re-sends the
// whole conversation each turn), samples until an end-of-generation token, a stop string,
// max_tokens or a full context, and streams text that is valid UTF-8 and never contains any part
// of a stop string.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "model/context.h"
#include "model/sampler.h"

namespace bastion {

struct GenerationParams {
  SamplingParams sampling;
  int max_tokens = -1;             // < 0: until the context is full
  std::vector<std::string> stop;   // stop strings (not included in the output)
  bool ignore_eos = false;         // keep going past end-of-generation tokens
};

enum class FinishReason {
  kStop,       // end-of-generation token or stop string
  kLength,     // max_tokens reached or the context is full
  kCancelled,  // the text callback asked to stop
};

const char* FinishReasonName(FinishReason reason);

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids (including a final end-of-generation token)
  std::string text;             // everything streamed
  FinishReason finish = FinishReason::kStop;
  int n_prompt = 0;             // prompt tokens
  int n_reused = 0;             // of which already in the cache
  double prompt_seconds = 0;    // evaluating the new part of the prompt
  double generate_seconds = 0;  // sampling and evaluating the generated tokens
};

class Generator {
 public:
  Generator(InferenceContext& ctx, int slot = 0);

  // on_text receives each piece of text as it becomes safe to emit; returning false cancels.
  Result<GenerationResult> Generate(std::span<const int32_t> prompt, const GenerationParams& params,
                                    const std::function<bool(std::string_view)>& on_text);

  // Tokens the slot holds (the last prompt and what was generated after it).
  const std::vector<int32_t>& slot_tokens() const { return slot_tokens_; }
  void Reset();

 private:
  // Makes the slot hold exactly `prompt` and returns the logits of its last position.
  Status FeedPrompt(std::span<const int32_t> prompt, std::vector<float>* logits, int* reused);

  InferenceContext& ctx_;
  int slot_;
  std::vector<int32_t> slot_tokens_;
};

}  // namespace bastion
