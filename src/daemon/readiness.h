// Readiness: when does a started machine accept connections, and who is told.
//
// Two pieces, split from MachineManager (issue 18):
//   - ReadinessSignal: the one place a machine's readiness outcome (ready, a listener warning,
//     failed to start) is published to threads that wait for it (Deploy, on an API thread).
//     Set() is "lock, record, notify_all" written once. WaitAll's deadline is on the Clock:
//     it watches the clock, so a FakeClock's Advance ends a wait as real time would.
//   - Readiness: the prober. Per machine it keeps the ports found accepting, the proxy's
//     waiting wakes (Waiter) and the probe schedule. Tick() probes every machine due, answers
//     or expires waiters, gives up at the probe deadline and says how many probe intervals
//     until it wants the next tick. It never schedules itself: its owner (MachineManager)
//     posts the next Tick on the control loop, so tests drive it with a FakeClock and direct
//     calls, no sleeps.
//
// Probe schedule: someone waits → every tick (probe interval, 250 µs in the daemon); nobody
// waits (a deploy, a restart) → back off 1, 2, 4 … kIdleProbeGapMax ticks, so a machine that
// never listens does not spin for the whole timeout. Ticks are counted in intervals, not read
// from the clock, so back-off is the same on the real and the fake clock; deadlines (waiter,
// probe) are read from the Clock.
//
// Ownership: ReadinessSignal borrows its Clock; Readiness borrows the Clock and the
// ReadinessSignal (both outlive it) and owns its waiters; every waiter's `done` runs exactly
// once, through its Poster (Answer, Fail, expiry, or FailAll at shutdown).
// Thread-safety: ReadinessSignal is thread-safe. Readiness is single-threaded (the control
// thread); only failures() may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/result.h"
#include "daemon/runtime.h"
#include "proxy/waker.h"

namespace privcast::daemon {

// "12.3": milliseconds with one decimal, as start/resume times read in app events.
std::string MillisText(Duration d);

// A machine's readiness as Deploy reports it.
struct ReadinessOutcome {
  enum class Kind { kReady, kWarning, kFailed };
  Kind kind = Kind::kReady;
  std::string warning;  // kWarning: why the machine is not (fully) reachable
};

class ReadinessSignal {
 public:
  explicit ReadinessSignal(Clock* clock) : clock_(clock) {}

  // Records the outcome of `id` and wakes every waiter.
  void Set(const std::string& id, ReadinessOutcome outcome) EXCLUDES(mu_);
  void Ready(const std::string& id) { Set(id, {ReadinessOutcome::Kind::kReady, {}}); }
  void Failed(const std::string& id) { Set(id, {ReadinessOutcome::Kind::kFailed, {}}); }
  void Warn(const std::string& id, std::string text) { Set(id, {ReadinessOutcome::Kind::kWarning, std::move(text)}); }
  // Forgets outcomes (a deploy wants fresh ones for its machines).
  void Forget(const std::vector<std::string>& ids) EXCLUDES(mu_);
  // Waits (at most `timeout` on the Clock; the caller is an API thread) until every id has an
  // outcome; returns the outcomes known then (an id without one is still unknown).
  [[nodiscard]] std::map<std::string, ReadinessOutcome> WaitAll(const std::vector<std::string>& ids,
                                                                Duration timeout) const EXCLUDES(mu_);

 private:
  bool AllKnownLocked(const std::vector<std::string>& ids) const REQUIRES(mu_);

  Clock* const clock_;
  mutable Mutex mu_;
  mutable CondVar cv_;
  std::map<std::string, ReadinessOutcome> outcomes_ GUARDED_BY(mu_);
};

// A connection held by the proxy until the machine accepts on `port` (0: any started machine).
struct WakeWaiter {
  uint16_t port = 0;
  proxy::Poster* poster = nullptr;
  std::function<void(Status)> done;
  MonoTime deadline;
};

class Readiness {
 public:
  // What the prober asks about a machine. nullopt from `target`: not started/starting (or
  // gone) — probing it stops.
  struct Target {
    std::string app;
    std::vector<uint16_t> ports;  // its services' internal ports (empty: nothing to wait for)
  };
  struct Hooks {
    std::function<std::optional<Target>(const std::string& id)> target;
    std::function<Result<bool>(const std::string& id, uint16_t port)> accepts;
    std::function<Result<std::vector<Listener>>(const std::string& id)> listeners;
    // An app event (AppEvents): source is "machine <id>" or "proxy".
    std::function<void(const std::string& app, const std::string& source, const std::string& text)> note;
  };
  struct TickResult {
    bool changed = false;  // some machine became ready: publish routing
    uint64_t next = 0;     // probe intervals until the next tick wanted; 0 = nothing to probe
  };
  // Probing a machine nobody waits for backs off to one probe per this many intervals.
  static constexpr uint64_t kIdleProbeGapMax = 80;

  // probe_timeout: how long a start is probed before "not listening" (the wake timeout).
  Readiness(const Clock* clock, Duration probe_timeout, ReadinessSignal* signal, Hooks hooks);

  // Begins probing `id` (ports: its services'). Nothing to wait for (no ports, no waiter):
  // signals ready at once and returns false; true: the caller should Tick(1) now.
  [[nodiscard]] bool Start(const std::string& id, const std::vector<uint16_t>& ports);
  // One probe round; `step` = probe intervals this tick stands for (1 for a direct call, the
  // `next` of the last result for a scheduled one).
  [[nodiscard]] TickResult Tick(uint64_t step);

  // Per machine facts and transitions (unknown ids are fine: nothing is recorded).
  bool ReadyOn(const std::string& id, uint16_t port) const;
  bool AllReady(const std::string& id, const std::vector<uint16_t>& ports) const;
  bool Probing(const std::string& id) const;
  bool GaveUp(const std::string& id) const;  // the last probing ended at its deadline
  bool HasWaiters(const std::string& id) const;
  void AddWaiter(const std::string& id, WakeWaiter w);
  // A new process: forget what the old one listened on and any warning given for it.
  void Launched(const std::string& id);
  void Exited(const std::string& id);  // its ports stop accepting
  // Probe again after a give-up (someone waits now).
  void Retry(const std::string& id);
  // A DNS pre-warm started it: the "started in … ms (pre-warmed)" event is due when ready.
  void MarkPrewarm(const std::string& id) { st_[id].wake_started = clock_->Now(); }
  // Releases the waiters the machine is ready for (all when it has no ports, port 0).
  void Answer(const std::string& id, const std::vector<uint16_t>& ports);
  // Fails every waiter of `id` with `st`.
  void Fail(const std::string& id, const Status& st);
  void FailAll(const Status& st);
  void Forget(const std::string& id) { st_.erase(id); }
  // Waiters failed so far (expired or failed); any thread.
  uint64_t failures() const { return failures_.load(); }
  void CountFailure() { ++failures_; }

 private:
  struct State {
    std::set<uint16_t> ready_ports;
    std::vector<WakeWaiter> waiters;
    bool probing = false;
    uint32_t probes = 0;
    MonoTime deadline{};
    uint64_t next_idle_tick = 0;  // nobody waits: not before this tick
    uint64_t idle_gap = 1;        // nobody waits: next gap in ticks (doubles)
    MonoTime wake_started{};
    bool warned_6pn = false;
    bool gave_up = false;
    std::string warning;
  };
  // One machine's probe round; adds to `r`.
  void ProbeOne(const std::string& id, State& s, MonoTime now, TickResult& r);
  // Looks at every listener for one that only the 6PN address reaches, to name it.
  void Check6pn(const std::string& id, const Target& t, State& s, uint16_t port);
  void ExpireWaiters(State& s, MonoTime now);

  const Clock* clock_;
  Duration probe_timeout_;
  ReadinessSignal* signal_;
  Hooks hooks_;
  std::unordered_map<std::string, State> st_;
  uint64_t tick_ = 0;  // probe intervals elapsed
  std::atomic<uint64_t> failures_{0};
};

}  // namespace privcast::daemon
