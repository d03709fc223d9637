// A synthetic byte-level BPE vocabulary for synthetic models (see synth.h).
#pragma once

#include "gguf/gguf_writer.h"

namespace bastion {

// Writes tokenizer.ggml.* metadata for a vocabulary of exactly n_vocab tokens (n_vocab >= 512):
// the 256 byte tokens, letter-sequence merges, and the ChatML special tokens. With Qwen's full
// size (>= 151665 tokens) the 22 Qwen special tokens sit at their real ids (151643...), so chat
// formatting and end-of-generation handling work exactly as with the real tokenizer.
void AddSyntheticVocab(int n_vocab, GgufWriter* writer);

}  // namespace bastion
