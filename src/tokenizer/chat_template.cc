// Qwen2.5 chat template and llama.cpp's legacy ChatML formatter (see chat_template.h). The
// branches below follow the Jinja source line by line; comments quote the condition they mirror.
#include "tokenizer/chat_template.h"

namespace bastion {
namespace {

using Json = nlohmann::ordered_json;

// Recursion depth is bounded so that a hostile, deeply nested request cannot overflow the stack.
Status AppendPythonJson(const Json& value, int depth, std::string* out) {
  if (depth > kMaxJsonDepth) {
    return Error("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  switch (value.type()) {
    case Json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out->append(", ");
        first = false;
        out->append(Json(it.key()).dump(-1, ' ', false, Json::error_handler_t::replace));
        out->append(": ");
        BASTION_RETURN_IF_ERROR(AppendPythonJson(it.value(), depth + 1, out));
      }
      out->push_back('}');
      break;
    }
    case Json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const Json& element : value) {
        if (!first) out->append(", ");
        first = false;
        BASTION_RETURN_IF_ERROR(AppendPythonJson(element, depth + 1, out));
      }
      out->push_back(']');
      break;
    }
    default:
      // Scalars: nlohmann writes strings, numbers (shortest round-trip floats, "1e-05", "1.0"),
      // booleans and null the way Python does; ensure_ascii=false keeps UTF-8 as is.
      out->append(value.dump(-1, ' ', false, Json::error_handler_t::replace));
      break;
  }
  return OkStatus();
}

constexpr std::string_view kToolsPreamble =
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
constexpr std::string_view kToolsPostamble =
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
    "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
    "\"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n";

// "{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}" and the
// rendering of one call.
Status AppendToolCall(const Json& call, size_t message_index, std::string* out) {
  const std::string where = "chat template: message " + std::to_string(message_index) + ": tool call";
  if (!call.is_object()) return Error(where + " is not an object");
  const Json& fn = call.contains("function") ? call["function"] : call;
  if (!fn.is_object()) return Error(where + ": 'function' is not an object");
  if (!fn.contains("name") || !fn["name"].is_string()) return Error(where + " has no string 'name'");
  out->append("\n<tool_call>\n{\"name\": \"");
  out->append(fn["name"].get_ref<const std::string&>());
  out->append("\", \"arguments\": ");
  if (!fn.contains("arguments")) {
    out->append("{}");
  } else if (const Json& args = fn["arguments"]; args.is_string()) {
    Json parsed = Json::parse(args.get_ref<const std::string&>(), nullptr, /*allow_exceptions=*/false);
    Status status = AppendPythonJson(parsed.is_discarded() ? args : parsed, 1, out);
    if (!status.ok()) return status.error().WithContext(where + " arguments");
  } else {
    Status status = AppendPythonJson(args, 1, out);
    if (!status.ok()) return status.error().WithContext(where + " arguments");
  }
  out->append("}\n</tool_call>");
  return OkStatus();
}

}  // namespace

Result<std::string> ToJsonPythonStyle(const Json& value) {
  std::string out;
  BASTION_RETURN_IF_ERROR(AppendPythonJson(value, 1, &out));
  return out;
}

Result<std::string> RenderQwenChat(std::span<const ChatMessage> messages, const Json& tools,
                                   bool add_generation_prompt) {
  if (!tools.is_null() && !tools.is_array()) return Error("chat template: 'tools' must be an array");
  const bool first_is_system = !messages.empty() && messages[0].role == "system";
  std::string out;

  // "{%- if tools %}" (a non-empty list) adds the tool section to the system turn.
  out.append("<|im_start|>system\n");
  out.append(first_is_system ? std::string_view(messages[0].content) : kQwenDefaultSystemPrompt);
  if (!tools.empty()) {
    out.append(kToolsPreamble);
    for (const Json& tool : tools) {
      out.push_back('\n');
      Status status = AppendPythonJson(tool, 1, &out);
      if (!status.ok()) return status.error().WithContext("chat template: tools");
    }
    out.append(kToolsPostamble);
  } else {
    out.append("<|im_end|>\n");
  }

  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    const Json& calls = m.tool_calls;
    if (!calls.is_null() && !calls.is_array()) {
      return Error("chat template: message " + std::to_string(i) + ": 'tool_calls' must be an array");
    }
    const bool has_calls = !calls.empty();  // Jinja truthiness: null and [] are false
    // (message.role == "user") or (message.role == "system" and not loop.first) or
    // (message.role == "assistant" and not message.tool_calls)
    if (m.role == "user" || (m.role == "system" && i != 0) || (m.role == "assistant" && !has_calls)) {
      out.append("<|im_start|>").append(m.role).append("\n").append(m.content).append("<|im_end|>\n");
    } else if (m.role == "assistant") {
      out.append("<|im_start|>assistant");
      if (!m.content.empty()) out.append("\n").append(m.content);
      for (const Json& call : calls) BASTION_RETURN_IF_ERROR(AppendToolCall(call, i, &out));
      out.append("<|im_end|>\n");
    } else if (m.role == "tool") {
      // Consecutive tool results share one user turn.
      if (i == 0 || messages[i - 1].role != "tool") out.append("<|im_start|>user");
      out.append("\n<tool_response>\n").append(m.content).append("\n</tool_response>");
      if (i + 1 == messages.size() || messages[i + 1].role != "tool") out.append("<|im_end|>\n");
    }
    // The first system message was rendered above; any other role renders nothing, as in Jinja.
  }
  if (add_generation_prompt) out.append("<|im_start|>assistant\n");
  return out;
}

std::string RenderChatMlLegacy(std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : messages) {
    out.append("<|im_start|>").append(m.role).append("\n").append(m.content).append("<|im_end|>\n");
  }
  if (add_generation_prompt) out.append("<|im_start|>assistant\n");
  return out;
}

}  // namespace bastion
