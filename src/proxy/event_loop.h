// EventLoop: one raw-epoll loop, owned by exactly one worker thread (docs/adr/0001-event-loop.md).
//
// Ownership: the loop does not own handlers; whoever registers an fd keeps the handler alive
// until it calls Del(). Handlers that die while an epoll batch is being dispatched must go
// through Retire() or Defer() (their memory is freed after the batch), so a stale event pointer
// from the same batch never reaches freed memory.
//
// Thread-safety: everything except Post() and Stop() is loop-thread only. Post() is the Poster
// seam (proxy/waker.h): an eventfd plus a mutex-protected queue; closures run on the loop
// thread between event batches, in FIFO order.
//
// Writes: sessions queue their sends on sends() (proxy/send_batch.h); after each batch of events
// the loop issues them all in one io_uring_enter, then runs deferred closures, and repeats while
// either produced more (bounded), so a turn ends with nothing queued.
//
// Timers: a binary heap keyed by deadline drives the epoll timeout. Cancel is O(1) (lazy: the
// entry is dropped when it reaches the top). Connection timeouts that re-arm per request use
// their own deadline field and one heap entry (Session::SetDeadline in worker.h), so the heap sees no per-request churn.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/fd.h"
#include "common/result.h"
#include "proxy/send_batch.h"
#include "proxy/waker.h"

namespace privcast::proxy {

class EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void OnEvents(uint32_t events) = 0;
};

class EventLoop final : public Poster {
 public:
  EventLoop();
  ~EventLoop() override;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // batch_sends: Run() sets up sends() (io_uring) on the loop thread and closes it when it
  // returns; where that fails, or outside Run, sends().enabled() is false and writers send()
  // directly.
  Status Init(bool batch_sends = true);
  SendBatch& sends() { return sends_; }

  // Registration (loop thread). Events are EPOLLIN/EPOLLOUT/EPOLLRDHUP...; level-triggered.
  bool Add(int fd, uint32_t events, EventHandler* h);
  bool Modify(int fd, uint32_t events, EventHandler* h);
  void Del(int fd);

  // Thread-safe: run fn on the loop thread. Closures posted after Stop() still run if the
  // loop runs again; closures left in the queue when the loop is destroyed are dropped.
  void Post(std::function<void()> fn) override;

  using TimerId = uint64_t;
  TimerId AddTimer(MonoTime when, std::function<void()> fn);
  TimerId AddTimerAfter(Duration d, std::function<void()> fn) { return AddTimer(Now() + d, std::move(fn)); }
  void CancelTimer(TimerId id);
  size_t PendingTimers() const { return timer_fns_.size(); }

  // Runs fn after the current batch, in order (frees of dead handlers; a session's "go on"
  // after its turn). The loop does not sleep while a deferred closure is queued.
  void Defer(std::function<void()> fn) { deferred_.push_back(std::move(fn)); }
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
  MonoTime RefreshNow() { return now_ = std::chrono::steady_clock::now(); }

  // Runs until Stop(). Loop thread.
  void Run();
  // Thread-safe.
  void Stop();
  bool InLoopThread() const;

 private:
  void RunPosted();
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

  UniqueFd epfd_;
  UniqueFd evfd_;
  PostedHandler posted_handler_;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;  // guarded by mu_
  std::atomic<bool> stop_{false};
  std::atomic<bool> wake_pending_{false};
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timers_;
  std::unordered_map<TimerId, std::function<void()>> timer_fns_;
  TimerId next_timer_ = 1;
  std::vector<std::function<void()>> deferred_;
  SendBatch sends_;
  bool batch_sends_ = false;
  MonoTime now_ = std::chrono::steady_clock::now();
  std::atomic<uint64_t> thread_id_{0};
};

}  // namespace privcast::proxy
