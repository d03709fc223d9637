// StopMatcher: stop strings split across pieces are never emitted, partial matches released.
#include "model/stop_matcher.h"

#include <gtest/gtest.h>

namespace bastion {
namespace {

std::string Feed(StopMatcher& m, const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += m.Push(p);
  if (!m.stopped()) out += m.Flush();
  return out;
}

TEST(StopMatcher, NoStopsPassesThrough) {
  StopMatcher m({});
  EXPECT_EQ(Feed(m, {"a", "b"}), "ab");
}

TEST(StopMatcher, StopAcrossPieces) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.Push("hello ST"), "hello ");
  EXPECT_EQ(m.Push("O"), "");
  EXPECT_EQ(m.Push("Pafter"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.matched(), "STOP");
  EXPECT_EQ(m.Push("more"), "");
}

TEST(StopMatcher, FalseStartIsReleased) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.Push("ST"), "");
  EXPECT_EQ(m.Push("ART"), "START");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, EarliestStopWins) {
  StopMatcher m({"cd", "b"});
  EXPECT_EQ(Feed(m, {"abcd"}), "a");
  EXPECT_EQ(m.matched(), "b");
}

TEST(StopMatcher, FlushReturnsHeldText) {
  StopMatcher m({"\n\n"});
  EXPECT_EQ(m.Push("line\n"), "line");
  EXPECT_EQ(m.Flush(), "\n");
}

}  // namespace
}  // namespace bastion
