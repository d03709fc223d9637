// Generator: prefix reuse, the sample/evaluate loop, detokenization and stop strings.
#include "model/generator.h"

#include <algorithm>
#include <chrono>

#include "model/stop_matcher.h"
#include "tokenizer/streaming_decoder.h"

namespace bastion {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

Generator::Generator(InferenceContext& ctx, int slot) : ctx_(ctx), slot_(slot) {
  ctx_.TruncateSlot(slot_, 0);
}

void Generator::Reset() {
  ctx_.TruncateSlot(slot_, 0);
  slot_tokens_.clear();
}

Status Generator::FeedPrompt(std::span<const int32_t> prompt, std::vector<float>* logits, int* reused) {
  if (prompt.empty()) return Error("the prompt is empty");
  if (static_cast<int>(prompt.size()) > ctx_.n_ctx()) {
    return Error("the prompt has " + std::to_string(prompt.size()) + " tokens but the context holds " +
                 std::to_string(ctx_.n_ctx()));
  }
  // Longest common prefix with what the slot holds; at least the last prompt token is evaluated
  // again so that its logits exist.
  size_t common = 0;
  const size_t held = std::min<size_t>(slot_tokens_.size(), static_cast<size_t>(ctx_.SlotLength(slot_)));
  while (common < held && common < prompt.size() && slot_tokens_[common] == prompt[common]) ++common;
  if (common == prompt.size()) --common;
  ctx_.TruncateSlot(slot_, static_cast<int>(common));
  slot_tokens_.assign(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(common));
  *reused = static_cast<int>(common);

  const auto rest = prompt.subspan(common);
  BASTION_RETURN_IF_ERROR(ctx_.Evaluate(slot_, rest, LogitsMode::kLast, logits));
  slot_tokens_.insert(slot_tokens_.end(), rest.begin(), rest.end());
  return OkStatus();
}

Result<GenerationResult> Generator::Generate(std::span<const int32_t> prompt, const GenerationParams& params,
                                             const std::function<bool(std::string_view)>& on_text) {
  BASTION_RETURN_IF_ERROR(params.sampling.Validate());
  const Tokenizer& tokenizer = ctx_.model().tokenizer();
  const int n_vocab = ctx_.model().config().n_vocab;
  GenerationResult result;
  result.n_prompt = static_cast<int>(prompt.size());

  std::vector<float> logits;
  auto start = std::chrono::steady_clock::now();
  BASTION_RETURN_IF_ERROR(FeedPrompt(prompt, &logits, &result.n_reused));
  result.prompt_seconds = SecondsSince(start);

  Sampler sampler(params.sampling);
  StreamingDecoder decoder(tokenizer, /*render_special=*/false);
  StopMatcher stops(params.stop);
  auto emit = [&](const std::string& text) {
    if (text.empty()) return true;
    result.text += text;
    return on_text ? on_text(text) : true;
  };

  start = std::chrono::steady_clock::now();
  for (;;) {
    if (params.max_tokens >= 0 && static_cast<int>(result.tokens.size()) >= params.max_tokens) {
      result.finish = FinishReason::kLength;
      break;
    }
    const int32_t id = sampler.Sample(std::span<const float>(logits.data(), n_vocab), slot_tokens_);
    if (id < 0) return Error("the model produced no usable logits (NaN)");
    result.tokens.push_back(id);
    if (!params.ignore_eos && tokenizer.IsEndOfGeneration(id)) {
      result.finish = FinishReason::kStop;
      break;
    }
    if (!emit(stops.Push(decoder.Push(id)))) {
      result.finish = FinishReason::kCancelled;
      break;
    }
    if (stops.stopped()) {
      result.finish = FinishReason::kStop;
      break;
    }
    if (ctx_.SlotLength(slot_) >= ctx_.n_ctx()) {
      result.finish = FinishReason::kLength;
      break;
    }
    const int32_t one[] = {id};
    BASTION_RETURN_IF_ERROR(ctx_.Evaluate(slot_, one, LogitsMode::kLast, &logits));
    slot_tokens_.push_back(id);
  }
  if (!stops.stopped() && result.finish != FinishReason::kCancelled) {
    emit(stops.Push(decoder.Flush()));
    emit(stops.Flush());
  }
  result.generate_seconds = SecondsSince(start);
  return result;
}

}  // namespace bastion
