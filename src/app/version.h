// The version bastion reports (bastion --version, /api/version later).
#pragma once

namespace bastion {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace bastion
