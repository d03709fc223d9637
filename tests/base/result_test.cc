// Result/Status: values, errors, context and the propagation macros.
#include "base/result.h"

#include <gtest/gtest.h>

namespace bastion {
namespace {

Result<int> ParsePositive(int v) {
  if (v <= 0) return Error("expected a positive number, got " + std::to_string(v));
  return v;
}

Result<int> Doubled(int v) {
  BASTION_ASSIGN_OR_RETURN(int x, ParsePositive(v));
  return 2 * x;
}

Status CheckBoth(int a, int b) {
  BASTION_RETURN_IF_ERROR(ParsePositive(a));
  BASTION_RETURN_IF_ERROR(ParsePositive(b));
  return OkStatus();
}

TEST(Result, ValueAndError) {
  EXPECT_EQ(*Doubled(4), 8);
  auto r = Doubled(-1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "expected a positive number, got -1");
  EXPECT_EQ(r.error().WithContext("flag -n").message(),
            "flag -n: expected a positive number, got -1");
  EXPECT_TRUE(CheckBoth(1, 2).ok());
  EXPECT_FALSE(CheckBoth(1, 0).ok());
}

TEST(ResultDeathTest, WrongAlternativeAborts) {
  EXPECT_DEATH({ (void)ParsePositive(0).value(); }, "called on an error");
}

}  // namespace
}  // namespace bastion
