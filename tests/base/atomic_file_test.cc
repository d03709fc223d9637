#include "base/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

namespace bastion {
namespace {

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bastion-atomic-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(AtomicFileTest, WritesReplacesAndKeepsMode) {
  const std::string path = dir_ + "/key.pem";
  ASSERT_TRUE(WriteFileAtomic(path, "first", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(path, "second", 0600).ok());
  auto content = ReadFile(path);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "second");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // No temporary files are left behind.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(AtomicFileTest, ModeIsExactWhateverTheUmask) {
  const mode_t old = ::umask(0);
  const std::string path = dir_ + "/k";
  const Status s = WriteFileAtomic(path, "x", 0600);
  ::umask(old);
  ASSERT_TRUE(s.ok());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AtomicFileTest, ErrorsNameThePath) {
  const Status s = WriteFileAtomic(dir_ + "/missing/dir/f", "x");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("missing/dir"), std::string::npos);
  auto r = ReadFile(dir_ + "/nope");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("nope"), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/big", std::string(100, 'x')).ok());
  EXPECT_FALSE(ReadFile(dir_ + "/big", 10).ok());
}

TEST_F(AtomicFileTest, MakeDirectories) {
  ASSERT_TRUE(MakeDirectories(dir_ + "/a/b/c").ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/a/b/c"));
  ASSERT_TRUE(MakeDirectories(dir_ + "/a/b/c").ok());  // idempotent
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/file", "x").ok());
  EXPECT_FALSE(MakeDirectories(dir_ + "/file").ok());
}

TEST_F(AtomicFileTest, LockExcludesAnotherHolderUntilReleased) {
  const std::string path = dir_ + "/lock";
  auto first = FileLock::Acquire(path, std::chrono::milliseconds(0));
  ASSERT_TRUE(first.ok());
  // flock locks belong to the open file description, so a second open in this process contends
  // exactly like another process would.
  auto second = FileLock::Acquire(path, std::chrono::milliseconds(50));
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message().find("locked"), std::string::npos);
  std::thread release([lock = std::move(*first)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    FileLock gone = std::move(lock);
  });
  auto third = FileLock::Acquire(path, std::chrono::seconds(5));
  release.join();
  EXPECT_TRUE(third.ok());
}

}  // namespace
}  // namespace bastion
