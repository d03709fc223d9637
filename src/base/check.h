// BASTION_CHECK: invariants whose failure is a bug in bastion, not bad input.
// Stays on in release builds and aborts with file:line so a bug is never silent.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace bastion::internal {
[[noreturn]] inline void CheckFailed(const char* file, int line, const char* expr, const char* msg) {
  std::fprintf(stderr, "%s:%d: CHECK failed: %s%s%s\n", file, line, expr, msg[0] ? ": " : "", msg);
  std::fflush(stderr);
  std::abort();
}
}  // namespace bastion::internal

#define BASTION_CHECK(cond)                                                     \
  do {                                                                          \
    if (__builtin_expect(!(cond), 0))                                           \
      ::bastion::internal::CheckFailed(__FILE__, __LINE__, #cond, "");          \
  } while (0)

#define BASTION_CHECK_MSG(cond, msg)                                            \
  do {                                                                          \
    if (__builtin_expect(!(cond), 0))                                           \
      ::bastion::internal::CheckFailed(__FILE__, __LINE__, #cond, (msg));       \
  } while (0)
