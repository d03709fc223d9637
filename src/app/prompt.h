// Turning what a user typed into prompt token ids (raw text or a chat turn).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/model.h"
#include "tokenizer/chat_template.h"

namespace bastion::cli {

// raw: the text tokenized as is (special tokens parsed only when parse_special);
// chat: the text as one user message in Qwen2.5's chat template (system = Qwen's default when
// empty), ending with the assistant turn's opening.
Result<std::vector<int32_t>> BuildPrompt(const Model& model, const std::string& text, bool chat,
                                         const std::string& system, bool parse_special);

// A whole conversation rendered with the chat template and tokenized.
Result<std::vector<int32_t>> BuildChatPrompt(const Model& model, std::span<const ChatMessage> messages);

}  // namespace bastion::cli
