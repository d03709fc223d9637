// ThreadPool: spin-then-sleep workers for short, frequent parallel jobs.
#include "base/thread_pool.h"

#include <sched.h>

#include <algorithm>

#include "base/check.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BASTION_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define BASTION_CPU_RELAX() asm volatile("yield")
#else
#define BASTION_CPU_RELAX() ((void)0)
#endif

namespace bastion {
namespace {

// Up to a few hundred microseconds of spinning before sleeping: between the jobs of one forward pass
// the gap is far shorter, and between tokens or requests sleeping costs nothing that matters.
constexpr int kSpinIterations = 4000;

}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  workers_.reserve(n_threads_ - 1);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::Run(JobRef job) {
  if (n_threads_ == 1) {
    job(0);
    return;
  }
  job_ = &job;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  job(0);
  // Wait for the workers: spin first, then sleep on the counter.
  int spins = 0;
  for (;;) {
    const int left = pending_.load(std::memory_order_acquire);
    if (left == 0) break;
    if (++spins < kSpinIterations) {
      BASTION_CPU_RELAX();
    } else {
      pending_.wait(left, std::memory_order_acquire);
    }
  }
  job_ = nullptr;
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    uint64_t gen;
    while ((gen = generation_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        BASTION_CPU_RELAX();
      } else {
        generation_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = gen;
    if (stop_.load(std::memory_order_acquire)) return;
    (*job_)(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

std::pair<int64_t, int64_t> ThreadPool::Split(int64_t n, int i, int n_threads, int64_t align) {
  BASTION_CHECK(n_threads >= 1 && i >= 0 && i < n_threads && align >= 1);
  const int64_t units = (n + align - 1) / align;
  const int64_t per = units / n_threads;
  const int64_t extra = units % n_threads;
  const int64_t begin_units = i * per + std::min<int64_t>(i, extra);
  const int64_t end_units = begin_units + per + (i < extra ? 1 : 0);
  return {std::min(n, begin_units * align), std::min(n, end_units * align)};
}

int DefaultThreadCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

}  // namespace bastion
