// libFuzzer target for src/tokenizer: Encode (with and without special-token parsing), Decode,
// the streaming decoder and the chat template, on a small built-in vocabulary (no shared files).
//
// Input: byte 0 selects options, the rest is the text (or, for the id-stream mode, token ids).
// Invariants checked (a failure aborts, which libFuzzer reports):
//   * every id Encode returns is in range, and Encode is deterministic;
//   * Decode always returns valid UTF-8, and equals the concatenated StreamingDecoder output,
//     each Push() of which is valid UTF-8;
//   * round trip: NFC(Decode(Encode(x))) == NFC(Sanitize(x)), and, when no special token was
//     matched, Decode(Encode(x)) == NFC(Sanitize(x)) exactly (special tokens split the text
//     before normalization, so NFC may not compose across them);
//   * the pre-tokenizer's pieces are non-empty and concatenate to its input;
//   * the chat template never crashes on arbitrary tool JSON.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tokenizer/chat_template.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/streaming_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

using bastion::Tokenizer;

#define FUZZ_CHECK(cond)                                             \
  do {                                                               \
    if (!(cond)) {                                                   \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s\n", #cond);   \
      std::abort();                                                  \
    }                                                                \
  } while (0)

// 256 byte tokens, merges that build common English pieces and a few multi-byte fragments
// (so tokens end mid-character), and special tokens of every matching kind.
std::unique_ptr<Tokenizer> MakeTokenizer() {
  bastion::TokenizerData d;
  d.model = "gpt2";
  d.pre = "qwen2";
  for (int b = 0; b < 256; ++b) {
    d.tokens.push_back(bastion::BytesToByteLevel(std::string(1, static_cast<char>(b))));
    d.token_types.push_back(1);
  }
  const char* const kMerges[] = {
      "Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "Ġt he", "e r", "Ġ s", "a t", "Ġ w", "Ġ o", "e n", "Ġ c",
      "i t", "i s", "a n", "o r", "e s", "Ġ b", "e d", "Ġ f", "in g", "Ġ p", "o u", "Ġa n", "a l", "a r",
      "Ġt o", "Ġ m", "Ġo f", "Ġ in", "Ġ d", "Ġ h", "Ġan d", "i c", "a s", "l e", "Ġt h", "i on", "o m",
      "l l", "en t", "Ġ n", "Ġ l", "s t", "Ġ re", "v e", "Ġ e", "r o", "l y", "Ġb e", "Ġ g", "Ġ T", "c t",
      "Ġ S", "i d", "o t", "Ġ I", "u t", "e t", "Ġ A", "Ġ is", "Ġ on", "i m", "a m", "o w", "a y", "a d",
      "s e", "Ġth at", "Ġ C", "i g", "Ġf or", "a c", "Ġ y", "v er", "u r", "Ġ u", "l d", "Ġs t", "Ġ M",
      "' s", "Ġ he", "Ġ it", "at ion", "it h", "i r", "c e", "Ġy ou", "i l", "Ġ B", "Ġw h", "o l", "Ġ P",
      "Ġw ith", "Ġ 1", "t er", "c h", "Ġa s", "Ġw e", "Ġ (", "n d", "i ll", "Ġ D", "i f", "Ġ 2", "a g",
      "er s", "k e", "Ġ \"", "Ġ H", "e m", "Ġc on", "Ġ W", "Ġ R", "he r", "Ġw as", "Ġ r", "o d", "Ġ F",
      "u l", "at e", "Ġa t", "r i", "p p", "o re", "ĠT he", "Ġs e", "u s", "Ġp ro", "Ġh a", "u m", "Ġa re",
      "Ġd e", "a in", "an d", "Ġo r", "ig h", "es t", "is t", "a b", "r om", "Ġ N", "t h", "Ġc om", "Ġ G",
      "u n", "o p", "0 0", "Ġ L", "Ġn ot", "es s", "Ġe x", "Ġ v", "re s", "Ġ E", "e w", "it y", "an t",
      "Ġb y", "e l", "o s", "or t", "o c", "q u", "Ġf rom", "Ġh ave", "Ġs u", "i ve", "ou ld", "Ġs h",
      "Ġth is", "n t", "r a", "p e", "igh t", "ar t", "m ent", "Ġa l", "u st", "en d", "- -", "Ċ Ċ", "Ġ Ġ",
      "ĠĠ ĠĠ", "ð Ł", "ðŁ ĺ", "ä ½", "å ¥", "ä½ ł", "å¥ ½", "Ã ©", "Ã ¼", "Ġ ðŁ", "ï ¼", "ï¼ Į",
  };
  // Merges whose halves are not tokens yet are skipped, so the list need not be ordered with care.
  std::set<std::string> known(d.tokens.begin(), d.tokens.end());
  for (const char* merge : kMerges) {
    const std::string m = merge;
    const size_t space = m.find(' ');
    const std::string left = m.substr(0, space), right = m.substr(space + 1);
    if (!known.count(left) || !known.count(right)) continue;
    d.merges.push_back(m);
    if (known.insert(left + right).second) {
      d.tokens.push_back(left + right);
      d.token_types.push_back(1);
    }
  }
  const std::pair<const char*, bastion::TokenType> kSpecials[] = {
      {"<|endoftext|>", bastion::TokenType::kControl}, {"<|im_start|>", bastion::TokenType::kControl},
      {"<|im_end|>", bastion::TokenType::kControl},    {"<|im", bastion::TokenType::kControl},
      {"<tool_call>", bastion::TokenType::kUserDefined}, {"</tool_call>", bastion::TokenType::kUserDefined},
      {"\xCC\x81x", bastion::TokenType::kUserDefined},  // starts with a combining mark
      {"[PAD]", bastion::TokenType::kUnused},
  };
  for (const auto& [text, type] : kSpecials) {
    d.tokens.push_back(text);
    d.token_types.push_back(static_cast<int32_t>(type));
  }
  d.eos_id = static_cast<int32_t>(d.tokens.size()) - 6;  // <|im_end|>
  auto t = Tokenizer::Create(std::move(d));
  if (!t.ok()) std::fprintf(stderr, "%s\n", t.error().message().c_str());
  FUZZ_CHECK(t.ok());
  return std::move(t).value();
}

const Tokenizer& GetTokenizer() {
  static const std::unique_ptr<Tokenizer> tokenizer = MakeTokenizer();
  return *tokenizer;
}

bool HasSpecial(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  for (int32_t id : ids) {
    if (tok.GetTokenType(id) != bastion::TokenType::kNormal) return true;
  }
  return false;
}

void CheckStreaming(const Tokenizer& tok, const std::vector<int32_t>& ids, bool render_special) {
  bastion::StreamingDecoder stream(tok, render_special);
  std::string all;
  for (int32_t id : ids) {
    const std::string piece = stream.Push(id);
    FUZZ_CHECK(bastion::IsValidUtf8(piece));
    FUZZ_CHECK(stream.pending_bytes() <= 3);
    all += piece;
  }
  const std::string tail = stream.Flush();
  FUZZ_CHECK(bastion::IsValidUtf8(tail));
  all += tail;
  FUZZ_CHECK(all == tok.Decode(ids, render_special));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Tokenizer& tok = GetTokenizer();
  const uint8_t flags = data[0];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool parse_special = flags & 1;
  const bool render_special = flags & 2;

  switch ((flags >> 2) % 4) {
    case 0:
    case 1: {  // encode / decode round trip
      const std::vector<int32_t> ids = tok.Encode(text, parse_special);
      for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < tok.n_vocab());
      FUZZ_CHECK(ids == tok.Encode(text, parse_special));
      const std::string decoded = tok.Decode(ids, /*render_special=*/true);
      FUZZ_CHECK(bastion::IsValidUtf8(decoded));
      const std::string expected = bastion::NfcNormalize(bastion::SanitizeUtf8(text));
      FUZZ_CHECK(bastion::NfcNormalize(decoded) == expected);
      if (!HasSpecial(tok, ids)) FUZZ_CHECK(decoded == expected);
      CheckStreaming(tok, ids, render_special);
      break;
    }
    case 2: {  // arbitrary id streams through both decoders
      std::vector<int32_t> ids;
      for (size_t i = 0; i + 1 < text.size(); i += 2) {
        const int32_t raw = static_cast<uint8_t>(text[i]) | (static_cast<uint8_t>(text[i + 1]) << 8);
        ids.push_back(raw % (tok.n_vocab() + 4) - 2);  // a few out-of-range ids too
      }
      FUZZ_CHECK(bastion::IsValidUtf8(tok.Decode(ids, render_special)));
      CheckStreaming(tok, ids, render_special);
      break;
    }
    case 3: {  // pre-tokenizer on repaired text, and the chat template on arbitrary JSON
      const std::string valid = bastion::SanitizeUtf8(text);
      std::string joined;
      for (std::string_view piece : bastion::PreTokenizeQwen2(valid)) {
        FUZZ_CHECK(!piece.empty());
        joined += piece;
      }
      FUZZ_CHECK(joined == valid);
      const auto json = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (!json.is_discarded()) {
        std::vector<bastion::ChatMessage> messages(2);
        messages[0] = {"user", valid, nullptr, ""};
        messages[1] = {"assistant", "", json, ""};
        (void)bastion::RenderQwenChat(messages, json, parse_special);
        (void)bastion::RenderQwenChat(messages, nullptr, parse_special);
        (void)bastion::ToJsonPythonStyle(json);
      }
      break;
    }
  }
  return 0;
}
