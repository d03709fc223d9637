// Unicode helpers for the tokenizer: strict UTF-8 decoding with U+FFFD repair, NFC (utf8proc),
// the character classes the Qwen2 pre-tokenizer regex needs, and the GPT-2 byte<->unicode map.
//
// Invalid UTF-8 policy (one rule everywhere, encoder and decoders alike): every "maximal subpart"
// of an ill-formed sequence (Unicode 15, section 3.9, U+FFFD substitution of maximal subparts;
// the same rule as Python's errors="replace" and WHATWG) becomes one U+FFFD. Overlongs,
// surrogates (ED A0..BF) and code points above U+10FFFF are ill-formed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bastion {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

enum class Utf8Status : uint8_t {
  kValid,       // a complete well-formed sequence of `length` bytes encoding `code_point`
  kInvalid,     // an ill-formed maximal subpart of `length` (>= 1) bytes: one U+FFFD
  kIncomplete,  // the input ends inside a sequence whose bytes so far are a valid prefix
};

struct Utf8Step {
  Utf8Status status;
  uint32_t code_point;  // valid only for kValid
  size_t length;        // bytes consumed (kIncomplete: all of the input)
};

// Decodes the sequence at the start of `s`; `s` must be non-empty.
Utf8Step DecodeUtf8Step(std::string_view s);

// Appends the UTF-8 encoding of `cp` (<= U+10FFFF, not a surrogate) to `out`.
void AppendUtf8(uint32_t cp, std::string* out);

bool IsValidUtf8(std::string_view s);

// Returns `s` with every ill-formed maximal subpart (including a truncated sequence at the end)
// replaced by U+FFFD. Valid input is returned unchanged.
std::string SanitizeUtf8(std::string_view s);

// Unicode Normalization Form C of valid UTF-8 (ASCII fast path; utf8proc otherwise).
std::string NfcNormalize(std::string_view valid_utf8);

// Character classes of the Qwen2 pre-tokenizer regex. kWhitespace is regex `\s` (the Unicode
// White_Space property, which is what Oniguruma and llama.cpp use), kLetter `\p{L}`
// (Lu Ll Lt Lm Lo), kNumber `\p{N}` (Nd Nl No); everything else is kOther.
enum class CharClass : uint8_t { kOther, kLetter, kNumber, kWhitespace };
CharClass ClassifyCodePoint(uint32_t cp);

// GPT-2 byte-level mapping: each byte is shown as a printable code point so that token texts
// never contain spaces or control characters (0x20 ' ' -> U+0120 'Ġ', 0x0A -> U+010A 'Ċ').
uint32_t ByteToCodePoint(uint8_t byte);
// Inverse of ByteToCodePoint; -1 when `cp` is not the image of a byte.
int CodePointToByte(uint32_t cp);
// Maps raw bytes to their byte-level token text (UTF-8 of the mapped code points).
std::string BytesToByteLevel(std::string_view bytes);

}  // namespace bastion
