// Golden tests against llama.cpp / HF tokenizations of the full Qwen2.5 vocabulary:
// every vector of shared/golden/realvocab/tokenizer-{plain,special}.jsonl and every conversation
// of chat-template.json (both renders, text and ids). Skipped when shared/ is absent.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <sstream>

#include "qwen_files.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/streaming_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace bastion {
namespace {

using Json = nlohmann::json;

// One tokenizer for the whole binary: loading the JSON files takes a moment.
const Tokenizer* QwenTokenizer(const std::string& shared) {
  static std::unique_ptr<Tokenizer> tokenizer = [&] {
    TokenizerData data = testing::LoadQwenTokenizerData(shared);
    const auto start = std::chrono::steady_clock::now();
    auto result = Tokenizer::Create(std::move(data));
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    std::printf("Tokenizer::Create (151936 tokens, 151387 merges): %.1f ms\n", ms);
    if (!result.ok()) ADD_FAILURE() << result.error().message();
    return result.ok() ? std::move(result).value() : nullptr;
  }();
  return tokenizer.get();
}

std::string Show(const std::vector<int32_t>& ids) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < ids.size(); ++i) os << (i ? ", " : "") << ids[i];
  os << "]";
  return os.str();
}

std::vector<Json> ReadJsonl(const std::string& path) {
  std::vector<Json> out;
  std::istringstream in(testing::ReadFileToString(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(Json::parse(line));
  }
  return out;
}

// Checks every vector of one file; returns how many passed.
void CheckVectors(const std::string& file, bool expect_parse_special) {
  BASTION_REQUIRE_SHARED(shared);
  const Tokenizer* tok = QwenTokenizer(shared);
  ASSERT_NE(tok, nullptr);
  const std::vector<Json> cases = ReadJsonl(shared + "/golden/realvocab/" + file);
  ASSERT_FALSE(cases.empty());
  int passed = 0;
  for (const Json& c : cases) {
    const std::string text = c["text"].get<std::string>();
    const bool parse_special = c["parse_special"].get<bool>();
    EXPECT_EQ(parse_special, expect_parse_special);
    const auto expected = c["ids"].get<std::vector<int32_t>>();
    const std::vector<int32_t> ids = tok->Encode(text, parse_special, c["add_special"].get<bool>());
    bool ok = ids == expected;
    EXPECT_EQ(Show(ids), Show(expected)) << "text: " << Json(text).dump();

    // llama.cpp's detokenization is of its own ids; for the non-NFC inputs those are the raw
    // (un-normalized) ids, so Decode(ids) must give NFC(text) and Decode(raw ids) the text.
    const std::string detok = c["detokenized"].get<std::string>();
    if (c.contains("ids_llama_cpp_without_nfc")) {
      const auto raw_ids = c["ids_llama_cpp_without_nfc"].get<std::vector<int32_t>>();
      EXPECT_EQ(tok->Decode(raw_ids), detok) << Json(text).dump();
      EXPECT_EQ(tok->Decode(expected), NfcNormalize(text)) << Json(text).dump();
      ok = ok && tok->Decode(raw_ids) == detok;
    } else {
      EXPECT_EQ(tok->Decode(expected), detok) << Json(text).dump();
      ok = ok && tok->Decode(expected) == detok;
    }
    // The streaming decoder must agree with Decode.
    StreamingDecoder stream(*tok);
    std::string streamed;
    for (int32_t id : expected) streamed += stream.Push(id);
    streamed += stream.Flush();
    EXPECT_EQ(streamed, tok->Decode(expected));
    passed += ok;
  }
  std::printf("%s: %d/%zu vectors pass\n", file.c_str(), passed, cases.size());
}

TEST(TokenizerGolden, PlainVectors) { CheckVectors("tokenizer-plain.jsonl", false); }

TEST(TokenizerGolden, SpecialVectors) { CheckVectors("tokenizer-special.jsonl", true); }

TEST(TokenizerGolden, CreateIsFast) {
  BASTION_REQUIRE_SHARED(shared);
  TokenizerData data = testing::LoadQwenTokenizerData(shared);
  const auto start = std::chrono::steady_clock::now();
  auto result = Tokenizer::Create(std::move(data));
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(result.ok()) << result.error().message();
  std::printf("Tokenizer::Create: %.1f ms\n", ms);
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(ms, 1000.0);  // the target is well under 200 ms; 1 s leaves room for loaded CI hosts
#endif
}

TEST(TokenizerGolden, SpecialIds) {
  BASTION_REQUIRE_SHARED(shared);
  const Tokenizer* tok = QwenTokenizer(shared);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->n_vocab(), 151936);
  EXPECT_EQ(tok->FindToken("<|endoftext|>"), 151643);
  EXPECT_EQ(tok->FindToken("<|im_start|>"), 151644);
  EXPECT_EQ(tok->FindToken("<|im_end|>"), 151645);
  EXPECT_TRUE(tok->IsEndOfGeneration(151645));
  EXPECT_TRUE(tok->IsEndOfGeneration(151643));
  EXPECT_FALSE(tok->IsEndOfGeneration(151644));
  EXPECT_FALSE(tok->IsEndOfGeneration(198));
  EXPECT_EQ(tok->GetTokenType(151657), TokenType::kUserDefined);
  EXPECT_EQ(tok->GetTokenType(151659), TokenType::kControl);
  // Control tokens disappear without render_special; <tool_call> (USER_DEFINED) stays.
  const std::vector<int32_t> ids = {151644, 872, 151657, 151645};
  EXPECT_EQ(tok->Decode(ids, false), "user<tool_call>");
  EXPECT_EQ(tok->Decode(ids, true), "<|im_start|>user<tool_call><|im_end|>");
}

TEST(TokenizerGolden, StreamingSplitsEmoji) {
  BASTION_REQUIRE_SHARED(shared);
  const Tokenizer* tok = QwenTokenizer(shared);
  ASSERT_NE(tok, nullptr);
  // Byte tokens of U+1F999 (F0 9F A6 99), one byte per token.
  StreamingDecoder stream(*tok);
  std::string out;
  for (uint8_t b : {0xF0, 0x9F, 0xA6, 0x99}) {
    const auto id = tok->FindToken(BytesToByteLevel(std::string(1, static_cast<char>(b))));
    ASSERT_TRUE(id.has_value());
    const std::string piece = stream.Push(*id);
    if (b != 0x99) {
      EXPECT_EQ(piece, "");
    }
    out += piece;
  }
  EXPECT_EQ(out, "\xF0\x9F\xA6\x99");
  EXPECT_EQ(stream.Flush(), "");
}

TEST(TokenizerGolden, ChatTemplate) {
  BASTION_REQUIRE_SHARED(shared);
  const Tokenizer* tok = QwenTokenizer(shared);
  ASSERT_NE(tok, nullptr);
  const Json conversations =
      Json::parse(testing::ReadFileToString(shared + "/golden/realvocab/chat-template.json"));
  ASSERT_TRUE(conversations.is_array());
  ASSERT_FALSE(conversations.empty());
  int passed = 0;
  for (const Json& conv : conversations) {
    SCOPED_TRACE(conv["name"].get<std::string>());
    std::vector<ChatMessage> messages;
    for (const Json& m : conv["messages"]) {
      ChatMessage msg;
      msg.role = m["role"].get<std::string>();
      msg.content = m.value("content", "");
      if (m.contains("tool_calls")) msg.tool_calls = nlohmann::ordered_json::parse(m["tool_calls"].dump());
      messages.push_back(std::move(msg));
    }
    const nlohmann::ordered_json tools =
        conv.contains("tools") ? nlohmann::ordered_json::parse(conv["tools"].dump()) : nlohmann::ordered_json();
    const bool add_gen = conv["add_generation_prompt"].get<bool>();

    auto jinja = RenderQwenChat(messages, tools, add_gen);
    ASSERT_TRUE(jinja.ok()) << jinja.error().message();
    EXPECT_EQ(*jinja, conv["prompt_jinja"].get<std::string>());
    const auto jinja_ids = tok->Encode(*jinja, /*parse_special=*/true);
    EXPECT_EQ(Show(jinja_ids), Show(conv["ids_jinja"].get<std::vector<int32_t>>()));

    const std::string legacy = RenderChatMlLegacy(messages, add_gen);
    EXPECT_EQ(legacy, conv["prompt_llama_chat_apply_template"].get<std::string>());
    const auto legacy_ids = tok->Encode(legacy, /*parse_special=*/true);
    EXPECT_EQ(Show(legacy_ids), Show(conv["ids_llama_chat_apply_template"].get<std::vector<int32_t>>()));

    passed += *jinja == conv["prompt_jinja"].get<std::string>() &&
              jinja_ids == conv["ids_jinja"].get<std::vector<int32_t>>() &&
              legacy == conv["prompt_llama_chat_apply_template"].get<std::string>() &&
              legacy_ids == conv["ids_llama_chat_apply_template"].get<std::vector<int32_t>>();
  }
  std::printf("chat-template.json: %d/%zu conversations pass (both renders)\n", passed, conversations.size());
}

}  // namespace
}  // namespace bastion
