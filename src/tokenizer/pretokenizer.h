// The Qwen2 pre-tokenizer: splits normalized text into the pieces that BPE runs on, exactly as
// the regex
//   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//   \s*[\r\n]+|\s+(?!\S)|\s+
// would (leftmost-first alternation, greedy quantifiers with backtracking), written by hand over
// code points so that no regex engine is needed.
#pragma once

#include <string_view>
#include <vector>

namespace bastion {

// Splits valid UTF-8 `text` into consecutive non-empty pieces whose concatenation is `text`.
// Every position matches some alternative of the regex, so nothing is ever dropped.
// The views point into `text`.
std::vector<std::string_view> PreTokenizeQwen2(std::string_view text);

// The same, appending to `out` (lets the encoder reuse one vector).
void PreTokenizeQwen2(std::string_view text, std::vector<std::string_view>* out);

}  // namespace bastion
