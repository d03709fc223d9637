// KvCache: anonymous-mapped storage for keys (row per position) and values (transposed).
#include "model/kv_cache.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "base/check.h"

namespace bastion {

Result<std::unique_ptr<KvCache>> KvCache::Create(int n_layer, int kv_dim, int n_ctx, int n_slots,
                                                 GgmlType type, SimdLevel level) {
  if (type != GgmlType::kF16 && type != GgmlType::kF32) {
    return Error(std::string("KV cache type must be F16 or F32, got ") + TypeName(type));
  }
  if (n_layer <= 0 || kv_dim <= 0 || n_ctx <= 0 || n_slots <= 0) {
    return Error("KV cache dimensions must be positive");
  }
  auto cache = std::unique_ptr<KvCache>(new KvCache());
  cache->type_ = type;
  cache->elem_size_ = type == GgmlType::kF16 ? 2 : 4;
  cache->to_cache_ = GetQuantizeAct(type, level);
  cache->n_layer_ = n_layer;
  cache->kv_dim_ = kv_dim;
  cache->n_ctx_ = n_ctx;
  cache->n_slots_ = n_slots;
  cache->lengths_.assign(n_slots, 0);
  cache->bytes_ = cache->layer_bytes() * n_layer * n_slots;
  void* p = ::mmap(nullptr, cache->bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return Error("cannot allocate " + std::to_string(cache->bytes_ >> 20) + " MiB for the KV cache: " +
                 std::strerror(errno));
  }
  cache->base_ = static_cast<uint8_t*>(p);
  return cache;
}

KvCache::~KvCache() {
  if (base_ != nullptr) ::munmap(base_, bytes_);
}

uint8_t* KvCache::k_rows(int slot, int layer) const {
  BASTION_CHECK(slot >= 0 && slot < n_slots_ && layer >= 0 && layer < n_layer_);
  return base_ + (static_cast<size_t>(slot) * n_layer_ + layer) * layer_bytes();
}

uint8_t* KvCache::v_rows(int slot, int layer) const {
  return k_rows(slot, layer) + layer_bytes() / 2;
}

void KvCache::Store(int slot, int layer, int pos, const float* k, const float* v) {
  BASTION_CHECK(pos >= 0 && pos < n_ctx_);
  uint8_t* krow = k_rows(slot, layer) + static_cast<size_t>(pos) * k_row_bytes();
  uint8_t* vcol = v_rows(slot, layer) + static_cast<size_t>(pos) * elem_size_;
  const size_t vstride = v_row_bytes();
  to_cache_(k, krow, kv_dim_);
  // V is stored transposed: convert the row once, then one element per V^T row.
  thread_local std::vector<uint8_t> converted;
  if (converted.size() < k_row_bytes()) converted.resize(k_row_bytes());
  to_cache_(v, converted.data(), kv_dim_);
  auto scatter = [&]<size_t kSize>() {
    for (int d = 0; d < kv_dim_; ++d) std::memcpy(vcol + d * vstride, converted.data() + d * kSize, kSize);
  };
  if (elem_size_ == 2) {
    scatter.operator()<2>();
  } else {
    scatter.operator()<4>();
  }
}

void KvCache::CopyPrefix(int from_slot, int to_slot, int n) {
  BASTION_CHECK(n >= 0 && n <= n_ctx_);
  if (from_slot == to_slot || n == 0) return;
  for (int l = 0; l < n_layer_; ++l) {
    std::memcpy(k_rows(to_slot, l), k_rows(from_slot, l), static_cast<size_t>(n) * k_row_bytes());
    const uint8_t* src = v_rows(from_slot, l);
    uint8_t* dst = v_rows(to_slot, l);
    for (int d = 0; d < kv_dim_; ++d) {
      std::memcpy(dst + d * v_row_bytes(), src + d * v_row_bytes(), static_cast<size_t>(n) * elem_size_);
    }
  }
}

}  // namespace bastion
