// KvCache: keys and values of every layer for a fixed number of sequence slots.
//
// Layout per (slot, layer), chosen so both attention products are plain gemm calls:
//   K: n_ctx rows of kv_dim values — row p holds the (roped) keys of position p for all KV heads,
//      so Q.K^T multiplies query rows against key rows.
//   V: kv_dim rows of n_ctx values (transposed, as llama.cpp stores it without flash attention),
//      so P.V multiplies probability rows against value rows.
// Values are F16 (llama.cpp's default; what the golden logits were made with) or F32.
// Memory comes from an anonymous mapping, so untouched context costs no resident memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/result.h"
#include "kernels/gemm.h"
#include "quant/types.h"

namespace bastion {

class KvCache {
 public:
  // type is kF16 or kF32. `level` picks the float conversion Store uses (the same values at every
  // level; the SIMD ones were 2% of a pp512 in the portable one).
  static Result<std::unique_ptr<KvCache>> Create(int n_layer, int kv_dim, int n_ctx, int n_slots,
                                                 GgmlType type, SimdLevel level = SimdLevel::kScalar);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  GgmlType type() const { return type_; }
  size_t elem_size() const { return elem_size_; }
  int n_ctx() const { return n_ctx_; }
  int n_slots() const { return n_slots_; }
  int kv_dim() const { return kv_dim_; }
  size_t total_bytes() const { return bytes_; }

  // Number of positions stored for a slot.
  int length(int slot) const { return lengths_[slot]; }
  void set_length(int slot, int n) { lengths_[slot] = n; }

  // Base of K rows for (slot, layer): row p at k_rows + p * k_row_bytes().
  uint8_t* k_rows(int slot, int layer) const;
  size_t k_row_bytes() const { return static_cast<size_t>(kv_dim_) * elem_size_; }
  // Base of V^T rows for (slot, layer): row d (0 <= d < kv_dim) at v_rows + d * v_row_bytes().
  uint8_t* v_rows(int slot, int layer) const;
  size_t v_row_bytes() const { return static_cast<size_t>(n_ctx_) * elem_size_; }

  // Stores the keys and values (kv_dim floats each) of position pos.
  void Store(int slot, int layer, int pos, const float* k, const float* v);

  // Copies the first n positions of one slot into another (prefix reuse).
  void CopyPrefix(int from_slot, int to_slot, int n);

 private:
  KvCache() = default;
  size_t layer_bytes() const { return 2 * static_cast<size_t>(n_ctx_) * kv_dim_ * elem_size_; }

  GgmlType type_ = GgmlType::kF16;
  size_t elem_size_ = 2;
  QuantizeActFn to_cache_ = nullptr;  // float row -> type_
  int n_layer_ = 0, kv_dim_ = 0, n_ctx_ = 0, n_slots_ = 0;
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
  std::vector<int> lengths_;
};

}  // namespace bastion
