// loop::EventLoop: one raw-epoll loop, owned by exactly one thread (docs/adr/0001-event-loop.md,
// docs/adr/0019-one-event-loop.md). The proxy's workers, the DNS server and the supervisor each
// run one; the proxy adds its io_uring write batch through the turn hooks (proxy/event_loop.h).
//
// Ownership: the loop does not own handlers; whoever registers an fd keeps the handler alive
// until it calls Del(). Handlers that die while an epoll batch is being dispatched must go
// through Retire() or Defer() (their memory is freed after the batch), so a stale event pointer
// from the same batch never reaches freed memory.
//
// Thread-safety: everything except Post() and Stop() is loop-thread only while Run() runs
// (checked in debug builds at the entry points: Add, Modify, Del, AddTimer, CancelTimer, Defer;
// before Run and after it returns the owner may call them from its own thread). Post() is an
// eventfd plus a queue under mu_ (GUARDED_BY); closures run on the loop thread between event
// batches, in FIFO order. Users assert their own entry points (posted closures, callbacks from
// other threads' modules) with PC_LOOP_DCHECK_THREAD / PC_LOOP_CHECK_THREAD below.
//
// Turn: dispatch one epoll batch, then EndOfTurn (the subclass's output, e.g. the proxy's
// batched writes, then deferred closures, repeated while either produced more, bounded), then
// due timers, then EndOfTurn again.
//
// Time: the loop reads its Clock (common/clock.h) once per wakeup; Now() is that reading.
// Timers are a binary heap keyed by deadline that drives the epoll timeout. Cancel is O(1)
// (lazy: the entry is dropped when it reaches the top). Timeouts that re-arm per request keep
// their own deadline field and one heap entry, so the heap sees no per-request churn. The loop
// watches its clock (Clock::Watch): when a test advances a FakeClock, the loop wakes, reads the
// new time and runs what is due; no test sleeps for a timer.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/fd.h"
#include "common/mutex.h"
#include "common/result.h"
#include "common/thread_annotations.h"
#include "loop/poster.h"

// Debug-build check that an entry point runs on the loop's thread (or that the loop is not
// running). Free in release builds: for entry points on a hot path (per request or packet).
#ifdef NDEBUG
#define PC_LOOP_DCHECK_THREAD(loop) ((void)0)
#else
#define PC_LOOP_DCHECK_THREAD(loop) PC_CHECK((loop)->InLoopThreadOrIdle())
#endif
// The same check in every build, for entry points off the hot path (a snapshot applied, a
// drain begun, a wake answered): a relaxed load and a pthread_self() per call.
#define PC_LOOP_CHECK_THREAD(loop) PC_CHECK((loop)->InLoopThreadOrIdle())

namespace privcast::loop {

class EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void OnEvents(uint32_t events) = 0;
};

class EventLoop : public Poster {
 public:
  explicit EventLoop(Clock* clock = RealClock::Get());
  ~EventLoop() override;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Creates the epoll and eventfd descriptors. Before anything else.
  Status Init();

  // Registration (loop thread). Events are EPOLLIN/EPOLLOUT/EPOLLRDHUP...(| EPOLLET).
  bool Add(int fd, uint32_t events, EventHandler* h);
  bool Modify(int fd, uint32_t events, EventHandler* h);
  void Del(int fd);

  // Thread-safe: run fn on the loop thread. Closures posted after Stop() still run if the
  // loop runs again; closures left in the queue when the loop is destroyed are dropped.
  void Post(std::function<void()> fn) EXCLUDES(mu_) override;

  using TimerId = uint64_t;  // never 0
  TimerId AddTimer(MonoTime when, std::function<void()> fn);
  TimerId AddTimerAfter(Duration d, std::function<void()> fn) { return AddTimer(Now() + d, std::move(fn)); }
  void CancelTimer(TimerId id);
  size_t PendingTimers() const { return timer_fns_.size(); }

  // Runs fn after the current batch, in order (frees of dead handlers; a session's "go on"
  // after its turn). The loop does not sleep while a deferred closure is queued.
  void Defer(std::function<void()> fn) {
    PC_LOOP_DCHECK_THREAD(this);
    deferred_.push_back(std::move(fn));
  }
  // Frees a handler after the current batch, which may still hold an event for it (the caller
  // has already Del()'d its fd; a stale event must find the handler inert, not freed).
  template <class T>
  void Retire(std::unique_ptr<T> h) {
    std::shared_ptr<T> keep = std::move(h);
    Defer([keep] {});
  }
  // Runs deferred closures now (outside a batch, the loop not running; used at teardown).
  void FlushDeferred() {
    while (!deferred_.empty()) {
      auto d = std::move(deferred_);
      deferred_.clear();
      for (auto& fn : d) fn();
    }
  }

  // Loop-thread time, refreshed once per wakeup (cheap, good enough for timeouts).
  MonoTime Now() const { return now_; }
  MonoTime RefreshNow() { return now_ = clock_->Now(); }
  Clock* clock() const { return clock_; }

  // Runs until Stop(). Loop thread.
  void Run();
  // Thread-safe. A Stop() before Run() makes that Run() return at once; the next Run() after
  // it returned runs again.
  void Stop();
  bool InLoopThread() const;
  // True on the loop thread, or from any thread while Run() is not running (setup, teardown).
  bool InLoopThreadOrIdle() const;

 protected:
  // Hooks for a loop that buffers output during a turn (the proxy's io_uring write batch).
  // Called on the loop thread: OnRunStart as Run() begins, OnRunEnd as it returns;
  // HasOutput/FlushOutput at the end of every batch (see EndOfTurn).
  virtual void OnRunStart() {}
  virtual void OnRunEnd() {}
  virtual bool HasOutput() const { return false; }
  virtual void FlushOutput() {}
  // Once per wakeup, after the turn's events, output, deferred closures and timers (the proxy's
  // load governor, proxy/batch_when_busy.h).
  virtual void OnTurnEnd() {}

 private:
  void RunPosted() EXCLUDES(mu_);
  void RunTimers();
  void EndOfTurn();
  int TimeoutMs();

  struct PostedHandler final : EventHandler {
    EventLoop* loop;
    void OnEvents(uint32_t) override { loop->RunPosted(); }
  };
  struct TimerEntry {
    MonoTime when;
    TimerId id;
    bool operator>(const TimerEntry& o) const { return when > o.when; }
  };

  Clock* clock_;
  UniqueFd epfd_;
  UniqueFd evfd_;
  PostedHandler posted_handler_;
  Mutex mu_;
  std::vector<std::function<void()>> posted_ GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};
  std::atomic<bool> wake_pending_{false};
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timers_;
  std::unordered_map<TimerId, std::function<void()>> timer_fns_;
  TimerId next_timer_ = 1;
  std::vector<std::function<void()>> deferred_;
  MonoTime now_;
  std::atomic<uint64_t> thread_id_{0};  // pthread_self() of Run(), 0 while not running
  uint64_t watch_ = 0;                  // clock_->Watch handle
};

}  // namespace privcast::loop
