// ControlLoop: the daemon's control thread — a FIFO of closures run one at a time, plus
// delayed closures. Everything that mutates machines (reconcile, wakes, exits, autostop)
// runs here, so that logic needs no locks of its own.
//
// Ordering: Post() is FIFO; a PostAfter() closure that is due runs before queued Post()s
// (timers are the latency-critical work: readiness probes while a request is held).
// Time: delays are measured on the loop's Clock (common/clock.h), which the loop watches: when
// a test advances a FakeClock, what became due runs; nothing waits in real time.
// Thread-safety: Post/PostAfter/Kick from any thread. Closures run on the loop thread only.
// Lifecycle: Start() spawns the thread; Stop() runs what is queued, drops delayed closures
// that are not yet due, and joins. Closures must not block for long (they may do control-
// plane I/O: store, netlink, cgroups — never wait for an app).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "common/clock.h"

namespace privcast::daemon {

class ControlLoop {
 public:
  explicit ControlLoop(Clock* clock = RealClock::Get()) : clock_(clock) {
    watch_ = clock_->Watch([this] { Kick(); });
  }
  ~ControlLoop() {
    clock_->Unwatch(watch_);
    Stop();
  }
  ControlLoop(const ControlLoop&) = delete;
  ControlLoop& operator=(const ControlLoop&) = delete;

  void Start();
  void Stop();
  void Post(std::function<void()> fn);
  void PostAfter(Duration d, std::function<void()> fn);
  // Makes the loop read its clock again (the clock's watch calls it when a FakeClock moves).
  void Kick();
  bool InLoop() const { return std::this_thread::get_id() == thread_.get_id(); }
  // Runs fn on the loop and waits for it (never call from the loop itself).
  void RunSync(const std::function<void()>& fn);

 private:
  void Run();

  Clock* clock_;
  uint64_t watch_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::multimap<MonoTime, std::function<void()>> delayed_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace privcast::daemon
