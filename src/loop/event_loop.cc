#include "loop/event_loop.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "common/log.h"

namespace privcast::loop {

EventLoop::EventLoop(Clock* clock) : clock_(clock), now_(clock->Now()) {
  posted_handler_.loop = this;
  // A FakeClock that moves wakes the loop (an empty closure), which then reads the new time.
  watch_ = clock_->Watch([this] { Post([] {}); });
}

EventLoop::~EventLoop() { clock_->Unwatch(watch_); }

Status EventLoop::Init() {
  epfd_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epfd_) return ErrnoStatus("epoll_create1", errno);
  evfd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!evfd_) return ErrnoStatus("eventfd", errno);
  if (!Add(evfd_.get(), EPOLLIN, &posted_handler_)) return ErrnoStatus("epoll_ctl(eventfd)", errno);
  return Status::Ok();
}

bool EventLoop::Add(int fd, uint32_t events, EventHandler* h) {
  PC_LOOP_DCHECK_THREAD(this);
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  return ::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::Modify(int fd, uint32_t events, EventHandler* h) {
  PC_LOOP_DCHECK_THREAD(this);
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  return ::epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::Del(int fd) {
  PC_LOOP_DCHECK_THREAD(this);
  ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::Post(std::function<void()> fn) {
  {
    MutexLock l(&mu_);
    posted_.push_back(std::move(fn));
  }
  // One eventfd write per burst: the loop clears wake_pending_ before draining.
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    uint64_t one = 1;
    ssize_t r = ::write(evfd_.get(), &one, sizeof one);
    (void)r;  // the counter cannot overflow with one write per burst
  }
}

void EventLoop::RunPosted() {
  uint64_t v;
  ssize_t r = ::read(evfd_.get(), &v, sizeof v);
  (void)r;  // EAGAIN: Stop() or a racing Post already drained it
  wake_pending_.store(false, std::memory_order_release);
  std::vector<std::function<void()>> batch;
  {
    MutexLock l(&mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

EventLoop::TimerId EventLoop::AddTimer(MonoTime when, std::function<void()> fn) {
  PC_LOOP_DCHECK_THREAD(this);
  TimerId id = next_timer_++;
  timers_.push({when, id});
  timer_fns_.emplace(id, std::move(fn));
  return id;
}

void EventLoop::CancelTimer(TimerId id) {
  PC_LOOP_DCHECK_THREAD(this);
  timer_fns_.erase(id);
}

void EventLoop::RunTimers() {
  while (!timers_.empty()) {
    const TimerEntry top = timers_.top();
    auto it = timer_fns_.find(top.id);
    if (it == timer_fns_.end()) {  // cancelled
      timers_.pop();
      continue;
    }
    if (top.when > now_) break;
    timers_.pop();
    auto fn = std::move(it->second);
    timer_fns_.erase(it);
    fn();
  }
}

int EventLoop::TimeoutMs() {
  // Work deferred or output queued by the last closures: do not sleep on it.
  if (!deferred_.empty() || HasOutput()) return 0;
  while (!timers_.empty() && !timer_fns_.count(timers_.top().id)) timers_.pop();
  if (timers_.empty()) return -1;
  auto d = timers_.top().when - now_;
  if (d <= Duration::zero()) return 0;
  // Round up so we never wake just before the deadline and spin.
  return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count() + 1);
}

bool EventLoop::InLoopThread() const {
  return thread_id_.load(std::memory_order_relaxed) == static_cast<uint64_t>(pthread_self());
}

bool EventLoop::InLoopThreadOrIdle() const {
  uint64_t t = thread_id_.load(std::memory_order_relaxed);
  return t == 0 || t == static_cast<uint64_t>(pthread_self());
}

void EventLoop::Run() {
  thread_id_.store(static_cast<uint64_t>(pthread_self()));
  OnRunStart();
  epoll_event events[256];
  RefreshNow();
  while (!stop_.load(std::memory_order_acquire)) {
    int n = ::epoll_wait(epfd_.get(), events, 256, TimeoutMs());
    RefreshNow();
    if (n < 0) {
      if (errno == EINTR) continue;
      log::Error("loop", "epoll_wait failed", {{"errno", errno}});
      break;
    }
    for (int i = 0; i < n; ++i) static_cast<EventHandler*>(events[i].data.ptr)->OnEvents(events[i].events);
    EndOfTurn();
    RunTimers();
    EndOfTurn();
    OnTurnEnd();
  }
  OnRunEnd();
  // Re-armed here, not at the start: a Stop() that came before this Run() began still counts.
  stop_.store(false);
  thread_id_.store(0);
}

void EventLoop::EndOfTurn() {
  // Output first: a write's completion may free or defer; deferred closures may write again.
  // Bounded, so one busy session cannot starve the others' events (TimeoutMs keeps the loop
  // from sleeping on what is left).
  for (int round = 0; round < 16 && (HasOutput() || !deferred_.empty()); ++round) {
    FlushOutput();
    if (deferred_.empty()) continue;
    auto d = std::move(deferred_);
    deferred_.clear();
    for (auto& fn : d) fn();
  }
}

void EventLoop::Stop() {
  stop_.store(true, std::memory_order_release);
  uint64_t one = 1;
  ssize_t r = ::write(evfd_.get(), &one, sizeof one);
  (void)r;  // the loop reads stop_ on its next wakeup whatever the counter holds
}

}  // namespace privcast::loop
