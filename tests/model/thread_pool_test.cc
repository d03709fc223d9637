// ThreadPool: every index runs exactly once per job, many short jobs in a row, Split ranges.
#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace bastion {
namespace {

TEST(ThreadPool, EveryIndexOncePerJob) {
  for (int n : {1, 2, 3, 8}) {
    ThreadPool pool(n);
    std::vector<std::atomic<int>> hits(n);
    for (int job = 0; job < 2000; ++job) {
      pool.Parallel([&](int i) { hits[i].fetch_add(1); });
    }
    for (int i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 2000) << "threads " << n << " index " << i;
  }
}

TEST(ThreadPool, ResultsVisibleAfterRun) {
  ThreadPool pool(4);
  std::vector<int64_t> out(1000, 0);
  pool.Parallel([&](int i) {
    const auto [b, e] = ThreadPool::Split(1000, i, pool.size());
    for (int64_t k = b; k < e; ++k) out[k] = k * k;
  });
  for (int64_t k = 0; k < 1000; ++k) ASSERT_EQ(out[k], k * k);
}

TEST(ThreadPool, SplitCoversRangeWithAlignment) {
  for (int64_t n : {0, 1, 15, 16, 17, 100, 4864}) {
    for (int t : {1, 2, 3, 7}) {
      int64_t next = 0;
      for (int i = 0; i < t; ++i) {
        const auto [b, e] = ThreadPool::Split(n, i, t, 16);
        EXPECT_EQ(b, next);
        EXPECT_LE(b, e);
        if (e < n) {
          EXPECT_EQ(e % 16, 0);
        }
        next = e;
      }
      EXPECT_EQ(next, n);
    }
  }
}

}  // namespace
}  // namespace bastion
