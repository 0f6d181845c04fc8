#include "proxy/batch_when_busy.h"

#include <sched.h>
#include <time.h>

#include <cerrno>
#include <cstdint>

#include "common/log.h"

namespace privcast::proxy {

BatchWhenBusy::Seams BatchWhenBusy::RealSeams() {
  Seams s;
  s.thread_cpu_ns = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  };
  s.apply = [](Mode m) {
    sched_param p{};
    // pid 0: the calling thread (sched_setscheduler(2) acts on a thread id on Linux).
    if (::sched_setscheduler(0, m == Mode::kBatch ? SCHED_BATCH : SCHED_OTHER, &p) == 0) return true;
    log::Warn("proxy", "cannot change the worker's scheduling policy: batching when busy is off", {{"errno", errno}});
    return false;
  };
  return s;
}

BatchWhenBusy::Mode BatchWhenBusy::Next(Mode current, double busy, int64_t sessions, const BatchWhenBusyOptions& o) {
  if (sessions < o.min_sessions) return Mode::kNormal;
  if (current == Mode::kNormal) return busy >= o.enter ? Mode::kBatch : Mode::kNormal;
  return busy < o.leave ? Mode::kNormal : Mode::kBatch;
}

BatchWhenBusy::BatchWhenBusy(loop::EventLoop* loop, BatchWhenBusyOptions o, Seams seams)
    : loop_(loop), opts_(o), seams_(std::move(seams)) {}

BatchWhenBusy::~BatchWhenBusy() { DisarmTimer(); }

void BatchWhenBusy::DisarmTimer() {
  if (timer_ != 0) loop_->CancelTimer(timer_);
  timer_ = 0;
}

void BatchWhenBusy::StartWindow() {
  window_start_ = loop_->Now();
  cpu_start_ns_ = seams_.thread_cpu_ns();
}

void BatchWhenBusy::CloseWindow() {
  PC_LOOP_CHECK_THREAD(loop_);  // once per window: the policy must change on the worker's own thread
  if (!started_) {
    started_ = true;
    return StartWindow();
  }
  const int64_t wall = std::chrono::duration_cast<std::chrono::nanoseconds>(loop_->Now() - window_start_).count();
  const int64_t cpu = seams_.thread_cpu_ns() - cpu_start_ns_;
  const double busy = wall > 0 ? static_cast<double>(cpu) / static_cast<double>(wall) : 0.0;
  const int64_t sessions = seams_.sessions ? seams_.sessions() : INT64_MAX;
  const Mode next = Next(mode_, busy, sessions, opts_);
  if (next != mode_) {
    if (!seams_.apply(next)) {
      enabled_ = false;  // logged by the seam; the thread keeps the policy it has
      return DisarmTimer();
    }
    mode_ = next;
    ++switches_;
  }
  StartWindow();
  // In batch, a timer closes the next window even if no event comes (an idle worker goes back
  // to normal); in normal, traffic's own turns close it (an idle worker has nothing to decide).
  DisarmTimer();
  if (mode_ == Mode::kBatch) {
    timer_ = loop_->AddTimerAfter(opts_.window, [this] {
      timer_ = 0;
      CloseWindow();
    });
  }
}

}  // namespace privcast::proxy
