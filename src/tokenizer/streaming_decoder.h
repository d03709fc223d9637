// StreamingDecoder: turns generated token ids into text one token at a time without ever
// emitting a broken UTF-8 sequence. A byte-level BPE token can end in the middle of a character
// (an emoji is often split over two or three tokens), so trailing bytes that are a valid prefix
// of a longer sequence are held back until the next token completes them.
//
// Everything emitted is valid UTF-8: ill-formed bytes become U+FFFD (one per maximal subpart,
// unicode.h), and Flush() turns a held, never-completed prefix into one U+FFFD. The
// concatenation of all Push() results and Flush() equals Tokenizer::Decode of the same ids.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace bastion {

class StreamingDecoder {
 public:
  // `tokenizer` must outlive the decoder.
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool render_special = true);

  // Appends token `id` and returns the text that is now complete (possibly empty).
  std::string Push(int32_t id);
  // Returns whatever is held back (as U+FFFD, since it never completed) and resets.
  std::string Flush();

  // Bytes currently held back (0..3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer& tokenizer_;
  bool render_special_;
  std::string pending_;
};

}  // namespace bastion
