// ThreadPool: a fixed set of worker threads that run one parallel job at a time.
//
// The forward pass issues a few hundred short parallel jobs per token, so dispatch latency
// matters more than generality: workers spin briefly on an atomic generation counter before
// sleeping (C++20 atomic wait = futex), and the caller runs share 0 of every job itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace bastion {

// A non-owning reference to a callable void(int thread_index): no allocation per job.
class JobRef {
 public:
  template <typename F>
  JobRef(F& f)  // NOLINT(google-explicit-constructor)
      : object_(&f), call_([](void* o, int i) { (*static_cast<F*>(o))(i); }) {}
  void operator()(int i) const { call_(object_, i); }

 private:
  void* object_;
  void (*call_)(void*, int);
};

class ThreadPool {
 public:
  // n_threads >= 1 counts the calling thread; n_threads - 1 workers are started.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs job(i) for every i in [0, size()) concurrently and returns when all have finished.
  // job(0) runs on the calling thread. Not reentrant: a job must not call Run.
  void Run(JobRef job);

  // Convenience: Run(fn) for any callable taking the thread index.
  template <typename F>
  void Parallel(F&& fn) {
    auto& ref = fn;
    Run(JobRef(ref));
  }

  // Splits [0, n) into size() contiguous ranges, each a multiple of `align` except the last,
  // and returns thread i's [begin, end).
  static std::pair<int64_t, int64_t> Split(int64_t n, int i, int n_threads, int64_t align = 1);

 private:
  void WorkerLoop(int index);

  const int n_threads_;
  std::vector<std::thread> workers_;
  // Incremented to publish a new job; workers wait for it to change.
  std::atomic<uint64_t> generation_{0};
  // Workers still running the current job.
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  JobRef* job_ = nullptr;  // valid while pending_ > 0
};

// Number of threads to use by default: the cores this process may run on.
int DefaultThreadCount();

}  // namespace bastion
