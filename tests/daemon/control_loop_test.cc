// ControlLoop: delayed closures run on the loop's Clock (a FakeClock: nothing here waits for
// time to pass), due ones before queued work, not-yet-due ones dropped at Stop.
#include "daemon/control_loop.h"

#include <gtest/gtest.h>

#include <vector>

namespace privcast::daemon {
namespace {

using std::chrono::seconds;

TEST(ControlLoop, DelayedWorkRunsWhenTheClockSaysSo) {
  FakeClock clock;
  ControlLoop loop(&clock);
  loop.Start();
  std::vector<int> ran;  // loop thread; read through RunSync
  loop.PostAfter(seconds(20), [&] { ran.push_back(20); });
  loop.PostAfter(seconds(10), [&] { ran.push_back(10); });
  auto seen = [&] {
    std::vector<int> out;
    loop.RunSync([&] { out = ran; });
    return out;
  };
  EXPECT_TRUE(seen().empty());
  clock.Advance(seconds(10));               // the loop watches its clock: no Kick needed
  EXPECT_EQ(seen(), std::vector<int>{10});  // due work runs before the queued RunSync
  clock.Advance(seconds(10));
  EXPECT_EQ(seen(), (std::vector<int>{10, 20}));
  loop.Stop();
}

TEST(ControlLoop, StopDropsWhatIsNotDue) {
  FakeClock clock;
  ControlLoop loop(&clock);
  loop.Start();
  bool ran = false;
  loop.PostAfter(seconds(1), [&] { ran = true; });
  loop.Stop();
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace privcast::daemon
