// Bounded waits for the kernel (internal to privcast_supervisor): a child exec'ing, a cgroup
// freezing or emptying, a cgroup directory becoming removable.
//
// Real time on purpose, read through RealClock (common/clock.h), never the Supervisor's
// Clock: the kernel's work takes real time whatever a test's FakeClock says, and a FakeClock
// nobody advances would make these waits endless. Timers that are the supervisor's own
// decisions (kill_timeout, restart back-off, run durations) run on its Clock instead.
//
// Values only; each belongs to the one thread that waits.
#pragma once

#include <optional>

#include "common/clock.h"

namespace privcast::supervisor {

// The end of a wait that polls a descriptor (pipe, cgroup.events) until a deadline.
class KernelDeadline {
 public:
  explicit KernelDeadline(Duration timeout) : end_(RealClock::Get()->Now() + timeout) {}
  // The timeout for the next poll(), in ms: what is left rounded up; nullopt once passed.
  std::optional<int> NextPollMs() const;

 private:
  MonoTime end_;
};

// For what the kernel gives no notification of (v1 freezer state, v1 task removal, rmdir
// EBUSY): spins briefly, then sleeps with growing steps (at most 5 ms) until the deadline.
class Backoff {
 public:
  explicit Backoff(Duration timeout) : end_(RealClock::Get()->Now() + timeout) {}
  // Waits one step; false once the deadline has passed (without waiting).
  bool Next();

 private:
  MonoTime end_;
  int n_ = 0;
  std::chrono::microseconds step_{50};
};

}  // namespace privcast::supervisor
