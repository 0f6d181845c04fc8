#include "daemon/readiness.h"

#include <algorithm>
#include <cstdio>

#include "common/log.h"

namespace privcast::daemon {

std::string MillisText(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", std::chrono::duration<double, std::milli>(d).count());
  return buf;
}

// ---- ReadinessSignal ------------------------------------------------------------------------

void ReadinessSignal::Set(const std::string& id, ReadinessOutcome outcome) {
  MutexLock l(&mu_);
  outcomes_[id] = std::move(outcome);
  cv_.NotifyAll();
}

void ReadinessSignal::Forget(const std::vector<std::string>& ids) {
  MutexLock l(&mu_);
  for (const auto& id : ids) outcomes_.erase(id);
}

bool ReadinessSignal::AllKnownLocked(const std::vector<std::string>& ids) const {
  for (const auto& id : ids)
    if (!outcomes_.count(id)) return false;
  return true;
}

std::map<std::string, ReadinessOutcome> ReadinessSignal::WaitAll(const std::vector<std::string>& ids,
                                                                 Duration timeout) const {
  const MonoTime deadline = clock_->Now() + timeout;
  // The condition wait is real time; a clock that jumps (FakeClock) wakes it through its watch.
  // Watch and Unwatch are called without mu_: the clock calls the watch holding its own lock.
  const uint64_t watch = clock_->Watch([this] {
    MutexLock l(&mu_);
    cv_.NotifyAll();
  });
  std::map<std::string, ReadinessOutcome> out;
  {
    MutexLock l(&mu_);
    for (MonoTime now = clock_->Now(); !AllKnownLocked(ids) && now < deadline; now = clock_->Now())
      (void)cv_.WaitFor(&mu_, deadline - now);  // woken or not: the loop reads the clock again
    for (const auto& id : ids) {
      auto it = outcomes_.find(id);
      if (it != outcomes_.end()) out[id] = it->second;
    }
  }
  clock_->Unwatch(watch);
  return out;
}

// ---- Readiness ------------------------------------------------------------------------------

Readiness::Readiness(const Clock* clock, Duration probe_timeout, ReadinessSignal* signal, Hooks hooks)
    : clock_(clock), probe_timeout_(probe_timeout), signal_(signal), hooks_(std::move(hooks)) {}

bool Readiness::Start(const std::string& id, const std::vector<uint16_t>& ports) {
  State& s = st_[id];
  if (ports.empty() && s.waiters.empty()) {
    signal_->Ready(id);
    return false;
  }
  s.probing = true;
  s.probes = 0;
  s.idle_gap = 1;
  s.next_idle_tick = 0;
  s.deadline = clock_->Now() + probe_timeout_;
  return true;
}

Readiness::TickResult Readiness::Tick(uint64_t step) {
  tick_ += step;
  const MonoTime now = clock_->Now();
  TickResult r;
  for (auto& [id, s] : st_)
    if (s.probing) ProbeOne(id, s, now, r);
  return r;
}

void Readiness::ProbeOne(const std::string& id, State& s, MonoTime now, TickResult& r) {
  auto want_next = [&r](uint64_t in) {
    if (r.next == 0 || in < r.next) r.next = in;
  };
  // Nobody waits and the back-off says not yet.
  if (s.waiters.empty() && tick_ < s.next_idle_tick && now < s.deadline) return want_next(s.next_idle_tick - tick_);
  std::optional<Target> t = hooks_.target(id);
  if (!t) {
    s.probing = false;
    return;
  }
  std::set<uint16_t> want(t->ports.begin(), t->ports.end());
  for (const auto& w : s.waiters) want.insert(w.port);
  ++s.probes;
  for (uint16_t p : want) {
    if (s.ready_ports.count(p)) continue;
    auto acc = hooks_.accepts(id, p);
    if (acc.ok() && acc.value()) {
      s.ready_ports.insert(p);
      r.changed = true;
      continue;
    }
    // Not reachable yet: every 16th probe (~4 ms) look at every listener.
    if (!s.warned_6pn && s.probes % 16 == 1) Check6pn(id, *t, s, p);
  }
  if (std::all_of(want.begin(), want.end(), [&s](uint16_t p) { return s.ready_ports.count(p) > 0; })) {
    s.probing = false;
    if (s.wake_started != MonoTime{}) {
      hooks_.note(t->app, "proxy",
                  "machine " + id + " started in " + MillisText(now - s.wake_started) + " ms (pre-warmed)");
      s.wake_started = MonoTime{};
    }
    Answer(id, t->ports);
    signal_->Ready(id);
    return;
  }
  ExpireWaiters(s, now);
  if (now >= s.deadline && s.waiters.empty()) {
    s.probing = false;
    s.gave_up = true;
    if (s.warning.empty()) {
      std::string ports;
      for (uint16_t p : want) ports += (ports.empty() ? "" : ",") + std::to_string(p);
      s.warning = "app " + t->app + " machine " + id + " is not listening on port " + ports;
      hooks_.note(t->app, "machine " + id, s.warning);
    }
    signal_->Warn(id, s.warning);
    return;
  }
  if (!s.waiters.empty()) return want_next(1);
  s.next_idle_tick = tick_ + s.idle_gap;
  want_next(s.idle_gap);
  s.idle_gap = std::min<uint64_t>(s.idle_gap * 2, kIdleProbeGapMax);
}

void Readiness::Check6pn(const std::string& id, const Target& t, State& s, uint16_t port) {
  auto ls = hooks_.listeners(id);
  if (!ls.ok()) return;
  std::string only6pn;
  for (const auto& l : ls.value())
    if (l.port == port && !l.reachable) only6pn = "[" + l.address + "]:" + std::to_string(port);
  if (only6pn.empty()) return;
  s.warned_6pn = true;
  s.warning = "app " + t.app + " machine " + id + " listens on " + only6pn +
              " only; flycast cannot reach it: bind 0.0.0.0:" + std::to_string(port) +
              " or [::]:" + std::to_string(port);
  log::Warn("daemon", "app listens only on its 6PN address", {{"app", t.app}, {"machine", id}, {"listener", only6pn}});
  hooks_.note(t.app, "machine " + id, s.warning);
  signal_->Warn(id, s.warning);
}

void Readiness::ExpireWaiters(State& s, MonoTime now) {
  std::vector<WakeWaiter> keep;
  for (auto& w : s.waiters) {
    if (w.deadline > now) {
      keep.push_back(std::move(w));
      continue;
    }
    ++failures_;
    auto done = std::move(w.done);
    w.poster->Post([done] { done(Unavailable("machine did not start listening in time")); });
  }
  s.waiters = std::move(keep);
}

bool Readiness::ReadyOn(const std::string& id, uint16_t port) const {
  auto it = st_.find(id);
  return it != st_.end() && it->second.ready_ports.count(port) > 0;
}

bool Readiness::AllReady(const std::string& id, const std::vector<uint16_t>& ports) const {
  return std::all_of(ports.begin(), ports.end(), [&](uint16_t p) { return ReadyOn(id, p); });
}

bool Readiness::Probing(const std::string& id) const {
  auto it = st_.find(id);
  return it != st_.end() && it->second.probing;
}

bool Readiness::GaveUp(const std::string& id) const {
  auto it = st_.find(id);
  return it != st_.end() && it->second.gave_up;
}

bool Readiness::HasWaiters(const std::string& id) const {
  auto it = st_.find(id);
  return it != st_.end() && !it->second.waiters.empty();
}

void Readiness::AddWaiter(const std::string& id, WakeWaiter w) { st_[id].waiters.push_back(std::move(w)); }

void Readiness::Launched(const std::string& id) {
  State& s = st_[id];
  s.ready_ports.clear();
  s.gave_up = false;
  s.warned_6pn = false;
}

void Readiness::Exited(const std::string& id) {
  auto it = st_.find(id);
  if (it != st_.end()) it->second.ready_ports.clear();
}

void Readiness::Retry(const std::string& id) { st_[id].gave_up = false; }

void Readiness::Answer(const std::string& id, const std::vector<uint16_t>& ports) {
  auto it = st_.find(id);
  if (it == st_.end()) return;
  State& s = it->second;
  auto waiters = std::move(s.waiters);
  s.waiters.clear();
  for (auto& w : waiters) {
    if (!s.ready_ports.count(w.port) && !ports.empty() && w.port != 0) {
      s.waiters.push_back(std::move(w));  // still waiting on another port
      continue;
    }
    auto done = std::move(w.done);
    w.poster->Post([done] { done(Status::Ok()); });
  }
}

void Readiness::Fail(const std::string& id, const Status& st) {
  auto it = st_.find(id);
  if (it == st_.end()) return;
  auto waiters = std::move(it->second.waiters);
  it->second.waiters.clear();
  for (auto& w : waiters) {
    ++failures_;
    auto done = std::move(w.done);
    w.poster->Post([done, st] { done(st); });
  }
}

void Readiness::FailAll(const Status& st) {
  // Shutdown: not counted as wake failures (as before the split).
  for (auto& [id, s] : st_) {
    for (auto& w : s.waiters) {
      auto done = std::move(w.done);
      w.poster->Post([done, st] { done(st); });
    }
    s.waiters.clear();
  }
}

}  // namespace privcast::daemon
