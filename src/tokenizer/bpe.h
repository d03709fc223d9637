// The byte-level BPE tables: token text -> id index, the merge table, and the merge loop that
// turns one pre-token into token ids. Both tables are flat open-addressing hash tables: building
// them for Qwen's 151,936 tokens and 151,387 merges is most of Tokenizer::Create, and node-based
// std::unordered_map costs about twice as many cache misses per lookup.
//
// Symbols are token ids from the start: a pre-token begins as one id per byte (the token whose
// text is that byte's GPT-2 character), and a merge (left, right) -> result replaces two adjacent
// ids by one. Keying merges by id pairs avoids building strings in the hot loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bastion {

// Token text -> id over a token list that must outlive the index and not change.
class TokenIndex {
 public:
  // Indexes every non-empty token; on duplicate texts the lowest id wins.
  void Build(const std::vector<std::string>& tokens);
  // The id of `text`, or -1.
  int32_t Find(std::string_view text) const;

 private:
  static uint64_t Hash(std::string_view text);

  const std::vector<std::string>* tokens_ = nullptr;
  std::vector<uint64_t> slots_;  // (hash >> 32) << 32 | (id + 1); 0 = empty
  uint64_t mask_ = 0;
};

class BpeMerges {
 public:
  // Registers the merge of `left` followed by `right` into `result`, with rank = the number of
  // merges added before it (merges.txt order: lower rank merges first). Returns false, and keeps
  // the earlier rank, when the pair was already present.
  bool Add(int32_t left, int32_t right, int32_t result);

  size_t size() const { return size_; }
  // Sizes the table for `n` merges (it also grows on demand).
  void Reserve(size_t n);

  // Merges `symbols` (initial ids of one pre-token, in order) to completion and appends the final
  // ids to `out`. The lowest-rank adjacent pair is merged first; among equal ranks (the same
  // pair occurring more than once) the leftmost first, as in GPT-2, HF tokenizers and llama.cpp.
  // `symbols` is used as scratch space.
  void Apply(std::vector<int32_t>& symbols, std::vector<int32_t>* out) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  struct Slot {
    uint64_t key;  // kEmpty or Key(left, right)
    Merge merge;
  };
  // Ids are non-negative, so no real pair has both halves 0xffffffff.
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  static uint64_t Key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  size_t SlotOf(uint64_t key) const {
    return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
  }
  const Merge* Find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = Key(left, right);
    for (size_t i = SlotOf(key);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i].key == key) return &slots_[i].merge;
      if (slots_[i].key == kEmpty) return nullptr;
    }
  }
  void Rehash(size_t capacity);

  std::vector<Slot> slots_;  // power-of-two size, at most half full
  int shift_ = 64;
  size_t size_ = 0;
  int32_t next_rank_ = 0;
};

}  // namespace bastion
