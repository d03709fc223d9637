// Helpers shared by tests: where ../shared is, reading golden files.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>
#include <string>
#include <vector>

namespace bastion::testing {

// The shared/ data directory (golden logits, model files), or "" when it is not present.
// BASTION_SHARED in the environment overrides the path configured at build time.
inline std::string SharedDir() {
  std::string dir = BASTION_SHARED_DIR;
  if (const char* env = std::getenv("BASTION_SHARED")) dir = env;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir + "/golden", ec)) return "";
  return dir;
}

// Skips the current test when shared/ is absent, as on a user's fresh clone.
#define BASTION_REQUIRE_SHARED(var)                                          \
  const std::string var = ::bastion::testing::SharedDir();                    \
  if (var.empty()) GTEST_SKIP() << "../shared not present; golden test skipped"

inline std::string ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<float> ReadF32File(const std::string& path) {
  const std::string bytes = ReadFileToString(path);
  std::vector<float> out(bytes.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

// A fresh empty directory under the build tree for a test's files. The process id keeps tests
// that CTest runs in parallel (one process per test) out of each other's way.
inline std::string TempDir(const std::string& name) {
  std::string dir = std::string(BASTION_BINARY_DIR) + "/test-tmp/" + name + "-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace bastion::testing
