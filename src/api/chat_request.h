// Turning API chat/generate requests into prompt tokens: message lists (Ollama and OpenAI
// shapes) into ChatMessages, rendered with Qwen2.5's template and tokenized.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/json_body.h"
#include "base/result.h"
#include "model/model.h"
#include "tokenizer/chat_template.h"

namespace bastion::api {

// Ollama /api/chat messages: [{role, content, images?, tool_calls?, tool_name?}].
Result<std::vector<ChatMessage>> ParseOllamaMessages(const Json& messages);

// OpenAI messages: content as a string, null, or an array of {type:"text", text} parts;
// tool_calls with string arguments; "developer" is treated as "system".
Result<std::vector<ChatMessage>> ParseOpenAiMessages(const Json& messages);

// tools: null or an array of tool definitions (rendered into the system turn by the template).
Result<std::vector<int32_t>> ChatPromptTokens(const Model& model, const std::vector<ChatMessage>& messages,
                                              const Json& tools);

// A plain prompt: raw = the text as is, special tokens parsed (Ollama raw mode); otherwise the
// text becomes one user turn (with an optional system message) in the chat template.
Result<std::vector<int32_t>> GeneratePromptTokens(const Model& model, const std::string& prompt,
                                                  const std::string& system, bool raw);

}  // namespace bastion::api
