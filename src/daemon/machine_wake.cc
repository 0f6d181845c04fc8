// MachineManager: the proxy's wake and autostop requests, DNS pre-warm, and driving the
// Readiness prober on the control loop (readiness.h).
#include "daemon/machine_manager.h"

#include <algorithm>

#include "common/log.h"
#include "common/service_scope.h"

namespace privcast::daemon {

using store::Machine;
using store::MachineState;
using S = store::MachineState;

void MachineManager::Wake(const std::string& machine_id, uint16_t internal_port, proxy::Poster* reply_to,
                          std::function<void(Status)> done) {
  Waiter w{internal_port, reply_to, std::move(done), clock_->Now() + opts_.wake_timeout};
  loop_->Post([this, machine_id, w = std::move(w)]() mutable { HandleWake(machine_id, std::move(w)); });
}

void MachineManager::HandleWake(const std::string& id, Waiter w) {
  PC_CHECK(loop_->InLoop());  // the manager's state is the control thread's alone
  ++wakes_;
  if (shut_down_) {
    auto done = std::move(w.done);
    w.poster->Post([done] { done(Unavailable("privcastd is shutting down")); });
    return;
  }
  auto it = machines_.find(id);
  if (it == machines_.end()) {
    if (WakeRemote(id, w)) return;
    auto done = std::move(w.done);
    w.poster->Post([done, id] { done(NotFound("no machine " + id + " on this host")); });
    return;
  }
  Machine m = it->second;
  Rt& rt = rt_[id];
  if (m.state == S::kStarted && readiness_.ReadyOn(id, w.port)) {
    auto done = std::move(w.done);
    w.poster->Post([done] { done(Status::Ok()); });
    return;
  }
  readiness_.AddWaiter(id, std::move(w));
  switch (m.state) {
    case S::kSuspended:
      if (ResumeFirst(m)) break;
      [[fallthrough]];
    case S::kStopped:
    case S::kCreated: {
      // The proxy writes "Starting machine …" / "… started in … ms" to the app log itself.
      bool resume = m.state == S::kSuspended;
      log::Info("proxy", resume ? "resuming machine" : "starting machine", {{"machine", id}, {"app", m.app}});
      auto t = Transition(id, {m.state}, S::kStarting, resume ? "resumed by proxy" : "started by proxy");
      if (t.ok()) {
        LaunchMachine(t.value());
      } else {
        readiness_.Fail(id, t.status());
      }
      break;
    }
    case S::kStopping:
    case S::kSuspending:
      rt.wake_pending = true;
      break;
    case S::kStarting:
      LaunchMachine(m);
      break;
    case S::kStarted:
      if (!readiness_.Probing(id)) {
        readiness_.Retry(id);
        StartProbing(id);
      }
      break;
    default:
      readiness_.Fail(id, FailedPrecondition("machine " + id + " is " + store::MachineStateName(m.state) +
                                             (m.last_event.empty() ? "" : " (" + m.last_event + ")")));
  }
}

bool MachineManager::ResumeFirst(const Machine& m) {
  // A frozen app still listens: thawing it is all a waiting connection needs. Release the
  // waiters first and write the store after (two writes off the connection's path). A crash
  // in between leaves a running machine recorded as suspended; the next wake thaws it again,
  // which is harmless.
  if (!runtime_->IsSuspended(m.id)) return false;
  auto t0 = clock_->Now();
  if (!runtime_->Resume(m.id).ok()) return false;  // the start path below reports it
  log::Info("proxy", "resumed machine", {{"machine", m.id}, {"app", m.app}});
  readiness_.Answer(m.id, PortsFor(m));
  auto t = Transition(m.id, {S::kSuspended}, S::kStarting, "resumed by proxy");
  if (t.ok()) t = Transition(m.id, {S::kStarting}, S::kStarted, "resumed");
  if (!t.ok())
    log::Warn("daemon", "resumed machine not recorded", {{"machine", m.id}, {"error", t.status().message()}});
  NoteEvent(m.app, "proxy", "machine " + m.id + " resumed in " + MillisText(clock_->Now() - t0) + " ms");
  Publish();
  return true;
}

void MachineManager::Stop(const std::string& machine_id, bool suspend, const std::string& reason) {
  loop_->Post([this, machine_id, suspend, reason] { HandleStop(machine_id, suspend, reason); });
}

void MachineManager::Prewarm(const std::string& app, const std::string& service) {
  loop_->Post([this, app, service] {
    if (shut_down_) return;
    const AppPlan* plan = PlanFor(app);
    if (!plan) return;
    // <service>.svc.<app>.flycast wakes only that service's machines (ADR 0013).
    std::vector<ServiceSpec> scope = plan->info.services;
    if (!service.empty()) {
      auto s = ServiceScope(plan->info.services, plan->info.process_groups, service);
      if (!s) return;
      scope = std::move(*s);
    }
    bool auto_start = false;
    for (const auto& svc : scope) auto_start |= svc.auto_start;
    if (!auto_start) return;
    const Machine* pick = nullptr;
    for (const auto& kv : machines_) {
      const Machine& m = kv.second;  // not a structured binding: clang 14 cannot capture those
      if (m.app != app || !m.carries_services) continue;
      if (!std::any_of(scope.begin(), scope.end(),
                       [&](const ServiceSpec& s) { return ServesGroup(s, m.process_group); }))
        continue;
      if (m.state == S::kStarted || m.state == S::kStarting) return;  // something runs already
      if (m.state == S::kStopped || m.state == S::kSuspended || m.state == S::kCreated) {
        if (!pick || (m.region == opts_.region && pick->region != opts_.region) ||
            (m.state == S::kSuspended && pick->state != S::kSuspended))
          pick = &m;
      }
    }
    if (!pick) return;
    ++prewarms_;
    Machine m = *pick;
    readiness_.MarkPrewarm(m.id);
    NoteEvent(app, "proxy",
              "Starting machine " + m.id + " (pre-warmed by a DNS lookup" +
                  (service.empty() ? std::string() : " of " + service + ".svc." + app + ".flycast") + ")");
    auto t = Transition(m.id, {m.state}, S::kStarting, "pre-warmed by DNS lookup");
    if (t.ok()) LaunchMachine(t.value());
  });
}

void MachineManager::HandleStop(const std::string& id, bool suspend, const std::string& reason) {
  PC_CHECK(loop_->InLoop());  // the manager's state is the control thread's alone
  if (shut_down_) return;
  auto it = machines_.find(id);
  if (it == machines_.end() || it->second.state != S::kStarted) return;
  if (readiness_.HasWaiters(id)) return;  // someone is waiting for it: not idle
  ++autostops_;
  // The proxy's autostop writes "stopping <id> (idle …)" to the app log itself.
  auto t = Transition(id, {S::kStarted}, suspend ? S::kSuspending : S::kStopping, reason);
  if (t.ok()) Act(t.value());
  Publish();
}

void MachineManager::StartProbing(const std::string& id) {
  auto it = machines_.find(id);
  if (it == machines_.end()) return;
  if (readiness_.Start(id, PortsFor(it->second))) ProbeTick(1);
}

void MachineManager::ProbeTick(uint64_t step) {
  Readiness::TickResult r = readiness_.Tick(step);
  if (r.changed) Publish();
  if (r.next == 0 || probe_scheduled_) return;
  probe_scheduled_ = true;
  loop_->PostAfter(opts_.probe_interval * r.next, [this, next = r.next, life = std::weak_ptr<char>(life_)] {
    if (life.expired()) return;  // this manager is gone (a new one runs on the loop)
    probe_scheduled_ = false;
    if (!shut_down_) ProbeTick(next);
  });
}

}  // namespace privcast::daemon
