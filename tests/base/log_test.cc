#include "base/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "base/atomic_file.h"

namespace bastion::log {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bastion-log-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    ASSERT_TRUE(Configure(Options{}).ok());  // back to stderr, info
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

TEST(LogFormatTest, LineHasUtcTimeLevelComponentAndMessage) {
  // 2026-11-26T10:34:31.123Z
  const int64_t ms = 1795689271123;
  EXPECT_EQ(FormatLine(ms, Level::kWarn, "http", "429 GET /api/tags"),
            "2026-11-26T10:34:31.123Z [warn] http: 429 GET /api/tags\n");
  EXPECT_EQ(FormatLine(ms, Level::kNotice, "", "started"), "2026-11-26T10:34:31.123Z [notice] started\n");
}

TEST(LogFormatTest, ClientControlledBytesCannotForgeLines) {
  const std::string line = FormatLine(0, Level::kInfo, "http", "GET /a\n1970-01-01T00:00:00.000Z [crit] fake\\x\x7f");
  EXPECT_EQ(line, "1970-01-01T00:00:00.000Z [info] http: GET /a\\x0A1970-01-01T00:00:00.000Z [crit] fake\\\\x\\x7F\n");
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
}

TEST(LogFormatTest, LevelsParseAndName) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kNotice, Level::kWarn, Level::kError, Level::kCrit}) {
    EXPECT_EQ(ParseLevel(LevelName(l)), l);
  }
  EXPECT_EQ(ParseLevel("warning"), Level::kWarn);
  EXPECT_FALSE(ParseLevel("WARN").has_value());
  EXPECT_FALSE(ParseLevel("").has_value());
}

TEST_F(LogTest, WritesToAFileAtOrAboveTheLevel) {
  const std::string path = dir_ + "/error.log";
  ASSERT_TRUE(Configure(Options{path, Level::kWarn}).ok());
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kWarn));
  Info("t", "not written");
  Warn("t", "written 1");
  Err("t", "written 2");
  const std::string text = Slurp(path);
  EXPECT_EQ(text.find("not written"), std::string::npos);
  EXPECT_NE(text.find("[warn] t: written 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[error] t: written 2\n"), std::string::npos) << text;
}

TEST_F(LogTest, UnwritablePathIsAClearError) {
  auto st = Configure(Options{dir_ + "/no/such/dir/error.log", Level::kInfo});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("cannot open the error log"), std::string::npos);
}

TEST_F(LogTest, ReopensAfterRotation) {
  const std::string path = dir_ + "/error.log";
  ASSERT_TRUE(Configure(Options{path, Level::kInfo}).ok());
  Info("t", "before rotation");
  std::filesystem::rename(path, path + ".1");
  Info("t", "still the old file");  // no reopen requested yet: the moved file gets it
  RequestReopen();
  Info("t", "after rotation");
  EXPECT_NE(Slurp(path + ".1").find("still the old file"), std::string::npos);
  const std::string fresh = Slurp(path);
  EXPECT_NE(fresh.find("after rotation"), std::string::npos) << fresh;
  EXPECT_EQ(fresh.find("before rotation"), std::string::npos);
}

TEST_F(LogTest, LinesFromManyThreadsNeverInterleave) {
  const std::string path = dir_ + "/error.log";
  ASSERT_TRUE(Configure(Options{path, Level::kInfo}).ok());
  const std::string payload(300, 'x');
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) Info("t" + std::to_string(t), payload);
    });
  }
  for (auto& th : threads) th.join();
  std::istringstream lines(Slurp(path));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    ++n;
    EXPECT_EQ(line.substr(line.size() - payload.size()), payload);
    EXPECT_NE(line.find("[info] t"), std::string::npos);
  }
  EXPECT_EQ(n, 800);
}

int64_t SteadySecond() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void WaitForNextSecond() {
  const int64_t s = SteadySecond();
  while (SteadySecond() == s) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST_F(LogTest, RequestLinesAreCappedPerSecondAndTheRestCounted) {
  const std::string path = dir_ + "/error.log";
  ASSERT_TRUE(Configure(Options{path, Level::kInfo}).ok());
  int admitted = 0;
  bool same_second = false;
  for (int attempt = 0; attempt < 3 && !same_second; ++attempt) {
    WaitForNextSecond();
    const int64_t start = SteadySecond();
    admitted = 0;
    for (int i = 0; i < kMaxRequestLinesPerSecond + 50; ++i) admitted += AdmitRequestLine() ? 1 : 0;
    same_second = SteadySecond() == start;
  }
  ASSERT_TRUE(same_second) << "could not run 150 calls within one second";
  EXPECT_EQ(admitted, kMaxRequestLinesPerSecond);
  WaitForNextSecond();
  EXPECT_TRUE(AdmitRequestLine());  // a new second: admitted again, and the summary is written
  const std::string text = Slurp(path);
  EXPECT_NE(text.find("[warn] log: 50 lines about refused requests were left out"), std::string::npos) << text;
}

}  // namespace
}  // namespace bastion::log
