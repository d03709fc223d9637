// Hand-written matcher for the Qwen2 pre-tokenizer regex (see pretokenizer.h).
//
// At each position the alternatives are tried in order and the first that matches wins, as in a
// backtracking regex engine. What each alternative matches at position i, with c = char i:
//   1  '(s|t|re|ve|m|ll|d)     ASCII case-insensitive contraction starting with an apostrophe.
//   2  [^\r\n\p{L}\p{N}]?\p{L}+ a letter run, optionally led by one char that is not CR/LF, a
//                               letter or a number (so " hello", "\thello", "$x" are one piece).
//   3  \p{N}                   a single number char (Qwen2 splits digits one by one).
//   4  ' '?[^\s\p{L}\p{N}]+[\r\n]*  a run of "other" chars, optionally led by one U+0020, then any
//                               CR/LF run.
//   5  \s*[\r\n]+              the whitespace run starting at i, cut after its LAST CR/LF (greedy
//                               \s* backs off until [\r\n]+ can match).
//   6  \s+(?!\S)               the whitespace run to the end of text; otherwise the run minus its
//                               last char (so that char can lead the next word via alternative 2),
//                               which needs a run of at least two.
//   7  \s+                     the remaining case: a single whitespace char before a non-space.
#include "tokenizer/pretokenizer.h"

#include <cstdint>

#include "base/check.h"
#include "tokenizer/unicode.h"

namespace bastion {
namespace {

struct Cp {
  uint32_t cp;
  CharClass cls;
  size_t offset;  // byte offset in the text
};

bool IsCrLf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

uint32_t AsciiLower(uint32_t cp) { return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp; }

// Length (in code points) of the contraction at i, or 0.
size_t MatchContraction(const std::vector<Cp>& cps, size_t i) {
  const size_t n = cps.size();
  if (cps[i].cp != '\'' || i + 1 >= n) return 0;
  const uint32_t c1 = AsciiLower(cps[i + 1].cp);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (i + 2 >= n) return 0;
  const uint32_t c2 = AsciiLower(cps[i + 2].cp);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

// End (exclusive) of the piece that starts at i.
size_t MatchAt(const std::vector<Cp>& cps, size_t i) {
  const size_t n = cps.size();
  const auto cls = [&](size_t k) { return cps[k].cls; };
  const auto run_end = [&](size_t k, CharClass c) {
    while (k < n && cls(k) == c) ++k;
    return k;
  };

  // 1: contractions.
  if (const size_t len = MatchContraction(cps, i); len != 0) return i + len;

  const CharClass c = cls(i);
  // 2: letters, optionally led by one non-CR/LF non-letter non-number char.
  if (c == CharClass::kLetter) return run_end(i, CharClass::kLetter);
  if (c != CharClass::kNumber && !IsCrLf(cps[i].cp) && i + 1 < n && cls(i + 1) == CharClass::kLetter) {
    return run_end(i + 1, CharClass::kLetter);
  }
  // 3: one number char.
  if (c == CharClass::kNumber) return i + 1;
  // 4: " ?" + run of other chars + CR/LF run.
  size_t j = i;
  if (cps[i].cp == ' ' && i + 1 < n && cls(i + 1) == CharClass::kOther) j = i + 1;
  if (cls(j) == CharClass::kOther) {
    size_t k = run_end(j, CharClass::kOther);
    while (k < n && IsCrLf(cps[k].cp)) ++k;
    return k;
  }
  // Only whitespace is left: every non-whitespace char was handled above.
  BASTION_CHECK(c == CharClass::kWhitespace);
  const size_t q = run_end(i, CharClass::kWhitespace);
  // 5: cut after the last CR/LF of the run.
  for (size_t k = q; k > i; --k) {
    if (IsCrLf(cps[k - 1].cp)) return k;
  }
  // 6: whole run at end of text, else all but its last char.
  if (q == n) return q;
  if (q - i >= 2) return q - 1;
  // 7: a single whitespace char.
  return i + 1;
}

}  // namespace

void PreTokenizeQwen2(std::string_view text, std::vector<std::string_view>* out) {
  if (text.empty()) return;
  std::vector<Cp> cps;
  cps.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Step step = DecodeUtf8Step(text.substr(pos));
    BASTION_CHECK_MSG(step.status == Utf8Status::kValid, "pre-tokenizer input must be valid UTF-8");
    cps.push_back({step.code_point, ClassifyCodePoint(step.code_point), pos});
    pos += step.length;
  }
  const size_t n = cps.size();
  size_t i = 0;
  while (i < n) {
    const size_t end = MatchAt(cps, i);
    BASTION_CHECK(end > i && end <= n);
    const size_t begin_byte = cps[i].offset;
    const size_t end_byte = end < n ? cps[end].offset : text.size();
    out->push_back(text.substr(begin_byte, end_byte - begin_byte));
    i = end;
  }
}

std::vector<std::string_view> PreTokenizeQwen2(std::string_view text) {
  std::vector<std::string_view> out;
  PreTokenizeQwen2(text, &out);
  return out;
}

}  // namespace bastion
