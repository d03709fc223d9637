// The process's peak resident memory so far (Linux VmHWM), for benchmarks that report memory
// next to speed. Returns 0 where the figure is unavailable.
#pragma once

#include <cstdint>

namespace bastion {

int64_t PeakResidentBytes();

}  // namespace bastion
