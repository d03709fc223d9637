// Synthetic vocabulary: byte tokens, breadth-first letter merges, special and padding tokens.
#include "synth/synth_vocab.h"

#include <string>
#include <unordered_set>
#include <vector>

#include "base/check.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace bastion {
namespace {

// Qwen2.5's added tokens, in id order from 151643 (types per tokenizer_config.json as the golden
// README describes: all CONTROL except <tool_call> and </tool_call>, which are USER_DEFINED).
constexpr const char* kQwenSpecials[] = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
};
constexpr int kQwenFirstSpecial = 151643;
constexpr int kQwenSpecialCount = 22;

// A ChatML template in Jinja for other engines that read tokenizer.chat_template (bastion renders
// Qwen's chat format itself).
constexpr const char* kChatMlTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}";

}  // namespace

void AddSyntheticVocab(int n_vocab, GgufWriter* writer) {
  BASTION_CHECK(n_vocab >= 512);
  const bool qwen_layout = n_vocab >= kQwenFirstSpecial + kQwenSpecialCount;
  const int n_normal = qwen_layout ? kQwenFirstSpecial : n_vocab - 3;

  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  std::unordered_set<std::string> seen;
  tokens.reserve(n_vocab);
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(BytesToByteLevel(std::string(1, static_cast<char>(b))));
    seen.insert(tokens.back());
  }
  // Breadth-first: every token of the previous round extended by one letter, so common words
  // become a few multi-letter tokens. "Ġ" is the byte-level form of a leading space.
  const std::string space = BytesToByteLevel(" ");
  std::vector<std::string> round = {space};
  for (char c = 'a'; c <= 'z'; ++c) round.push_back(std::string(1, c));
  while (static_cast<int>(tokens.size()) < n_normal) {
    std::vector<std::string> next;
    for (const std::string& left : round) {
      for (char c = 'a'; c <= 'z' && static_cast<int>(tokens.size()) < n_normal; ++c) {
        std::string merged = left + c;
        if (!seen.insert(merged).second) continue;
        merges.push_back(left + " " + std::string(1, c));
        tokens.push_back(merged);
        next.push_back(std::move(merged));
      }
      if (static_cast<int>(tokens.size()) >= n_normal) break;
    }
    round = std::move(next);
  }
  types.assign(tokens.size(), static_cast<int32_t>(TokenType::kNormal));

  int32_t endoftext, im_end;
  if (qwen_layout) {
    for (int i = 0; i < kQwenSpecialCount; ++i) {
      tokens.emplace_back(kQwenSpecials[i]);
      const bool user_defined = tokens.back() == "<tool_call>" || tokens.back() == "</tool_call>";
      types.push_back(static_cast<int32_t>(user_defined ? TokenType::kUserDefined : TokenType::kControl));
    }
    while (static_cast<int>(tokens.size()) < n_vocab) {
      tokens.push_back("[PAD" + std::to_string(tokens.size()) + "]");
      types.push_back(static_cast<int32_t>(TokenType::kUnused));
    }
    endoftext = kQwenFirstSpecial;
    im_end = kQwenFirstSpecial + 2;
  } else {
    for (const char* s : {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}) {
      tokens.emplace_back(s);
      types.push_back(static_cast<int32_t>(TokenType::kControl));
    }
    endoftext = n_normal;
    im_end = n_normal + 2;
  }
  BASTION_CHECK(static_cast<int>(tokens.size()) == n_vocab);

  writer->SetString("tokenizer.ggml.model", "gpt2");
  writer->SetString("tokenizer.ggml.pre", "qwen2");
  writer->SetStringArray("tokenizer.ggml.tokens", std::move(tokens));
  writer->SetInt32Array("tokenizer.ggml.token_type", std::move(types));
  writer->SetStringArray("tokenizer.ggml.merges", std::move(merges));
  writer->SetUint32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(im_end));
  writer->SetUint32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(endoftext));
  writer->SetUint32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(endoftext));
  writer->SetBool("tokenizer.ggml.add_bos_token", false);
  writer->SetString("tokenizer.chat_template", kChatMlTemplate);
}

}  // namespace bastion
