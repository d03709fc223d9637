// Message parsing and prompt rendering for the chat and generate endpoints.
#include "api/chat_request.h"

namespace bastion::api {
namespace {

Status CheckRole(const std::string& role, size_t index) {
  if (role == "system" || role == "user" || role == "assistant" || role == "tool") return OkStatus();
  return Error("messages[" + std::to_string(index) + "].role must be system, user, assistant or tool, got '" +
               role + "'");
}

Status RejectImages(const Json& message, size_t index) {
  const auto images = message.find("images");
  if (images != message.end() && images->is_array() && !images->empty()) {
    return Error("messages[" + std::to_string(index) + "] has images, but this model does not support images");
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<ChatMessage>> ParseOllamaMessages(const Json& messages) {
  if (!messages.is_array()) return Error("'messages' must be an array");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    if (!m.is_object()) return Error("messages[" + std::to_string(i) + "] must be an object");
    ChatMessage msg;
    BASTION_ASSIGN_OR_RETURN(msg.role, GetString(m, "role", ""));
    BASTION_RETURN_IF_ERROR(CheckRole(msg.role, i));
    BASTION_ASSIGN_OR_RETURN(msg.content, GetString(m, "content", ""));
    BASTION_RETURN_IF_ERROR(RejectImages(m, i));
    if (m.contains("tool_calls") && !m["tool_calls"].is_null()) msg.tool_calls = m["tool_calls"];
    BASTION_ASSIGN_OR_RETURN(msg.name, GetString(m, "tool_name", ""));
    out.push_back(std::move(msg));
  }
  return out;
}

Result<std::vector<ChatMessage>> ParseOpenAiMessages(const Json& messages) {
  if (!messages.is_array()) return Error("'messages' must be an array");
  if (messages.empty()) return Error("'messages' must contain at least one message");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return Error(at + " must be an object");
    ChatMessage msg;
    BASTION_ASSIGN_OR_RETURN(msg.role, GetString(m, "role", ""));
    if (msg.role == "developer") msg.role = "system";
    BASTION_RETURN_IF_ERROR(CheckRole(msg.role, i));
    const auto content = m.find("content");
    if (content != m.end() && !content->is_null()) {
      if (content->is_string()) {
        msg.content = content->get<std::string>();
      } else if (content->is_array()) {
        for (const Json& part : *content) {
          if (!part.is_object()) return Error(at + ".content parts must be objects");
          BASTION_ASSIGN_OR_RETURN(std::string type, GetString(part, "type", ""));
          if (type == "text") {
            BASTION_ASSIGN_OR_RETURN(std::string text, GetString(part, "text", ""));
            msg.content += text;
          } else if (type == "image_url" || type == "input_audio" || type == "file") {
            return Error(at + " has a '" + type + "' part, but this model reads text only");
          } else {
            return Error(at + ".content has an unknown part type '" + type + "'");
          }
        }
      } else {
        return Error(at + ".content must be a string or an array of content parts");
      }
    }
    if (m.contains("tool_calls") && !m["tool_calls"].is_null()) msg.tool_calls = m["tool_calls"];
    BASTION_ASSIGN_OR_RETURN(msg.name, GetString(m, "name", ""));
    out.push_back(std::move(msg));
  }
  return out;
}

Result<std::vector<int32_t>> ChatPromptTokens(const Model& model, const std::vector<ChatMessage>& messages,
                                              const Json& tools) {
  if (!tools.is_null() && !tools.is_array()) return Error("'tools' must be an array");
  BASTION_ASSIGN_OR_RETURN(std::string text, RenderQwenChat(messages, tools, /*add_generation_prompt=*/true));
  // The template's markers are special tokens; the rendered prompt is tokenized with special
  // tokens parsed, as llama.cpp and transformers do.
  return model.tokenizer().Encode(text, /*parse_special=*/true);
}

Result<std::vector<int32_t>> GeneratePromptTokens(const Model& model, const std::string& prompt,
                                                  const std::string& system, bool raw) {
  if (raw) return model.tokenizer().Encode(prompt, /*parse_special=*/true, /*add_special=*/true);
  std::vector<ChatMessage> messages;
  if (!system.empty()) messages.push_back({"system", system, nullptr, ""});
  messages.push_back({"user", prompt, nullptr, ""});
  return ChatPromptTokens(model, messages, nullptr);
}

}  // namespace bastion::api
