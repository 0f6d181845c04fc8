// [[restart]] policy math, driven by FakeClock durations.
#include "supervisor/restart.h"

#include <gtest/gtest.h>

namespace privcast::supervisor {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

RestartPolicy Policy(RestartMode m, int retries = 3) {
  RestartPolicy p;
  p.mode = m;
  p.max_retries = retries;
  p.initial_backoff = milliseconds(100);
  p.max_backoff = seconds(1);
  p.reset_after = seconds(60);
  return p;
}

ExitInfo Code(int c) { return ExitInfo{true, c, 0}; }

TEST(Backoff, DoublesAndCaps) {
  RestartPolicy p = Policy(RestartMode::kAlways);
  EXPECT_EQ(BackoffDelay(p, 0), milliseconds(100));
  EXPECT_EQ(BackoffDelay(p, 1), milliseconds(200));
  EXPECT_EQ(BackoffDelay(p, 2), milliseconds(400));
  EXPECT_EQ(BackoffDelay(p, 3), milliseconds(800));
  EXPECT_EQ(BackoffDelay(p, 4), seconds(1));
  EXPECT_EQ(BackoffDelay(p, 1000000), seconds(1));  // no overflow
  EXPECT_EQ(BackoffDelay(p, -5), milliseconds(100));
  p.initial_backoff = Duration::zero();
  EXPECT_EQ(BackoffDelay(p, 3), Duration::zero());
}

TEST(DecideRestart, NeverNeverRestarts) {
  auto d = DecideRestart(Policy(RestartMode::kNever), Code(1), false, 0, seconds(1));
  EXPECT_FALSE(d.restart);
}

TEST(DecideRestart, OnFailureOnlyOnFailure) {
  RestartPolicy p = Policy(RestartMode::kOnFailure);
  EXPECT_FALSE(DecideRestart(p, Code(0), false, 0, seconds(1)).restart);
  EXPECT_TRUE(DecideRestart(p, Code(2), false, 0, seconds(1)).restart);
  EXPECT_TRUE(DecideRestart(p, ExitInfo{true, -1, 9}, false, 0, seconds(1)).restart);
  // An adopted process's exit status is unknown: treated as a failure.
  EXPECT_TRUE(DecideRestart(p, ExitInfo{}, false, 0, seconds(1)).restart);
}

TEST(DecideRestart, AlwaysRestartsSuccessToo) {
  EXPECT_TRUE(DecideRestart(Policy(RestartMode::kAlways), Code(0), false, 0, seconds(1)).restart);
}

TEST(DecideRestart, StopRequestedIsNeverRestarted) {
  EXPECT_FALSE(DecideRestart(Policy(RestartMode::kAlways), Code(1), true, 0, seconds(1)).restart);
}

TEST(DecideRestart, MaxRetriesThenGiveUp) {
  RestartPolicy p = Policy(RestartMode::kOnFailure, 3);
  FakeClock clock;
  int attempts = 0;
  std::vector<Duration> delays;
  for (int i = 0; i < 10; ++i) {
    MonoTime started = clock.Now();
    clock.Advance(milliseconds(50));  // crashes quickly every time
    auto d = DecideRestart(p, Code(1), false, attempts, clock.Now() - started);
    attempts = d.attempts_after;
    if (!d.restart) break;
    EXPECT_EQ(d.attempt, i + 1);
    delays.push_back(d.delay);
    clock.Advance(d.delay);
  }
  ASSERT_EQ(delays.size(), 3u);
  EXPECT_EQ(delays[0], milliseconds(100));
  EXPECT_EQ(delays[1], milliseconds(200));
  EXPECT_EQ(delays[2], milliseconds(400));
  EXPECT_EQ(attempts, 3);
}

TEST(DecideRestart, LongRunResetsTheStreak) {
  RestartPolicy p = Policy(RestartMode::kOnFailure, 3);
  FakeClock clock;
  MonoTime started = clock.Now();
  clock.Advance(seconds(61));
  auto d = DecideRestart(p, Code(1), false, /*attempts=*/3, clock.Now() - started);
  EXPECT_TRUE(d.restart);
  EXPECT_EQ(d.attempt, 1);
  EXPECT_EQ(d.delay, milliseconds(100));
  // Just under reset_after: the streak continues and max_retries is reached.
  EXPECT_FALSE(DecideRestart(p, Code(1), false, 3, seconds(59)).restart);
}

}  // namespace
}  // namespace privcast::supervisor
