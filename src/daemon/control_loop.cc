#include "daemon/control_loop.h"

#include <future>

#include "common/result.h"

namespace privcast::daemon {

void ControlLoop::Start() {
  std::lock_guard<std::mutex> l(mu_);
  PC_CHECK(!started_);
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void ControlLoop::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ControlLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(std::move(fn));
  }
  cv_.notify_one();
}

void ControlLoop::PostAfter(Duration d, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    delayed_.emplace(clock_->Now() + d, std::move(fn));
  }
  cv_.notify_one();
}

void ControlLoop::Kick() {
  // Under the lock: the loop is either before its clock read or already waiting, never in
  // between (where a bare notify would be lost).
  { std::lock_guard<std::mutex> l(mu_); }
  cv_.notify_all();
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

void ControlLoop::Run() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    const MonoTime now = clock_->Now();
    // Due timers jump the queue: they are the latency-critical work (readiness probes while
    // a request is held); a queued reconcile can wait a tick.
    while (!delayed_.empty() && delayed_.begin()->first <= now) {
      queue_.push_front(std::move(delayed_.begin()->second));
      delayed_.erase(delayed_.begin());
    }
    if (!queue_.empty()) {
      auto fn = std::move(queue_.front());
      queue_.pop_front();
      l.unlock();
      fn();
      l.lock();
      continue;
    }
    if (stopping_) return;
    if (delayed_.empty()) {
      cv_.wait(l);
    } else {
      // The wait is real time, the due time is the Clock's: a FakeClock's owner Kick()s.
      cv_.wait_for(l, delayed_.begin()->first - now);
    }
  }
}

}  // namespace privcast::daemon
