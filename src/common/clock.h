// Clock: the time seam. Everything that waits or expires (idle timers, autostop windows,
// wake timeouts, DNS TTL cooldowns, check intervals) reads time through a Clock so tests
// can drive it with FakeClock in microseconds instead of sleeping.
//
// RealClock is thread-safe. FakeClock is thread-safe (atomic), advanced by the test.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace privcast {

using MonoTime = std::chrono::steady_clock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime Now() const = 0;            // monotonic
  virtual int64_t WallUnixMillis() const = 0;  // for timestamps shown to people
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
  void Advance(Duration d) { ns_ += d.count(); }

 private:
  int64_t wall_ms_;
  std::atomic<int64_t> ns_{1'000'000'000};
};

}  // namespace privcast
