// proxy::EventLoop: a worker's loop::EventLoop (loop/event_loop.h, docs/adr/0001-event-loop.md,
// docs/adr/0019-one-event-loop.md) plus the worker's io_uring write batch (ADR 0006).
//
// Everything about registration, posting, timers, Defer/Retire, Now() and threads is the common
// loop's contract; this class only adds sends(): sessions queue their writes there
// (proxy/send_batch.h) and, after each batch of events, the loop issues them all in one
// io_uring_enter, then runs deferred closures, and repeats while either produced more
// (bounded), so a turn ends with nothing queued. Timers run on the proxy's Clock. Each wakeup
// ends by telling the worker's load governor (batch_when_busy.h), when it has one.
//
// Thread-safety: as loop::EventLoop; sends() is loop-thread only.
#pragma once

#include "common/clock.h"
#include "common/result.h"
#include "loop/event_loop.h"
#include "proxy/batch_when_busy.h"
#include "proxy/send_batch.h"
#include "proxy/waker.h"

namespace privcast::proxy {

using EventHandler = loop::EventHandler;

class EventLoop final : public loop::EventLoop {
 public:
  explicit EventLoop(Clock* clock = RealClock::Get()) : loop::EventLoop(clock) {}

  // batch_sends: Run() sets up sends() (io_uring) on the loop thread and closes it when it
  // returns; where that fails, or outside Run, sends().enabled() is false and writers send()
  // directly.
  Status Init(bool batch_sends = true) {
    batch_sends_ = batch_sends;
    return loop::EventLoop::Init();
  }
  SendBatch& sends() { return sends_; }
  // The worker's load governor, told of every wakeup (nullptr: none). Set before Run().
  void set_governor(BatchWhenBusy* g) { governor_ = g; }

 private:
  void OnRunStart() override;
  void OnRunEnd() override { sends_.Shutdown(); }  // what is queued goes out; then send() directly
  bool HasOutput() const override { return !sends_.empty(); }
  void FlushOutput() override { sends_.Flush(); }
  void OnTurnEnd() override {
    if (governor_ != nullptr) governor_->OnTurn();
  }

  SendBatch sends_;
  bool batch_sends_ = false;
  BatchWhenBusy* governor_ = nullptr;
};

}  // namespace privcast::proxy
