// loop::EventLoop: posting across threads, timers on the loop's Clock (a FakeClock here, so
// no test waits for time to pass), cancellation, fd events, the thread check, stop.
#include "loop/event_loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <future>
#include <thread>
#include <vector>

namespace privcast::loop {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Runs a loop on its own thread for the test's duration.
class Running {
 public:
  explicit Running(EventLoop* l) : loop_(l), t_([l] { l->Run(); }) {}
  ~Running() {
    loop_->Stop();
    t_.join();
  }
  // Runs fn on the loop once every timer due at the loop's wakeup has run, and returns its
  // result: posted closures run before due timers, so fn goes behind a timer due now and then
  // behind the rest of that turn (Defer).
  template <class F>
  auto Call(F fn) {
    std::promise<decltype(fn())> p;
    loop_->Post([&] { loop_->AddTimer(loop_->Now(), [&] { loop_->Defer([&] { p.set_value(fn()); }); }); });
    return p.get_future().get();
  }

 private:
  EventLoop* loop_;
  std::thread t_;
};

TEST(LoopEventLoop, PostFromOtherThreadsRunsInOrderOnLoop) {
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

TEST(LoopEventLoop, TimersRunOnTheFakeClockInDeadlineOrder) {
  FakeClock clock;
  EventLoop loop(&clock);
  ASSERT_TRUE(loop.Init().ok());
  std::vector<int> order;  // loop thread
  Running r(&loop);
  r.Call([&] {
    auto now = loop.Now();
    loop.AddTimer(now + seconds(30), [&] { order.push_back(30); });
    loop.AddTimer(now + seconds(10), [&] { order.push_back(10); });
    auto id = loop.AddTimer(now + seconds(20), [&] { order.push_back(20); });
    loop.CancelTimer(id);
    return 0;
  });
  // Nothing is due until the clock says so, however long the loop waits in real time.
  EXPECT_TRUE(r.Call([&] { return order.empty(); }));
  clock.Advance(seconds(10));  // Call wakes the loop: it reads the new time, runs what is due
  EXPECT_EQ(r.Call([&] { return order; }), std::vector<int>{10});
  clock.Advance(seconds(25));
  EXPECT_EQ(r.Call([&] { return order; }), (std::vector<int>{10, 30}));
  EXPECT_EQ(r.Call([&] { return loop.PendingTimers(); }), 0u);
}

TEST(LoopEventLoop, NowIsTheClockReadAtWakeup) {
  FakeClock clock;
  EventLoop loop(&clock);
  ASSERT_TRUE(loop.Init().ok());
  Running r(&loop);
  MonoTime before = r.Call([&] { return loop.Now(); });
  EXPECT_EQ(before, clock.Now());
  clock.Advance(milliseconds(1500));
  EXPECT_EQ(r.Call([&] { return loop.Now(); }) - before, milliseconds(1500));
}

TEST(LoopEventLoop, FdEventsReachTheirHandlerAndDeferRunsAfterTheBatch) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  std::vector<std::string> log;  // loop thread
  struct H : EventHandler {
    EventLoop* loop;
    int fd;
    std::vector<std::string>* log;
    void OnEvents(uint32_t ev) override {
      uint64_t v;
      EXPECT_EQ(::read(fd, &v, sizeof v), 8);
      EXPECT_TRUE(ev & EPOLLIN);
      log->push_back("event");
      loop->Defer([this] {
        log->push_back("deferred");
        loop->Del(fd);
        loop->Stop();
      });
    }
  } h;
  h.loop = &loop;
  h.fd = efd;
  h.log = &log;
  ASSERT_TRUE(loop.Add(efd, EPOLLIN, &h));
  uint64_t one = 1;
  ASSERT_EQ(::write(efd, &one, sizeof one), 8);
  loop.Run();
  EXPECT_EQ(log, (std::vector<std::string>{"event", "deferred"}));
  ::close(efd);
}

TEST(LoopEventLoop, KnowsItsThread) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  EXPECT_FALSE(loop.InLoopThread());
  EXPECT_TRUE(loop.InLoopThreadOrIdle());  // not running: its owner may set it up
  Running r(&loop);
  EXPECT_TRUE(r.Call([&] { return loop.InLoopThread(); }));
  EXPECT_FALSE(loop.InLoopThread());
  EXPECT_FALSE(loop.InLoopThreadOrIdle());
}

TEST(LoopEventLoop, StopBeforeRunStillStopsIt) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  loop.Stop();
  std::thread t([&] { loop.Run(); });  // returns at once: a hang here is the bug
  t.join();
  bool ran = false;  // and the loop can run again afterwards
  loop.Post([&] {
    ran = true;
    loop.Stop();
  });
  loop.Run();
  EXPECT_TRUE(ran);
}

// PC_LOOP_CHECK_THREAD (entry points off the hot path: a snapshot applied, a drain) checks in
// every build, release included.
TEST(LoopEventLoopDeathTest, CheckedEntryPointFromAnotherThreadWhileRunningDies) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init().ok());
  PC_LOOP_CHECK_THREAD(&loop);  // idle: its owner may call anything
  EXPECT_DEATH(
      {
        Running r(&loop);
        r.Call([] { return 0; });
        PC_LOOP_CHECK_THREAD(&loop);
      },
      "InLoopThreadOrIdle");
}

#ifndef NDEBUG
TEST(LoopEventLoopDeathTest, TimerFromAnotherThreadWhileRunningDies) {
  EXPECT_DEATH(
      {
        EventLoop loop;
        (void)loop.Init();
        Running r(&loop);
        r.Call([] { return 0; });
        loop.AddTimerAfter(seconds(1), [] {});
      },
      "InLoopThreadOrIdle");
}
#endif

}  // namespace
}  // namespace privcast::loop
