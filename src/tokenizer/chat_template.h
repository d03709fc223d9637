// Chat prompt rendering for Qwen2.5 (ChatML), written directly in C++ rather than through a
// general Jinja engine:
//   * RenderQwenChat reproduces Qwen2.5's own template (tokenizer_config.json chat_template, as
//     HF transformers and llama.cpp --jinja render it): default system prompt, the "# Tools"
//     system section, assistant tool calls as <tool_call> blocks, tool results grouped into one
//     user turn of <tool_response> blocks.
//   * RenderChatMlLegacy reproduces llama.cpp's built-in ChatML formatter
//     (llama_chat_apply_template without --jinja): no default system prompt, no tool handling.
// The rendered text is meant to be encoded with parse_special = true.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace bastion {

// Deepest JSON nesting rendered in tools / tool-call arguments (deeper input is an error rather
// than unbounded recursion).
inline constexpr int kMaxJsonDepth = 256;

inline constexpr std::string_view kQwenDefaultSystemPrompt =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", "tool"; the template skips other roles
  std::string content;
  // null, or an array of tool calls, each {"function": {"name": ..., "arguments": ...}} (OpenAI
  // style, "type"/"id" ignored) or {"name": ..., "arguments": ...}. "arguments" may be an object or
  // a JSON string; a string that parses as JSON is rendered as the parsed value (what llama.cpp's
  // minja does for templates that expect object arguments), any other string as a JSON string.
  // A missing "arguments" renders as {}.
  nlohmann::ordered_json tool_calls;
  std::string name;  // tool name of a "tool" message; Qwen2.5's template does not render it
};

// Renders `messages` with Qwen2.5's chat template. `tools` is null or an array of tool
// definitions (usually {"type": "function", "function": {...}}), each rendered the way the
// template's `tojson` does: Python json.dumps(ensure_ascii=False) with ", " / ": " separators and
// the caller's key order (which is why this takes ordered_json: nlohmann::json sorts keys).
// Errors: tools not an array, tool_calls not an array of objects, a tool call without a name,
// JSON nested deeper than kMaxJsonDepth.
Result<std::string> RenderQwenChat(std::span<const ChatMessage> messages, const nlohmann::ordered_json& tools,
                                   bool add_generation_prompt);

// llama.cpp's built-in ChatML: "<|im_start|>{role}\n{content}<|im_end|>\n" per message, then
// "<|im_start|>assistant\n" when add_generation_prompt. Renders every role as given.
std::string RenderChatMlLegacy(std::span<const ChatMessage> messages, bool add_generation_prompt);

// JSON text as Python's json.dumps(value, ensure_ascii=False) writes it (the `tojson` filter of
// HF chat templates): ", " and ": " separators, keys in stored order, non-ASCII left as UTF-8,
// control characters escaped. Invalid UTF-8 inside strings becomes U+FFFD. Fails only when
// nested deeper than kMaxJsonDepth.
Result<std::string> ToJsonPythonStyle(const nlohmann::ordered_json& value);

}  // namespace bastion
