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

void ControlLoop::PostAfter(std::chrono::steady_clock::duration d, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    delayed_.emplace(std::chrono::steady_clock::now() + d, std::move(fn));
  }
  cv_.notify_one();
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
    auto now = std::chrono::steady_clock::now();
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
      cv_.wait_until(l, delayed_.begin()->first);
    }
  }
}

}  // namespace privcast::daemon
