// ControlLoop: the daemon's control thread — a FIFO of closures run one at a time, plus
// delayed closures. Everything that mutates machines (reconcile, wakes, exits, autostop)
// runs here, so that logic needs no locks of its own.
//
// Ordering: Post() is FIFO; a PostAfter() closure that is due runs before queued Post()s
// (timers are the latency-critical work: readiness probes while a request is held).
// Time: delays are measured on the loop's Clock (common/clock.h), which the loop watches: when
// a test advances a FakeClock, what became due runs; nothing waits in real time.
// Thread-safety: Post/PostAfter/Kick from any thread (they take mu_, which guards the queues
// and flags; closures run without it). Closures run on the loop thread only.
// Lifecycle: Start() spawns the thread; Stop() runs what is queued, drops delayed closures
// that are not yet due, and joins. Closures must not block for long (they may do control-
// plane I/O: store, netlink, cgroups — never wait for an app).
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <thread>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"

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

  void Start() EXCLUDES(mu_);
  void Stop() EXCLUDES(mu_);
  void Post(std::function<void()> fn) EXCLUDES(mu_);
  void PostAfter(Duration d, std::function<void()> fn) EXCLUDES(mu_);
  // Makes the loop read its clock again (the clock's watch calls it when a FakeClock moves).
  void Kick() EXCLUDES(mu_);
  bool InLoop() const { return std::this_thread::get_id() == thread_.get_id(); }
  // Runs fn on the loop and waits for it (never call from the loop itself).
  void RunSync(const std::function<void()>& fn);

 private:
  void Run() EXCLUDES(mu_);
  // Moves the delayed closures due at `now` to the front of the queue.
  void QueueDueLocked(MonoTime now) REQUIRES(mu_);

  Clock* clock_;
  uint64_t watch_ = 0;
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  std::multimap<MonoTime, std::function<void()>> delayed_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  bool started_ GUARDED_BY(mu_) = false;
  // Not guarded: set by Start (under mu_, before anything runs on the loop) and joined by Stop
  // (the caller owns the loop's lifecycle: Start and Stop do not race); InLoop reads its id.
  std::thread thread_;
};

}  // namespace privcast::daemon
