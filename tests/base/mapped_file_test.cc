// MappedFile in both residencies (same bytes, read-only, clear errors) and HugePageRegion.
#include "base/mapped_file.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/huge_page_region.h"

namespace bastion {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

class MappedFileTest : public ::testing::TestWithParam<FileResidency> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bastion-mapped-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  std::string dir_;
};

// A little over two huge pages, so the copy spans several of them and ends mid-page.
std::vector<uint8_t> PatternBytes() {
  std::vector<uint8_t> bytes(2 * kHugePage + 12345);
  uint32_t x = 12345;
  for (uint8_t& b : bytes) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return bytes;
}

TEST_P(MappedFileTest, GivesTheFileBytes) {
  const std::vector<uint8_t> bytes = PatternBytes();
  auto file = MappedFile::Open(Write("w.bin", bytes), GetParam());
  ASSERT_TRUE(file.ok()) << file.error().message();
  ASSERT_EQ((*file)->size(), bytes.size());
  EXPECT_EQ(std::vector<uint8_t>((*file)->data(), (*file)->data() + (*file)->size()), bytes);
  EXPECT_EQ((*file)->residency(), GetParam());
  if (GetParam() == FileResidency::kInMemory) {
    // Where THP can back it: the bytes start on a huge-page boundary.
    EXPECT_EQ(reinterpret_cast<uintptr_t>((*file)->data()) % kHugePage, 0u);
  }
  (*file)->AdviseWillNeed();  // harmless either way
}

TEST_P(MappedFileTest, EmptyFileIsEmpty) {
  auto file = MappedFile::Open(Write("empty.bin", {}), GetParam());
  ASSERT_TRUE(file.ok()) << file.error().message();
  EXPECT_EQ((*file)->size(), 0u);
  EXPECT_TRUE((*file)->bytes().empty());
}

TEST_P(MappedFileTest, ErrorsNameThePath) {
  auto missing = MappedFile::Open(dir_ + "/missing.gguf", GetParam());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("missing.gguf: cannot open"), std::string::npos)
      << missing.error().message();
  auto dir = MappedFile::Open(dir_, GetParam());
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message().find("not a regular file"), std::string::npos) << dir.error().message();
}

TEST_P(MappedFileTest, BytesAreReadOnly) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto file = MappedFile::Open(Write("ro.bin", PatternBytes()), GetParam());
  ASSERT_TRUE(file.ok());
  uint8_t* p = const_cast<uint8_t*>((*file)->data());
  EXPECT_DEATH({ *reinterpret_cast<volatile uint8_t*>(p + 100) = 1; }, "");
}

// Where the anonymous copy cannot be had (ENOMEM; here an address-space limit that leaves room
// for the file's mapping but not for the copy), Open maps the file instead of failing.
TEST_P(MappedFileTest, InMemoryFallsBackToMapping) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizers reserve address space; an RLIMIT_AS test cannot run under them";
#else
  if (GetParam() == FileResidency::kMapped) GTEST_SKIP() << "only the in-memory residency falls back";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const std::vector<uint8_t> bytes = PatternBytes();  // ~4 MiB: the copy needs ~8 MiB of space
  const std::string path = Write("big.bin", bytes);
  EXPECT_EXIT(
      {
        // Current address space + 6 MiB: the file mapping fits, the huge-page region does not.
        std::ifstream status("/proc/self/status");
        std::string line;
        long vm_kib = -1;
        while (std::getline(status, line)) {
          if (line.rfind("VmSize:", 0) == 0) vm_kib = std::stol(line.substr(7));
        }
        if (vm_kib < 0) std::_Exit(3);
        rlimit limit{};
        limit.rlim_cur = static_cast<rlim_t>(vm_kib + 6 * 1024) * 1024;
        limit.rlim_max = RLIM_INFINITY;
        if (::setrlimit(RLIMIT_AS, &limit) != 0) std::_Exit(4);
        auto file = MappedFile::Open(path, FileResidency::kInMemory);
        if (!file.ok()) std::_Exit(2);
        const bool same = std::equal(bytes.begin(), bytes.end(), (*file)->data());
        std::_Exit((*file)->residency() == FileResidency::kMapped && same ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
#endif
}

INSTANTIATE_TEST_SUITE_P(Residency, MappedFileTest,
                         ::testing::Values(FileResidency::kMapped, FileResidency::kInMemory),
                         [](const auto& info) {
                           return std::string(info.param == FileResidency::kMapped ? "Mapped" : "InMemory");
                         });

TEST(HugePageRegionTest, AlignedRoundedZeroedAndMovable) {
  HugePageRegion region(kHugePage + 1);
  ASSERT_NE(region.data(), nullptr) << "errno " << region.error();
  EXPECT_EQ(region.size(), 2 * kHugePage);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(region.data()) % kHugePage, 0u);
  for (size_t i = 0; i < region.size(); i += 4096) ASSERT_EQ(region.data()[i], 0) << i;
  region.data()[region.size() - 1] = 7;  // writable until made read-only
  uint8_t* const data = region.data();
  HugePageRegion moved = std::move(region);
  EXPECT_EQ(region.data(), nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  EXPECT_EQ(moved.data(), data);
  EXPECT_EQ(moved.data()[moved.size() - 1], 7);
  EXPECT_EQ(moved.MakeReadOnly(), 0);
}

TEST(HugePageRegionTest, ZeroBytesIsEmpty) {
  HugePageRegion region(0);
  EXPECT_EQ(region.data(), nullptr);
  EXPECT_EQ(region.size(), 0u);
  EXPECT_EQ(region.error(), 0);
}

TEST(HugePageRegionTest, ImpossibleSizeFailsWithErrno) {
  HugePageRegion region(size_t{1} << 62);  // far past any address space
  EXPECT_EQ(region.data(), nullptr);
  EXPECT_NE(region.error(), 0);
}

}  // namespace
}  // namespace bastion
