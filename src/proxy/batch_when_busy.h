// proxy::BatchWhenBusy: a proxy worker thread that is busy stops preempting other tasks when it
// wakes (SCHED_BATCH), and goes back to SCHED_OTHER when its load falls
// (docs/adr/0021-batch-when-busy.md).
//
// Why: a worker shares its core with the apps' machines. Under load, every frame an app writes
// wakes the worker, which (SCHED_OTHER) preempts the app at once, relays one response and sleeps
// again: a context-switch ping-pong that costs more CPU than the relaying. In SCHED_BATCH the
// waking worker waits for the running task to block or use its slice, then handles everything
// that came meanwhile in one turn (h2load -c50 -m10 to an h2c app on the same core: 4.1 instead of
// 9.3 µs of proxy CPU per request). At low load the same wait is pure latency (a CPU-bound
// neighbour on the core makes each wakeup wait for its slice: 0.15 → 3.8 ms per request), so the
// policy follows the load, with hysteresis: batch once the thread was on CPU for at least
// `enter` of a window while at least `min_sessions` client connections are open, normal again
// below `leave` or with fewer connections (one client at a time has nothing to batch: waiting
// only delays it).
//
// Load = the thread's CPU time (CLOCK_THREAD_CPUTIME_ID) ÷ wall time over a window of the loop's
// clock. The window is closed by the first loop turn after it ends; while in batch, a timer
// closes it too, so an idle worker returns to normal without waiting for traffic.
//
// Ownership: the worker owns one per loop, and the loop calls OnTurn() once per wakeup.
// Thread-safety: loop thread only (the policy applies to the calling thread). If the kernel
// refuses the change (a seccomp filter, say), the governor turns itself off and logs once.
#pragma once

#include <cstdint>
#include <functional>

#include "common/clock.h"
#include "loop/event_loop.h"

namespace privcast::proxy {

struct BatchWhenBusyOptions {
  double enter = 0.35;       // on CPU for at least this fraction of a window → SCHED_BATCH
  double leave = 0.15;       // below this fraction → SCHED_OTHER
  int64_t min_sessions = 8;  // fewer client connections open → SCHED_OTHER (nothing to batch)
  Duration window = std::chrono::milliseconds(100);
};

class BatchWhenBusy {
 public:
  enum class Mode { kNormal, kBatch };

  // Where the outside leaks in: the calling thread's CPU time, the policy change (true when
  // the kernel took it), and how many client connections the worker has open (unset: many).
  struct Seams {
    std::function<int64_t()> thread_cpu_ns;
    std::function<bool(Mode)> apply;
    std::function<int64_t()> sessions;
  };
  static Seams RealSeams();

  // The decision alone: the mode after a window in which the thread was on CPU for `busy` (0..1),
  // with `sessions` client connections open at its end.
  [[nodiscard]] static Mode Next(Mode current, double busy, int64_t sessions, const BatchWhenBusyOptions& o);

  BatchWhenBusy(loop::EventLoop* loop, BatchWhenBusyOptions o, Seams seams = RealSeams());
  ~BatchWhenBusy();
  BatchWhenBusy(const BatchWhenBusy&) = delete;
  BatchWhenBusy& operator=(const BatchWhenBusy&) = delete;

  // Once per loop wakeup (loop thread): closes the window when it has ended.
  void OnTurn() {
    if (enabled_ && loop_->Now() - window_start_ >= opts_.window) CloseWindow();
  }

  [[nodiscard]] Mode mode() const { return mode_; }
  [[nodiscard]] bool enabled() const { return enabled_; }
  [[nodiscard]] uint64_t switches() const { return switches_; }

 private:
  void CloseWindow();
  void StartWindow();
  void DisarmTimer();

  loop::EventLoop* loop_;
  BatchWhenBusyOptions opts_;
  Seams seams_;
  bool enabled_ = true;
  bool started_ = false;  // the first window begins at the first turn, on the loop thread
  Mode mode_ = Mode::kNormal;
  uint64_t switches_ = 0;
  MonoTime window_start_;
  int64_t cpu_start_ns_ = 0;
  loop::EventLoop::TimerId timer_ = 0;  // armed while in batch
};

}  // namespace privcast::proxy
