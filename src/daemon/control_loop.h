// ControlLoop: the daemon's control thread — a FIFO of closures run one at a time, plus
// delayed closures. Everything that mutates machines (reconcile, wakes, exits, autostop)
// runs here, so that logic needs no locks of its own.
//
// Ordering: Post() is FIFO; a PostAfter() closure that is due runs before queued Post()s
// (timers are the latency-critical work: readiness probes while a request is held).
// Thread-safety: Post/PostAfter from any thread. Closures run on the loop thread only.
// Lifecycle: Start() spawns the thread; Stop() runs what is queued, drops delayed closures
// that are not yet due, and joins. Closures must not block for long (they may do control-
// plane I/O: store, netlink, cgroups — never wait for an app).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace privcast::daemon {

class ControlLoop {
 public:
  ControlLoop() = default;
  ~ControlLoop() { Stop(); }
  ControlLoop(const ControlLoop&) = delete;
  ControlLoop& operator=(const ControlLoop&) = delete;

  void Start();
  void Stop();
  void Post(std::function<void()> fn);
  void PostAfter(std::chrono::steady_clock::duration d, std::function<void()> fn);
  bool InLoop() const { return std::this_thread::get_id() == thread_.get_id(); }
  // Runs fn on the loop and waits for it (never call from the loop itself).
  void RunSync(const std::function<void()>& fn);

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> delayed_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace privcast::daemon
