// Clock: the time seam. Everything that waits or expires (idle timers, autostop windows,
// wake timeouts, DNS TTL cooldowns, check intervals) reads time through a Clock so tests
// can drive it with FakeClock in microseconds instead of sleeping.
//
// RealClock is thread-safe. FakeClock is thread-safe (its time is atomic, its watchers are
// under a Mutex, called with it held), advanced by the test.
//
// Watch: whoever sleeps until a deadline on a Clock (an event loop, the control loop) watches
// it, so that a FakeClock's Advance wakes it to read the new time; a RealClock never calls.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>

#include "common/mutex.h"
#include "common/thread_annotations.h"

namespace privcast {

using MonoTime = std::chrono::steady_clock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime Now() const = 0;            // monotonic
  virtual int64_t WallUnixMillis() const = 0;  // for timestamps shown to people
  // Calls `moved` (from the thread that moves the clock; it must not block) whenever the
  // clock jumps other than by real time passing. Returns a handle for Unwatch, which waits
  // for a running call to end. The default clock never jumps.
  // A sink parameter: overrides (the test clock) move it into their watcher list.
  // NOLINTNEXTLINE(performance-unnecessary-value-param): sink for overrides, unused by the default
  virtual uint64_t Watch(std::function<void()> moved) {
    (void)moved;  // real time wakes the sleepers by itself
    return 0;
  }
  virtual void Unwatch(uint64_t handle) { (void)handle; }
};

class RealClock final : public Clock {
 public:
  MonoTime Now() const override { return std::chrono::steady_clock::now(); }
  int64_t WallUnixMillis() const override;
  static RealClock* Get();  // process-wide instance
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t wall_ms = 1'700'000'000'000) : wall_ms_(wall_ms) {}
  MonoTime Now() const override { return MonoTime(Duration(ns_.load())); }
  int64_t WallUnixMillis() const override { return wall_ms_ + ns_.load() / 1'000'000; }
  // Moves time on, then wakes the watchers.
  void Advance(Duration d) EXCLUDES(mu_) {
    ns_ += d.count();
    MutexLock l(&mu_);
    for (auto& [h, fn] : watchers_) fn();
  }
  uint64_t Watch(std::function<void()> moved) EXCLUDES(mu_) override {
    MutexLock l(&mu_);
    watchers_.emplace(++next_, std::move(moved));
    return next_;
  }
  void Unwatch(uint64_t handle) EXCLUDES(mu_) override {
    MutexLock l(&mu_);
    watchers_.erase(handle);
  }

 private:
  int64_t wall_ms_;
  Mutex mu_;
  std::map<uint64_t, std::function<void()>> watchers_ GUARDED_BY(mu_);
  uint64_t next_ GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> ns_{1'000'000'000};
};

}  // namespace privcast
