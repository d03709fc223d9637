// Tokenizer: Qwen2 byte-level BPE (GPT-2 byte map, NFC, Qwen2 pre-tokenizer regex) with special
// tokens, built from plain vocabulary data (the GGUF tokenizer.ggml.* keys adapted by the loader).
//
// Encode pipeline, matching HF's Qwen2 tokenizer (and llama.cpp where they agree):
//   1. invalid UTF-8 -> U+FFFD per ill-formed maximal subpart (see unicode.h);
//   2. split out special tokens: USER_DEFINED always, CONTROL/UNKNOWN only with parse_special;
//      longer token texts are split out first (llama.cpp's order), each occurrence left to right;
//   3. each remaining fragment: NFC, Qwen2 pre-tokenizer, byte-level BPE merges.
// NFC is applied per fragment, after special tokens are split out, as HF does for added tokens
// with normalized=false: "<|im_end|>" followed by U+0338 still matches the special token.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "tokenizer/bpe.h"

namespace bastion {

// llama.cpp / GGUF token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct TokenizerData {
  std::string model;                 // tokenizer.ggml.model; must be "gpt2" (byte-level BPE)
  std::string pre;                   // tokenizer.ggml.pre; "qwen2" (or an alias with the same regex)
  std::vector<std::string> tokens;   // id -> token text (GPT-2 byte-level form for NORMAL tokens)
  std::vector<int32_t> token_types;  // TokenType values; empty = all NORMAL
  std::vector<std::string> merges;   // "left right" in rank order
  int32_t bos_id = -1, eos_id = -1, eot_id = -1, pad_id = -1;  // -1 = none
  bool add_bos = false;
};

// Immutable once created: every method is const and safe to call from several threads at once.
class Tokenizer {
 public:
  // Validates `data` (model and pre-tokenizer names, type values, special ids in range, every byte
  // representable, every merge "a b" naming tokens a, b and a+b) and builds the lookup tables.
  static Result<std::unique_ptr<Tokenizer>> Create(TokenizerData data);

  // Text -> ids (see the pipeline above). Never fails: any byte string has a tokenization.
  // add_special prepends bos when the vocabulary asks for it (add_bos; false for Qwen).
  std::vector<int32_t> Encode(std::string_view text, bool parse_special, bool add_special = false) const;

  // The bytes a token stands for: byte-level decoded for NORMAL tokens, "<0xXX>" BYTE tokens as
  // that byte, the text itself for every other type. May be a fragment of a UTF-8 sequence.
  std::string TokenBytes(int32_t id) const;
  // What Decode emits for `id`: TokenBytes, except that CONTROL, UNKNOWN and UNUSED tokens are
  // empty unless render_special (USER_DEFINED tokens such as <tool_call> are always rendered, as
  // in llama.cpp). Out-of-range ids give "".
  std::string_view Piece(int32_t id, bool render_special) const;
  // Concatenated pieces with ill-formed UTF-8 repaired to U+FFFD, so the result is always valid
  // UTF-8 (the same text a StreamingDecoder produces for the same ids). Out-of-range ids are
  // skipped.
  std::string Decode(std::span<const int32_t> ids, bool render_special = true) const;

  // eos, eot, and <|im_end|> / <|endoftext|> when the vocabulary has them.
  bool IsEndOfGeneration(int32_t id) const;
  const std::vector<int32_t>& end_of_generation_ids() const { return eog_ids_; }

  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }
  std::optional<int32_t> FindToken(std::string_view text) const;
  // Token text as stored (byte-level form); `id` must be in range.
  const std::string& TokenText(int32_t id) const;
  TokenType GetTokenType(int32_t id) const;

  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }
  int32_t eot_id() const { return eot_id_; }
  int32_t pad_id() const { return pad_id_; }
  bool add_bos() const { return add_bos_; }

 private:
  Tokenizer() = default;
  Status Build(TokenizerData data);
  // Steps 3 of the pipeline for one fragment of valid UTF-8 with no special tokens in it.
  void EncodeFragment(std::string_view text, std::vector<int32_t>* out) const;

  struct SpecialToken {
    std::string_view text;
    int32_t id;
    bool always;  // USER_DEFINED: matched even without parse_special
  };

  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  TokenIndex text_to_id_;  // over tokens_
  int32_t byte_to_id_[256] = {};
  BpeMerges merges_;
  std::vector<SpecialToken> specials_;  // longest text first
  std::string piece_data_;              // TokenBytes of every token, concatenated
  std::vector<size_t> piece_offsets_;   // n_vocab + 1 offsets into piece_data_
  std::vector<int32_t> eog_ids_;
  int32_t bos_id_ = -1, eos_id_ = -1, eot_id_ = -1, pad_id_ = -1;
  bool add_bos_ = false;
};

}  // namespace bastion
