// PC_CHECK always checks; PC_DCHECK checks only without NDEBUG and never evaluates its
// condition under NDEBUG.
#include <gtest/gtest.h>

#include "common/result.h"

namespace privcast {
namespace {

TEST(CheckTest, CheckAbortsWithTheExpression) {
  int x = 1;
  EXPECT_DEATH(PC_CHECK(x == 2), "x == 2");
  EXPECT_DEATH(PC_CHECK_MSG(x == 2, "why " + std::to_string(x)), "why 1");
}

TEST(CheckTest, DcheckFollowsNdebug) {
  int evaluated = 0;
  auto fails = [&] {
    ++evaluated;
    return false;
  };
#ifdef NDEBUG
  PC_DCHECK(fails());
  PC_DCHECK_MSG(fails(), "never");
  EXPECT_EQ(evaluated, 0);
#else
  EXPECT_DEATH(PC_DCHECK(fails()), "fails\\(\\)");
  EXPECT_DEATH(PC_DCHECK_MSG(fails(), "debug only"), "debug only");
  PC_DCHECK(evaluated == 0);  // the death tests ran in children
#endif
}

}  // namespace
}  // namespace privcast
