// proxy::BatchWhenBusy: the decision (hysteresis), the window closed by the loop's turns and, in
// batch, by its timer when the worker goes idle; the seam refused; and the real policy change
// on a real loop thread (sched_getscheduler), busy by spinning, idle again by waiting.
#include "proxy/batch_when_busy.h"

#include <sched.h>
#include <time.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "proxy/event_loop.h"

namespace privcast::proxy {
namespace {

using Mode = BatchWhenBusy::Mode;
using namespace std::chrono_literals;

TEST(BatchWhenBusy, NextFollowsTheLoadWithHysteresis) {
  BatchWhenBusyOptions o;  // enter 0.35, leave 0.15, min_sessions 8
  const int64_t many = 50;
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kNormal, 0.0, many, o), Mode::kNormal);
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kNormal, 0.34, many, o), Mode::kNormal);
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kNormal, 0.35, many, o), Mode::kBatch);
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kNormal, 1.0, many, o), Mode::kBatch);
  // Between the two thresholds each mode keeps itself: no flapping at one load.
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kBatch, 0.34, many, o), Mode::kBatch);
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kBatch, 0.15, many, o), Mode::kBatch);
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kBatch, 0.14, many, o), Mode::kNormal);
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kNormal, 0.2, many, o), Mode::kNormal);
}

TEST(BatchWhenBusy, FewClientsStayNormalHoweverBusy) {
  BatchWhenBusyOptions o;
  // One client at a time has nothing to batch: waiting would only delay it.
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kNormal, 0.9, 1, o), Mode::kNormal);
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kNormal, 0.9, 7, o), Mode::kNormal);
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kNormal, 0.9, 8, o), Mode::kBatch);
  EXPECT_EQ(BatchWhenBusy::Next(Mode::kBatch, 0.9, 7, o), Mode::kNormal);  // the clients went
}

// The seams driven by the test: CPU time it sets, policy changes it records (the loop thread
// applies them; the test thread waits for them).
struct Recorder {
  std::atomic<int64_t> cpu_ns{0};
  std::atomic<int64_t> sessions{50};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Mode> applied;
  bool refuse = false;

  BatchWhenBusy::Seams Seams() {
    BatchWhenBusy::Seams s;
    s.thread_cpu_ns = [this] { return cpu_ns.load(); };
    s.sessions = [this] { return sessions.load(); };
    s.apply = [this](Mode m) {
      std::lock_guard<std::mutex> l(mu);
      applied.push_back(m);
      cv.notify_all();
      return !refuse;
    };
    return s;
  }
  // Waits (bounded: a failure, not a sleep) until `n` changes were applied.
  std::vector<Mode> WaitFor(size_t n) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait_for(l, 10s, [&] { return applied.size() >= n; });
    return applied;
  }
};

struct LoopThread {
  FakeClock clock;
  EventLoop loop{&clock};
  std::thread t;
  void Start() {
    ASSERT_TRUE(loop.Init(/*batch_sends=*/false).ok());
    t = std::thread([this] { loop.Run(); });
  }
  // Runs fn on the loop thread and waits for it and for the end of its turn (OnTurn included):
  // a second closure, posted once the first ran, can only run in a later turn.
  void Sync(std::function<void()> fn = [] {}) {
    for (int i = 0; i < 2; ++i) {
      std::promise<void> done;
      loop.Post([&] {
        if (i == 0) fn();
        done.set_value();
      });
      done.get_future().get();
    }
  }
  ~LoopThread() {
    loop.Stop();
    if (t.joinable()) t.join();
  }
};

TEST(BatchWhenBusy, BusyWindowSwitchesToBatchAndAnIdleOneBackWithoutTraffic) {
  LoopThread lt;
  Recorder rec;
  BatchWhenBusy g(&lt.loop, BatchWhenBusyOptions{}, rec.Seams());
  lt.loop.set_governor(&g);
  lt.Start();
  lt.Sync();  // the first turn opens the first window
  // 60 ms on CPU in a 100 ms window: busy 0.6 → batch, at the turn the clock's wakeup makes.
  rec.cpu_ns += 60'000'000;
  lt.clock.Advance(100ms);
  EXPECT_EQ(rec.WaitFor(1), std::vector<Mode>{Mode::kBatch});
  // No traffic, no CPU: only the batch-mode timer can close the next window → normal.
  lt.clock.Advance(100ms);
  EXPECT_EQ(rec.WaitFor(2), (std::vector<Mode>{Mode::kBatch, Mode::kNormal}));
  // Back in normal no timer is left armed: an idle worker does not wake for the governor.
  size_t timers = 1;
  lt.Sync([&] { timers = lt.loop.PendingTimers(); });
  EXPECT_EQ(timers, 0u);
  lt.loop.Stop();
  lt.t.join();
  EXPECT_EQ(g.switches(), 2u);
  EXPECT_EQ(g.mode(), Mode::kNormal);
}

TEST(BatchWhenBusy, ALoadBetweenTheThresholdsChangesNothing) {
  LoopThread lt;
  Recorder rec;
  BatchWhenBusy g(&lt.loop, BatchWhenBusyOptions{}, rec.Seams());
  lt.loop.set_governor(&g);
  lt.Start();
  lt.Sync();
  for (int i = 0; i < 5; ++i) {
    rec.cpu_ns += 25'000'000;  // 0.25 of each window: below enter
    lt.clock.Advance(100ms);
    lt.Sync();
  }
  lt.loop.Stop();
  lt.t.join();
  EXPECT_TRUE(rec.applied.empty());
  EXPECT_EQ(g.mode(), Mode::kNormal);
}

TEST(BatchWhenBusy, BusyWithOneClientStaysNormalAndTheLastClientsLeavingEndBatch) {
  LoopThread lt;
  Recorder rec;
  rec.sessions = 1;
  BatchWhenBusy g(&lt.loop, BatchWhenBusyOptions{}, rec.Seams());
  lt.loop.set_governor(&g);
  lt.Start();
  lt.Sync();
  rec.cpu_ns += 90'000'000;  // busy, one client: stays normal
  lt.clock.Advance(100ms);
  lt.Sync();
  EXPECT_TRUE(rec.WaitFor(0).empty());
  rec.sessions = 50;  // busy with many: batch
  rec.cpu_ns += 90'000'000;
  lt.clock.Advance(100ms);
  EXPECT_EQ(rec.WaitFor(1), std::vector<Mode>{Mode::kBatch});
  rec.sessions = 2;  // still busy, but the clients went: normal
  rec.cpu_ns += 90'000'000;
  lt.clock.Advance(100ms);
  EXPECT_EQ(rec.WaitFor(2), (std::vector<Mode>{Mode::kBatch, Mode::kNormal}));
  lt.loop.Stop();
  lt.t.join();
}

TEST(BatchWhenBusy, APolicyTheKernelRefusesTurnsTheGovernorOff) {
  LoopThread lt;
  Recorder rec;
  rec.refuse = true;
  BatchWhenBusy g(&lt.loop, BatchWhenBusyOptions{}, rec.Seams());
  lt.loop.set_governor(&g);
  lt.Start();
  lt.Sync();
  rec.cpu_ns += 90'000'000;
  lt.clock.Advance(100ms);
  EXPECT_EQ(rec.WaitFor(1).size(), 1u);
  for (int i = 0; i < 3; ++i) {  // busy again: no second attempt
    rec.cpu_ns += 90'000'000;
    lt.clock.Advance(100ms);
    lt.Sync();
  }
  lt.loop.Stop();
  lt.t.join();
  EXPECT_EQ(rec.applied.size(), 1u);
  EXPECT_FALSE(g.enabled());
  EXPECT_EQ(g.mode(), Mode::kNormal);
}

int64_t ThreadCpuNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The real seams on a real loop thread: spinning makes it SCHED_BATCH, idling SCHED_OTHER again.
// The thresholds are low so that a loaded CI machine, which gives the spinning thread only part
// of a core, still counts as busy; what is tested is the mechanism, not the thresholds.
TEST(BatchWhenBusy, RealThreadBecomesBatchWhenSpinningAndNormalWhenIdle) {
  EventLoop loop;  // real clock
  BatchWhenBusyOptions o;
  o.enter = 0.05;
  o.leave = 0.01;
  o.window = 20ms;
  BatchWhenBusy g(&loop, o);
  loop.set_governor(&g);
  ASSERT_TRUE(loop.Init(/*batch_sends=*/false).ok());
  std::thread t([&] { loop.Run(); });
  auto policy = [&] {
    std::promise<int> p;
    loop.Post([&] { p.set_value(::sched_getscheduler(0)); });
    return p.get_future().get();
  };
  EXPECT_EQ(policy(), SCHED_OTHER);
  // Spin in short posted slices (each its own turn) until the thread is batch (bounded: 10 s).
  int got = SCHED_OTHER;
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       got != SCHED_BATCH && std::chrono::steady_clock::now() < deadline;) {
    std::promise<int> p;
    loop.Post([&] {
      for (int64_t s = ThreadCpuNs(); ThreadCpuNs() - s < 5'000'000;) {
      }
      p.set_value(::sched_getscheduler(0));
    });
    got = p.get_future().get();
  }
  EXPECT_EQ(got, SCHED_BATCH);
  // Idle: the batch timer closes windows with no traffic; wait (bounded) for SCHED_OTHER.
  for (auto deadline = std::chrono::steady_clock::now() + 10s;
       got != SCHED_OTHER && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(o.window);  // let windows pass idle; the check below is the sync
    got = policy();
  }
  EXPECT_EQ(got, SCHED_OTHER);
  loop.Stop();
  t.join();
}

}  // namespace
}  // namespace privcast::proxy
