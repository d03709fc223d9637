// StreamingDecoder: hold back an incomplete UTF-8 tail, repair ill-formed bytes.
#include "tokenizer/streaming_decoder.h"

#include "tokenizer/unicode.h"

namespace bastion {

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool render_special)
    : tokenizer_(tokenizer), render_special_(render_special) {}

std::string StreamingDecoder::Push(int32_t id) {
  pending_.append(tokenizer_.Piece(id, render_special_));
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const auto byte = static_cast<uint8_t>(pending_[i]);
    if (byte < 0x80) {
      out.push_back(static_cast<char>(byte));
      ++i;
      continue;
    }
    const Utf8Step step = DecodeUtf8Step(std::string_view(pending_).substr(i));
    if (step.status == Utf8Status::kIncomplete) break;  // wait for the next token
    if (step.status == Utf8Status::kValid) {
      out.append(pending_, i, step.length);
    } else {
      AppendUtf8(kReplacementChar, &out);
    }
    i += step.length;
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamingDecoder::Flush() {
  std::string out = SanitizeUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace bastion
