// EventLoop: posting across threads, timers in deadline order, cancellation, stop.
#include "proxy/event_loop.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace privcast::proxy {
namespace {

TEST(EventLoop, PostFromOtherThreadsRunsInOrderOnLoop) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  std::vector<int> seen;
  std::thread t([&] { loop.Run(); });
  for (int i = 0; i < 1000; ++i)
    loop.Post([&seen, i, &loop] {
      EXPECT_TRUE(loop.InLoopThread());
      seen.push_back(i);
    });
  loop.Post([&] { loop.Stop(); });
  t.join();
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(seen[i], i);
}

TEST(EventLoop, TimersFireByDeadlineAndCancel) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  std::vector<int> order;
  loop.Post([&] {
    auto now = loop.Now();
    loop.AddTimer(now + std::chrono::milliseconds(3), [&] { order.push_back(3); });
    loop.AddTimer(now + std::chrono::milliseconds(1), [&] { order.push_back(1); });
    auto id = loop.AddTimer(now + std::chrono::milliseconds(2), [&] { order.push_back(2); });
    loop.CancelTimer(id);
    loop.AddTimer(now + std::chrono::milliseconds(4), [&] { loop.Stop(); });
  });
  loop.Run();
  EXPECT_EQ(order, (std::vector<int>{1, 3}));
  EXPECT_EQ(loop.PendingTimers(), 0u);
}

}  // namespace
}  // namespace privcast::proxy
