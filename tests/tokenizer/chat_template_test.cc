// Chat template tests that need no shared data: Qwen2.5 template features the golden file does
// not cover (tools, tool calls, tool responses, late system messages, unknown roles), checked
// against renders of the real Jinja template by Python jinja2 with transformers' settings
// (trim_blocks, lstrip_blocks, tojson = json.dumps(ensure_ascii=False)); plus the legacy ChatML
// render and the Python-style JSON writer.
#include <gtest/gtest.h>

#include <vector>

#include "tokenizer/chat_template.h"

namespace bastion {
namespace {

using OJson = nlohmann::ordered_json;

// {"name", "tools", "messages", "add_generation_prompt", "expected"}; "expected" is the jinja2
// render of shared/models/qwen2.5-tokenizer/chat_template.jinja for that input.
const char* const kJinjaCases[] = {
    R"json({"name": "tools-calls-responses", "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather — now", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}], "messages": [{"role": "user", "content": "What's the weather in Paris and Zürich?"}, {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}, {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich"}}}]}, {"role": "tool", "content": "{\"temp\": 18}"}, {"role": "tool", "content": "{\"temp\": 12}"}, {"role": "assistant", "content": "Paris is 18°C and Zürich 12°C."}], "add_generation_prompt": true, "expected": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the weather — now\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWhat's the weather in Paris and Zürich?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{\"temp\": 18}\n</tool_response>\n<tool_response>\n{\"temp\": 12}\n</tool_response><|im_end|>\n<|im_start|>assistant\nParis is 18°C and Zürich 12°C.<|im_end|>\n<|im_start|>assistant\n"})json",
    R"json({"name": "system-tools-content-and-call", "tools": [{"type": "function", "function": {"name": "calc", "parameters": {"b": 2.5, "a": [1, null, true, false], "s": "tab\there \"q\" \\ /", "e": {}, "l": []}}}, {"name": "bare"}], "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "Let me compute.", "tool_calls": [{"name": "calc", "arguments": {"z": 1, "a": "x"}}]}, {"role": "tool", "content": "4"}, {"role": "user", "content": "Thanks"}], "add_generation_prompt": false, "expected": "<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"calc\", \"parameters\": {\"b\": 2.5, \"a\": [1, null, true, false], \"s\": \"tab\\there \\\"q\\\" \\\\ /\", \"e\": {}, \"l\": []}}}\n{\"name\": \"bare\"}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\nLet me compute.\n<tool_call>\n{\"name\": \"calc\", \"arguments\": {\"z\": 1, \"a\": \"x\"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n4\n</tool_response><|im_end|>\n<|im_start|>user\nThanks<|im_end|>\n"})json",
    R"json({"name": "late-system-and-unknown-role", "tools": [], "messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "Now speak French."}, {"role": "developer", "content": "ignored by the template"}, {"role": "tool", "content": "orphan result"}, {"role": "assistant", "content": ""}], "add_generation_prompt": true, "expected": "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>system\nNow speak French.<|im_end|>\n<|im_start|>user\n<tool_response>\norphan result\n</tool_response><|im_end|>\n<|im_start|>assistant\n<|im_end|>\n<|im_start|>assistant\n"})json",
};

std::vector<ChatMessage> ParseMessages(const OJson& list) {
  std::vector<ChatMessage> messages;
  for (const OJson& m : list) {
    ChatMessage msg;
    msg.role = m["role"].get<std::string>();
    msg.content = m.value("content", "");
    if (m.contains("tool_calls")) msg.tool_calls = m["tool_calls"];
    messages.push_back(std::move(msg));
  }
  return messages;
}

TEST(ChatTemplate, MatchesJinjaRenders) {
  for (const char* text : kJinjaCases) {
    const OJson c = OJson::parse(text);
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto messages = ParseMessages(c["messages"]);
    auto rendered = RenderQwenChat(messages, c["tools"], c["add_generation_prompt"].get<bool>());
    ASSERT_TRUE(rendered.ok()) << rendered.error().message();
    EXPECT_EQ(*rendered, c["expected"].get<std::string>());
  }
}

TEST(ChatTemplate, StringArgumentsAreParsed) {
  // OpenAI clients send arguments as a JSON string; it renders like the object would.
  std::vector<ChatMessage> messages(2);
  messages[0] = {"user", "hi", {}, ""};
  messages[1].role = "assistant";
  messages[1].tool_calls = OJson::parse(R"([{"id": "c1", "type": "function",
      "function": {"name": "f", "arguments": "{\"b\": 1, \"a\": [true]}"}}])");
  auto out = RenderQwenChat(messages, nullptr, false);
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->find("<|im_start|>assistant\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"b\": 1, \"a\": [true]}}\n"
                      "</tool_call><|im_end|>\n"),
            std::string::npos)
      << *out;
  // A string that is not JSON stays a JSON string; missing arguments render as {}.
  messages[1].tool_calls = OJson::parse(R"([{"name": "f", "arguments": "not json"}, {"name": "g"}])");
  out = RenderQwenChat(messages, nullptr, false);
  ASSERT_TRUE(out.ok());
  EXPECT_NE(out->find("{\"name\": \"f\", \"arguments\": \"not json\"}"), std::string::npos) << *out;
  EXPECT_NE(out->find("{\"name\": \"g\", \"arguments\": {}}"), std::string::npos) << *out;
}

TEST(ChatTemplate, DefaultSystemPromptAndGenerationPrompt) {
  std::vector<ChatMessage> messages = {{"user", "Hello", {}, ""}};
  auto out = RenderQwenChat(messages, nullptr, true);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out,
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
  out = RenderQwenChat(messages, OJson::array(), false);  // [] is "no tools"
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out,
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nHello<|im_end|>\n");
  // No messages at all (Jinja would fail on messages[0]): just the default system turn.
  out = RenderQwenChat({}, nullptr, true);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out,
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplate, Errors) {
  std::vector<ChatMessage> messages = {{"user", "x", {}, ""}};
  EXPECT_FALSE(RenderQwenChat(messages, OJson::object(), true).ok());
  EXPECT_FALSE(RenderQwenChat(messages, "tools", true).ok());
  messages.push_back({"assistant", "", OJson::object({{"name", "f"}}), ""});
  EXPECT_FALSE(RenderQwenChat(messages, nullptr, true).ok());
  messages.back().tool_calls = OJson::parse(R"([{"function": {"arguments": {}}}])");
  EXPECT_FALSE(RenderQwenChat(messages, nullptr, true).ok());
  messages.back().tool_calls = OJson::parse(R"([42])");
  EXPECT_FALSE(RenderQwenChat(messages, nullptr, true).ok());
  messages.back().tool_calls = OJson::parse(R"([{"function": "f"}])");
  EXPECT_FALSE(RenderQwenChat(messages, nullptr, true).ok());
}

TEST(ChatTemplate, Legacy) {
  std::vector<ChatMessage> messages = {{"user", "a", {}, ""}, {"assistant", "b", {}, ""}, {"tool", "c", {}, ""}};
  EXPECT_EQ(RenderChatMlLegacy(messages, true),
            "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>tool\nc<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(RenderChatMlLegacy(messages, false),
            "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>tool\nc<|im_end|>\n");
  EXPECT_EQ(RenderChatMlLegacy({}, true), "<|im_start|>assistant\n");
}

TEST(ChatTemplate, PythonStyleJson) {
  // Expected strings are Python's json.dumps(value, ensure_ascii=False).
  EXPECT_EQ(*ToJsonPythonStyle(OJson::parse(R"({"z": 1, "a": [1, 2.5, true, null, {}], "e": []})")),
            R"({"z": 1, "a": [1, 2.5, true, null, {}], "e": []})");
  EXPECT_EQ(*ToJsonPythonStyle(OJson("é\n\t\x01\x7f\"\\/")), "\"é\\n\\t\\u0001\x7f\\\"\\\\/\"");
  EXPECT_EQ(*ToJsonPythonStyle(OJson(1e-5)), "1e-05");
  EXPECT_EQ(*ToJsonPythonStyle(OJson(1.0)), "1.0");
  EXPECT_EQ(*ToJsonPythonStyle(OJson(1e16)), "1e+16");
  EXPECT_EQ(*ToJsonPythonStyle(OJson(-7)), "-7");
  EXPECT_EQ(*ToJsonPythonStyle(OJson("\xff")), "\"\xEF\xBF\xBD\"");  // invalid UTF-8 -> U+FFFD
}

TEST(ChatTemplate, DeepNestingIsAnErrorNotACrash) {
  // Built by the (iterative) parser: copying a deep value would itself recurse.
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_FALSE(ToJsonPythonStyle(OJson::parse(nested(100000))).ok());
  std::vector<ChatMessage> messages = {{"user", "x", {}, ""}};
  EXPECT_FALSE(RenderQwenChat(messages, OJson::parse(nested(100000)), true).ok());
  messages.push_back({"assistant", "", OJson::parse(R"([{"name": "f", "arguments": )" + nested(5000) + "}]"), ""});
  EXPECT_FALSE(RenderQwenChat(messages, nullptr, true).ok());
  EXPECT_TRUE(ToJsonPythonStyle(OJson::parse(nested(kMaxJsonDepth))).ok());
  EXPECT_FALSE(ToJsonPythonStyle(OJson::parse(nested(kMaxJsonDepth + 1))).ok());
}

}  // namespace
}  // namespace bastion
