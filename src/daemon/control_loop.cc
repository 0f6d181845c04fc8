#include "daemon/control_loop.h"

#include <future>

#include "common/result.h"

namespace privcast::daemon {

void ControlLoop::Start() {
  MutexLock l(&mu_);
  PC_CHECK(!started_);
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void ControlLoop::Stop() {
  {
    MutexLock l(&mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

void ControlLoop::Post(std::function<void()> fn) {
  {
    MutexLock l(&mu_);
    queue_.push_back(std::move(fn));
  }
  cv_.NotifyOne();
}

void ControlLoop::PostAfter(Duration d, std::function<void()> fn) {
  {
    MutexLock l(&mu_);
    delayed_.emplace(clock_->Now() + d, std::move(fn));
  }
  cv_.NotifyOne();
}

void ControlLoop::Kick() {
  // Under the lock: the loop is either before its clock read or already waiting, never in
  // between (where a bare notify would be lost).
  { MutexLock l(&mu_); }
  cv_.NotifyAll();
}

void ControlLoop::RunSync(const std::function<void()>& fn) {
  PC_CHECK(!InLoop());
  std::promise<void> done;
  Post([&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

void ControlLoop::QueueDueLocked(MonoTime now) {
  // Due timers jump the queue: they are the latency-critical work (readiness probes while
  // a request is held); a queued reconcile can wait a tick.
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    queue_.push_front(std::move(delayed_.begin()->second));
    delayed_.erase(delayed_.begin());
  }
}

void ControlLoop::Run() {
  MutexLock l(&mu_);
  for (;;) {
    const MonoTime now = clock_->Now();
    QueueDueLocked(now);
    if (!queue_.empty()) {
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      l.Unlock();
      fn();
      l.Lock();
      continue;
    }
    if (stopping_) return;
    if (delayed_.empty()) {
      cv_.Wait(&mu_);
    } else {
      // The wait is real time, the due time is the Clock's: a FakeClock's owner Kick()s.
      (void)cv_.WaitFor(&mu_, delayed_.begin()->first - now);
    }
  }
}

}  // namespace privcast::daemon
