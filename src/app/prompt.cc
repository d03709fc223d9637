// Prompt building for the CLI commands.
#include "app/prompt.h"

namespace bastion::cli {

Result<std::vector<int32_t>> BuildChatPrompt(const Model& model, std::span<const ChatMessage> messages) {
  BASTION_ASSIGN_OR_RETURN(std::string text, RenderQwenChat(messages, nullptr, /*add_generation_prompt=*/true));
  // The template's own markers (<|im_start|> ...) are special tokens; as in llama.cpp and HF, the
  // rendered prompt is tokenized with special-token parsing on.
  return model.tokenizer().Encode(text, /*parse_special=*/true);
}

Result<std::vector<int32_t>> BuildPrompt(const Model& model, const std::string& text, bool chat,
                                         const std::string& system, bool parse_special) {
  if (!chat) {
    std::vector<int32_t> ids = model.tokenizer().Encode(text, parse_special, /*add_special=*/true);
    if (ids.empty()) return Error("the prompt is empty");
    return ids;
  }
  std::vector<ChatMessage> messages;
  if (!system.empty()) messages.push_back({"system", system, nullptr, ""});
  messages.push_back({"user", text, nullptr, ""});
  return BuildChatPrompt(model, messages);
}

}  // namespace bastion::cli
