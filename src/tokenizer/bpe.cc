// BPE tables (flat hash tables) and the merge loop: a doubly linked list of symbols plus a
// min-heap of candidate pairs, so a pre-token of n bytes costs O(n log n) even for pathological
// inputs (one huge letter run).
#include "tokenizer/bpe.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "base/check.h"

namespace bastion {

uint64_t TokenIndex::Hash(std::string_view text) {
  // FNV-1a with a final avalanche: token texts are short, and the high bits pick the tag.
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : text) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

void TokenIndex::Build(const std::vector<std::string>& tokens) {
  tokens_ = &tokens;
  // Load factor at most 3/4 (linear probing stays short; Qwen2's 151,665 tokens fill 58% of
  // 2^18 slots): resident memory counts on small machines.
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, tokens.size() * 4 / 3 + 1));
  slots_.assign(capacity, 0);
  mask_ = capacity - 1;
  for (size_t id = 0; id < tokens.size(); ++id) {
    const std::string& text = tokens[id];
    if (text.empty()) continue;
    const uint64_t h = Hash(text);
    const uint64_t tag = h & 0xffffffff00000000ull;
    size_t i = static_cast<size_t>(h & mask_);
    while (true) {
      const uint64_t slot = slots_[i];
      if (slot == 0) {
        slots_[i] = tag | (id + 1);
        break;
      }
      if ((slot & 0xffffffff00000000ull) == tag && tokens[(slot & 0xffffffffull) - 1] == text) break;  // dup
      i = (i + 1) & mask_;
    }
  }
}

int32_t TokenIndex::Find(std::string_view text) const {
  if (slots_.empty()) return -1;
  const uint64_t h = Hash(text);
  const uint64_t tag = h & 0xffffffff00000000ull;
  for (size_t i = static_cast<size_t>(h & mask_);; i = (i + 1) & mask_) {
    const uint64_t slot = slots_[i];
    if (slot == 0) return -1;
    if ((slot & 0xffffffff00000000ull) == tag) {
      const size_t id = (slot & 0xffffffffull) - 1;
      const std::string& candidate = (*tokens_)[id];
      if (candidate.size() == text.size() && std::memcmp(candidate.data(), text.data(), text.size()) == 0) {
        return static_cast<int32_t>(id);
      }
    }
  }
}

void BpeMerges::Reserve(size_t n) {
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, n * 4 / 3 + 1));  // load <= 3/4, as TokenIndex
  if (capacity > slots_.size()) Rehash(capacity);
}

void BpeMerges::Rehash(size_t capacity) {
  BASTION_CHECK(std::has_single_bit(capacity));
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{kEmpty, {0, 0}});
  shift_ = 64 - std::countr_zero(capacity);
  for (const Slot& s : old) {
    if (s.key == kEmpty) continue;
    size_t i = SlotOf(s.key);
    while (slots_[i].key != kEmpty) i = (i + 1) & (capacity - 1);
    slots_[i] = s;
  }
}

bool BpeMerges::Add(int32_t left, int32_t right, int32_t result) {
  BASTION_CHECK(left >= 0 && right >= 0);
  const int32_t rank = next_rank_++;
  if ((size_ + 1) * 4 > slots_.size() * 3) Rehash(std::max<size_t>(16, slots_.size() * 2));
  const uint64_t key = Key(left, right);
  size_t i = SlotOf(key);
  while (slots_[i].key != kEmpty) {
    if (slots_[i].key == key) return false;  // keep the earlier (lower) rank
    i = (i + 1) & (slots_.size() - 1);
  }
  slots_[i] = Slot{key, Merge{rank, result}};
  ++size_;
  return true;
}

namespace {

struct Symbol {
  int32_t id;    // -1 once merged into its left neighbour
  int32_t prev;  // index of the previous live symbol, -1 at the start
  int32_t next;  // index of the next live symbol, -1 at the end
};

struct Candidate {
  int32_t rank;
  int32_t left;  // index of the left symbol
  int32_t left_id;
  int32_t right_id;
};

// std heap functions build a max-heap; "greater" puts the lowest rank, then leftmost, on top.
struct CandidateAfter {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }
};

}  // namespace

void BpeMerges::Apply(std::vector<int32_t>& symbols, std::vector<int32_t>* out) const {
  const size_t n = symbols.size();
  if (n <= 1) {
    out->insert(out->end(), symbols.begin(), symbols.end());
    return;
  }
  // Short pre-tokens (almost all of them) merge faster by rescanning than with a heap.
  if (n <= 16) {
    while (symbols.size() > 1) {
      int32_t best_rank = -1;
      size_t best = 0;
      int32_t best_result = -1;
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        const Merge* m = Find(symbols[i], symbols[i + 1]);
        if (m != nullptr && (best_rank < 0 || m->rank < best_rank)) {
          best_rank = m->rank;
          best = i;
          best_result = m->result;
        }
      }
      if (best_rank < 0) break;
      symbols[best] = best_result;
      symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
    out->insert(out->end(), symbols.begin(), symbols.end());
    return;
  }

  std::vector<Symbol> syms(n);
  for (size_t i = 0; i < n; ++i) {
    syms[i] = {symbols[i], static_cast<int32_t>(i) - 1, i + 1 < n ? static_cast<int32_t>(i + 1) : -1};
  }
  std::vector<Candidate> heap;
  heap.reserve(n);
  const auto push = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    if (const Merge* m = Find(syms[left].id, syms[right].id)) {
      heap.push_back({m->rank, left, syms[left].id, syms[right].id});
      std::push_heap(heap.begin(), heap.end(), CandidateAfter{});
    }
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i), static_cast<int32_t>(i + 1));

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), CandidateAfter{});
    const Candidate c = heap.back();
    heap.pop_back();
    // Stale entries (a side was merged away since the pair was pushed) no longer match the ids.
    Symbol& left = syms[c.left];
    if (left.id != c.left_id || left.next < 0) continue;
    Symbol& right = syms[left.next];
    if (right.id != c.right_id) continue;
    left.id = Find(c.left_id, c.right_id)->result;
    right.id = -1;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.left;
    push(left.prev, c.left);
    push(c.left, left.next);
  }
  for (int32_t i = 0; i >= 0; i = syms[i].next) out->push_back(syms[i].id);
}

}  // namespace bastion
