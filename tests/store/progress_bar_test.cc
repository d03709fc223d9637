// Progress formatting: byte, rate and duration strings, the rate window, the terminal bar and the
// plain lines (how often they come, and the final one).
#include "store/progress_bar.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace bastion::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(Progress, Bytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(999), "999 B");
  EXPECT_EQ(FormatBytes(1000), "1.0 kB");
  EXPECT_EQ(FormatBytes(1500), "1.5 kB");
  EXPECT_EQ(FormatBytes(999949), "999.9 kB");
  EXPECT_EQ(FormatBytes(999999), "1.0 MB");
  EXPECT_EQ(FormatBytes(494032768), "494.0 MB");
  EXPECT_EQ(FormatBytes(4683074240ull), "4.7 GB");
  EXPECT_EQ(FormatBytes(UINT64_MAX), "18446.7 PB");
}

TEST(Progress, RateAndDuration) {
  EXPECT_EQ(FormatRate(12.3e6), "12.3 MB/s");
  EXPECT_EQ(FormatRate(-1), "-");
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(7.4), "7s");
  EXPECT_EQ(FormatDuration(245), "4m05s");
  EXPECT_EQ(FormatDuration(7380), "2h03m");
  EXPECT_EQ(FormatDuration(-1), "-");
  EXPECT_EQ(FormatDuration(1.0 / 0.0), "-");
}

TEST(Progress, RateMeterUsesARecentWindow) {
  RateMeter meter(seconds(5));
  const auto t0 = std::chrono::steady_clock::time_point() + seconds(100);
  EXPECT_LT(meter.Rate(), 0);
  meter.Add(t0, 0);
  meter.Add(t0 + seconds(1), 1000000);
  EXPECT_DOUBLE_EQ(meter.Rate(), 1e6);
  // A burst long ago does not count once it leaves the window.
  meter.Add(t0 + seconds(20), 1000000);
  meter.Add(t0 + seconds(21), 1500000);
  EXPECT_NEAR(meter.Rate(), 5e5, 1);
  meter.Add(t0 + seconds(22), 10);  // a restart from zero clears the history
  EXPECT_LT(meter.Rate(), 0);
}

TEST(Progress, BarLine) {
  const std::string line = FormatBarLine("pulling 3f2a8c1b0e4d", 223000000, 494000000, 12.3e6, 80);
  EXPECT_LE(line.size(), 80u);
  EXPECT_NE(line.find("pulling 3f2a8c1b0e4d 45%"), std::string::npos) << line;
  EXPECT_NE(line.find(" [========>  "), std::string::npos) << line;  // 45% of the cells, then the head
  EXPECT_NE(line.find("223.0 MB/494.0 MB  12.3 MB/s  22s"), std::string::npos) << line;
  // Unknown total: bytes and rate only.
  EXPECT_EQ(FormatBarLine("pulling x", 1500, 0, -1, 80), "pulling x  1.5 kB  -");
  // Narrow terminals lose the bar, never the numbers' start.
  EXPECT_EQ(FormatBarLine("pulling x", 50, 100, 10, 30).find('['), std::string::npos);
}

TEST(Progress, PlainLine) {
  EXPECT_EQ(FormatPlainLine("pulling 3f2a8c1b0e4d", 223000000, 494000000, 12.3e6),
            "pulling 3f2a8c1b0e4d: 45% (223.0 MB of 494.0 MB, 12.3 MB/s, 22s left)");
  EXPECT_EQ(FormatPlainLine("pulling x", 1500, 0, -1), "pulling x: 1.5 kB (-)");
}

std::string Captured(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

TEST(Progress, PlainStyleLinesAtEachTenthAndAtTheEnd) {
  std::FILE* f = std::tmpfile();
  ProgressBar bar(f, /*tty=*/false);
  auto t = std::chrono::steady_clock::time_point() + seconds(1000);
  bar.Status("pulling manifest");
  for (int i = 0; i <= 100; ++i) {
    bar.SetClockForTest(t + milliseconds(i * 10));
    bar.Update("pulling abc", static_cast<uint64_t>(i) * 1000, 100000);
  }
  bar.Status("verifying sha256 digest");
  const std::string out = Captured(f);
  std::fclose(f);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  size_t lines = 0;
  for (size_t p = out.find("pulling abc:"); p != std::string::npos; p = out.find("pulling abc:", p + 1)) ++lines;
  EXPECT_EQ(lines, 10u) << out;  // 10%..90% and the final 100%
  EXPECT_NE(out.find("pulling abc: 100% (100.0 kB of 100.0 kB"), std::string::npos) << out;
  EXPECT_NE(out.find("100.0 kB of 100.0 kB, 100.0 kB/s, 0s left)\nverifying sha256 digest\n"), std::string::npos) << out;
}

TEST(Progress, TerminalStyleRedrawsOneLine) {
  std::FILE* f = std::tmpfile();
  ProgressBar bar(f, /*tty=*/true);
  auto t = std::chrono::steady_clock::time_point() + seconds(1000);
  for (int i = 0; i <= 10; ++i) {
    bar.SetClockForTest(t + milliseconds(i * 200));
    bar.Update("pulling abc", static_cast<uint64_t>(i) * 10000, 100000);
  }
  bar.Note("a retry note");
  bar.Finish();
  const std::string out = Captured(f);
  std::fclose(f);
  EXPECT_GE(std::count(out.begin(), out.end(), '\r'), 10);
  EXPECT_NE(out.find("\rpulling abc 100% ["), std::string::npos) << out;
  EXPECT_NE(out.find("\r\x1b[Ka retry note\n"), std::string::npos) << out;
  EXPECT_EQ(out.back(), '\n');
}

}  // namespace
}  // namespace bastion::store
