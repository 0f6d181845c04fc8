// MachineManager: the reconciler core (machine_manager.h): start-up adoption, store changes,
// acting on each machine's recorded state, exits, routing snapshots.
#include "daemon/machine_manager.h"

#include <algorithm>

#include "common/log.h"
#include "store/keys.h"

namespace privcast::daemon {

using store::Machine;
using store::MachineState;
using S = store::MachineState;

MachineManager::MachineManager(store::Registry* registry, MachineRuntime* runtime, ControlLoop* loop, AppEvents* events,
                               Clock* clock, ManagerOptions opts, PlanDecoder decode,
                               std::function<void(SnapshotPtr)> publish)
    : registry_(registry),
      runtime_(runtime),
      loop_(loop),
      events_(events),
      clock_(clock),
      opts_(std::move(opts)),
      decode_(std::move(decode)),
      publish_(std::move(publish)),
      signal_(clock),
      readiness_(clock, opts_.wake_timeout, &signal_, ReadinessHooks()),
      deployer_(registry, loop, &signal_, this, Deployer::Options{opts_.host_id, opts_.region, opts_.deploy_wait}) {}

MachineManager::~MachineManager() = default;

Readiness::Hooks MachineManager::ReadinessHooks() {
  Readiness::Hooks h;
  h.target = [this](const std::string& id) -> std::optional<Readiness::Target> {
    auto it = machines_.find(id);
    if (it == machines_.end() || (it->second.state != S::kStarted && it->second.state != S::kStarting))
      return std::nullopt;
    return Readiness::Target{it->second.app, PortsFor(it->second)};
  };
  h.accepts = [this](const std::string& id, uint16_t port) { return runtime_->Accepts(id, port); };
  h.listeners = [this](const std::string& id) { return runtime_->Listeners(id); };
  h.note = [this](const std::string& app, const std::string& source, const std::string& text) {
    NoteEvent(app, source, text);
  };
  return h;
}

void MachineManager::NoteEvent(const std::string& app, const std::string& source, const std::string& text) {
  if (events_) events_->Append(app, source, text);
}

Status MachineManager::Start() {
  PC_CHECK(loop_->InLoop());
  runtime_->SetExitCallback([this](const ExitInfo& e) { loop_->Post([this, e] { OnExit(e); }); });
  PC_RETURN_IF_ERROR(runtime_->SetupHost());
  PC_RETURN_IF_ERROR(ReloadState());
  // Adopt: machines of this host that should have processes. Iterate a copy: probing an
  // adopted machine may Publish(), which refreshes state_.machines.
  const std::vector<Machine> stored = state_.machines;
  for (const auto& m : stored) {
    if (m.host_id != opts_.host_id) continue;
    machines_[m.id] = m;
    switch (m.state) {
      case S::kStarted:
      case S::kStarting:
      case S::kStopping:
      case S::kSuspending:
      case S::kSuspended: {
        auto plan = BuildPlan(m);
        Result<bool> alive = plan.ok() ? runtime_->Adopt(plan.value()) : Result<bool>(false);
        // A deploy stopping this machine to replace its config was interrupted: the start that
        // would have followed the stop is owed (rt_.restart_after_stop lived only in memory).
        bool deploy_owed = m.state == S::kStopping && m.last_event == kDeployReplacing;
        if (alive.ok() && *alive) {
          log::Info("daemon", "adopted machine",
                    {{"machine", m.id}, {"app", m.app}, {"state", store::MachineStateName(m.state)}});
          if (m.state == S::kStarted) StartProbing(m.id);
          if (deploy_owed) rt_[m.id].restart_after_stop = true;
        } else if (m.auto_destroy) {
          // A throwaway machine (machine run --rm / --shell) that ended while nobody watched.
          log::Info("daemon", "throwaway machine ended while privcastd was down", {{"machine", m.id}, {"app", m.app}});
          auto t = Transition(m.id, {}, S::kDestroying, "ended while privcastd was down");
          if (t.ok()) machines_[m.id] = t.value();
        } else if (deploy_owed) {
          NoteEvent(m.app, "deploy", "resuming the interrupted deploy: starting " + m.id);
          auto t = Transition(m.id, {}, S::kStopped, "stopped while privcastd was down");
          if (t.ok()) (void)Transition(m.id, {S::kStopped}, S::kStarting, "deploy resumed after privcastd restart");
        } else {
          log::Warn("daemon", "machine exited while privcastd was down", {{"machine", m.id}, {"app", m.app}});
          NoteEvent(m.app, "machine " + m.id, "exited while privcastd was down");
          auto t = Transition(m.id, {}, S::kStopped, "exited while privcastd was down");
          if (t.ok() && (m.state == S::kStarted || m.state == S::kStarting)) {
            const AppPlan* plan = PlanFor(m.app);
            const AppPlan::Group* g = plan ? plan->FindGroup(m.process_group) : nullptr;
            supervisor::RestartMode policy = g ? g->restart
                                               : (m.release_version ? supervisor::RestartMode::kOnFailure
                                                                    : supervisor::RestartMode::kNever);
            if (policy != supervisor::RestartMode::kNever && !m.auto_destroy)
              (void)Transition(m.id, {S::kStopped}, S::kStarting, "restarted after privcastd restart");
          }
        }
        break;
      }
      default:
        break;
    }
  }
  ResumeInterruptedDeploys();
  Reconcile();
  ScheduleLogCheck();  // rotation (when limited) and the write-time marks of `privcast logs`
  return Status::Ok();
}

void MachineManager::CheckLogs() {
  if (shut_down_) return;
  std::set<std::string> live;
  for (const auto& [id, m] : machines_) {
    if (m.state == S::kDestroyed || m.state == S::kDestroying) continue;
    std::string path = runtime_->LogPath(id);
    live.insert(path);
    auto r = supervisor::RotateLogIfLarge(path, opts_.log_limits);
    if (!r.ok()) log::Warn("daemon", "machine log rotation", {{"machine", id}, {"error", r.status().message()}});
    else if (*r) log::Debug("daemon", "machine log rotated", {{"machine", id}, {"app", m.app}});
    log_stamper_.Mark(path, clock_->WallUnixMillis());
  }
  log_stamper_.Retain(live);
  ScheduleLogCheck();
}

void MachineManager::ScheduleLogCheck() {
  loop_->PostAfter(opts_.log_check_interval, [this, life = std::weak_ptr<char>(life_)] {
    if (!life.expired()) CheckLogs();
  });
}

void MachineManager::Shutdown() {
  PC_CHECK(loop_->InLoop());
  shut_down_ = true;
  readiness_.FailAll(Unavailable("privcastd is shutting down"));
  runtime_->Detach();
  runtime_->TeardownHost();
}

void MachineManager::NotifyStoreChanged(int64_t revision) {
  {
    MutexLock l(&notify_mu_);
    if (revision <= 0) notify_force_ = true;
    notify_revision_ = std::max(notify_revision_, revision);
  }
  if (reconcile_pending_.exchange(true)) return;
  loop_->Post([this] {
    reconcile_pending_ = false;
    int64_t rev;
    bool force;
    {
      MutexLock l(&notify_mu_);
      rev = notify_revision_;
      force = notify_force_;
      notify_force_ = false;
    }
    if (shut_down_) return;
    if (!force && OnlyOwnWritesThrough(rev)) return;
    Reconcile();
  });
}

bool MachineManager::OnlyOwnWritesThrough(int64_t rev) {
  if (rev <= seen_revision_) return true;
  if (rev - seen_revision_ > static_cast<int64_t>(own_revisions_.size())) return false;
  for (int64_t r = seen_revision_ + 1; r <= rev; ++r)
    if (!own_revisions_.count(r)) return false;
  seen_revision_ = rev;
  own_revisions_.erase(own_revisions_.begin(), own_revisions_.upper_bound(rev));
  return true;
}

Result<Machine> MachineManager::Transition(const std::string& id, const std::vector<MachineState>& from,
                                           MachineState to, const std::string& event) {
  auto r = registry_->TransitionMachine(id, from, to, event);
  if (r.ok()) {
    own_revisions_.insert(r->mod_revision);
    machines_[id] = r.value();
    log::Debug("daemon", "machine transition", {{"machine", id}, {"to", store::MachineStateName(to)}, {"why", event}});
  }
  return r;
}

const AppPlan* MachineManager::PlanFor(const std::string& app) {
  const store::Release* rel = nullptr;
  for (const auto& r : state_.current_releases)
    if (r.app == app) rel = &r;
  if (!rel) return nullptr;
  auto it = plans_.find(app);
  if (it != plans_.end() && it->second.first == rel->version) return it->second.second.get();
  auto plan = decode_(*rel);
  if (!plan.ok()) {
    log::Error("daemon", "cannot decode release", {{"app", app}, {"error", plan.status().message()}});
    return nullptr;
  }
  auto sp = std::make_shared<AppPlan>(std::move(plan).value());
  plans_[app] = {rel->version, sp};
  return sp.get();
}

std::vector<uint16_t> MachineManager::PortsFor(const Machine& m) {
  // Throwaway machines (machine run --shell / --rm) are clients, never backends, and a
  // machine that carries no services (machine run) takes no service traffic: nothing waits
  // for them to listen.
  if (m.auto_destroy || !m.carries_services) return {};
  const AppPlan* plan = PlanFor(m.app);
  if (!plan) return {};
  const AppPlan::Group* g = plan->FindGroup(m.process_group);
  return g ? g->internal_ports : std::vector<uint16_t>{};
}

bool MachineManager::IsReady(const Machine& m) { return readiness_.AllReady(m.id, PortsFor(m)); }

Status MachineManager::ReloadState() {
  auto st = registry_->LoadState();
  if (!st.ok()) return st.status();
  state_ = std::move(st).value();
  SyncVolumes();
  return Status::Ok();
}

void MachineManager::Reconcile() {
  if (Status st = ReloadState(); !st.ok()) {
    log::Error("daemon", "cannot load state", {{"error", st.message()}});
    return;
  }
  seen_revision_ = std::max(seen_revision_, state_.revision);
  own_revisions_.erase(own_revisions_.begin(), own_revisions_.upper_bound(seen_revision_));
  std::unordered_map<std::string, Machine> now;
  for (const auto& m : state_.machines)
    if (m.host_id == opts_.host_id) now[m.id] = m;
  // Machines whose records vanished (app destroyed): make sure nothing is left behind.
  for (auto& [id, old] : machines_) {
    if (!now.count(id)) {
      (void)runtime_->Destroy(old);
      readiness_.Fail(id, NotFound("machine " + id + " was destroyed"));
      readiness_.Forget(id);
      rt_.erase(id);
      attached_.erase(id);
    }
  }
  machines_ = std::move(now);
  SyncPeers();
  SyncHost();
  std::vector<Machine> todo;
  for (const auto& [id, m] : machines_) todo.push_back(m);
  for (const auto& m : todo) Act(m);
  Publish();
}

void MachineManager::Act(const Machine& m) {
  Rt& rt = rt_[m.id];
  switch (m.state) {
    case S::kStarting:
      LaunchMachine(m);
      break;
    case S::kStarted:
      if (!runtime_->IsRunning(m.id) && !runtime_->IsSuspended(m.id)) {
        // Lost its process without an exit event (should not happen; be safe).
        (void)Transition(m.id, {S::kStarted}, S::kStopped, "process not found");
      } else if (!IsReady(m) && !readiness_.Probing(m.id) && !readiness_.GaveUp(m.id)) {
        StartProbing(m.id);
      }
      break;
    case S::kStopping:
      // A deploy (maybe on another host) stops it to start it again on the new release.
      if (m.last_event == kDeployReplacing) rt.restart_after_stop = true;
      if (!runtime_->IsRunning(m.id)) {
        if (runtime_->IsSuspended(m.id)) (void)runtime_->Resume(m.id);
        if (!runtime_->IsRunning(m.id)) (void)Transition(m.id, {S::kStopping}, S::kStopped, "stopped");
      } else {
        const AppPlan* plan = PlanFor(m.app);
        KillSignal sig = plan ? plan->info.kill_signal : KillSignal::Interrupt();
        auto timeout = std::chrono::milliseconds(plan ? plan->info.kill_timeout_ms : 5000);
        if (runtime_->IsSuspended(m.id)) (void)runtime_->Resume(m.id);
        auto st = runtime_->Stop(m.id, sig, timeout);
        if (!st.ok()) log::Warn("daemon", "stop failed", {{"machine", m.id}, {"error", st.message()}});
      }
      break;
    case S::kSuspending: {
      if (!runtime_->IsRunning(m.id)) {
        (void)Transition(m.id, {S::kSuspending}, S::kStopped, "not running");
        break;
      }
      auto st = runtime_->Suspend(m.id);
      if (st.ok()) {
        (void)Transition(m.id, {S::kSuspending}, S::kSuspended, "suspended");
        NoteEvent(m.app, "proxy", "machine " + m.id + " suspended");
      } else {
        log::Warn("daemon", "suspend failed; stopping instead", {{"machine", m.id}, {"error", st.message()}});
        (void)Transition(m.id, {S::kSuspending}, S::kStarted, "suspend failed: " + st.message());
      }
      break;
    }
    case S::kStopped:
    case S::kSuspended:
      if (rt.wake_pending || rt.restart_after_stop || readiness_.HasWaiters(m.id)) {
        rt.wake_pending = false;
        rt.restart_after_stop = false;
        auto t = Transition(m.id, {m.state}, S::kStarting, "started again");
        if (t.ok()) LaunchMachine(t.value());
      }
      break;
    case S::kDestroying: {
      readiness_.Fail(m.id, NotFound("machine " + m.id + " is being destroyed"));
      auto st = runtime_->Destroy(m);
      if (!st.ok()) {
        log::Error("daemon", "destroy failed", {{"machine", m.id}, {"error", st.message()}});
        break;
      }
      NoteEvent(m.app, "machine " + m.id, "destroyed");
      auto on_exit = TakeExitListeners(m.id);
      rt_.erase(m.id);
      attached_.erase(m.id);
      readiness_.Forget(m.id);
      (void)registry_->DeleteMachine(m.id);
      machines_.erase(m.id);
      for (auto& f : on_exit) f(-1);
      break;
    }
    default:
      break;
  }
}

void MachineManager::OnExit(const ExitInfo& e) {
  PC_CHECK(loop_->InLoop());  // posted by the exit callback (Start)
  auto it = machines_.find(e.machine_id);
  if (it == machines_.end()) return;
  Machine m = it->second;
  readiness_.Exited(m.id);
  std::string what = e.code >= 0 ? "exited with code " + std::to_string(e.code) : "exited";
  NoteEvent(m.app, "machine " + m.id, what + (e.restarting ? " (restarting)" : ""));
  if (e.restarting) {
    StartProbing(m.id);
    Publish();
    return;
  }
  auto on_exit = TakeExitListeners(m.id);
  if (m.state == S::kDestroying) {
    // Whoever recorded `destroying` acted on it already (Act: destroy, delete the record).
  } else if (m.auto_destroy) {
    // Act now: the manager's own transitions trigger no reconcile (NotifyStoreChanged).
    auto t = Transition(m.id, {}, S::kDestroying, what);
    if (t.ok()) Act(t.value());
  } else if (m.state == S::kStarted || m.state == S::kStopping || m.state == S::kStarting ||
             m.state == S::kSuspending) {
    auto t = Transition(m.id, {}, S::kStopped, m.state == S::kStopping ? "stopped" : what);
    if (t.ok()) {
      Act(t.value());  // a pending wake restarts it at once
      if (m.state == S::kStopping) NoteEvent(m.app, "proxy", "machine " + m.id + " stopped");
    }
  } else if (m.state == S::kStopped) {
    // A reconcile saw the process gone before this event and recorded `stopped` itself
    // (Act, kStopping); a restart owed (a deploy's) or a wake waiting happens now that the
    // exit is handled — not there, where this old process's exit was still to come.
    Act(m);
  }
  for (auto& f : on_exit) f(e.code);
  Publish();
}

void MachineManager::Publish() {
  // machines_ is the freshest view of this host's machines (every transition updates it);
  // state_ may predate machines created or deleted since the last full reload.
  std::vector<Machine> merged;
  for (const auto& m : state_.machines)
    if (m.host_id != opts_.host_id) merged.push_back(m);
  for (const auto& [id, m] : machines_) merged.push_back(m);
  std::sort(merged.begin(), merged.end(), [](const Machine& a, const Machine& b) { return a.id < b.id; });
  state_.machines = std::move(merged);
  Snapshot s = BuildSnapshot(
      state_, opts_.host_id, opts_.region,
      [this](const store::Release& r) -> Result<ReleaseInfo> {
        const AppPlan* p = PlanFor(r.app);
        if (!p) return InvalidArgument("release " + std::to_string(r.version) + " does not decode");
        return p->info;
      },
      live_peers_);
  // The store says `started` once the process runs; routing wants "accepts connections".
  for (auto& mv : s.machines) {
    auto it = machines_.find(mv.id);
    if (it == machines_.end()) continue;
    mv.state = ToRunState(it->second.state);
    if (mv.state == MachineRunState::kStarted && !IsReady(it->second)) mv.state = MachineRunState::kStarting;
  }
  auto sp = std::make_shared<const Snapshot>(std::move(s));
  {
    MutexLock l(&snap_mu_);
    snapshot_ = sp;
  }
  if (publish_) publish_(sp);
}

SnapshotPtr MachineManager::snapshot() const {
  MutexLock l(&snap_mu_);
  return snapshot_;
}

std::string MachineManager::LogPath(const std::string& machine_id) { return runtime_->LogPath(machine_id); }

std::string MachineManager::MetricsText() const {
  std::string out;
  out += "# TYPE privcast_wakes_total counter\nprivcast_wakes_total " + std::to_string(wakes_.load()) + "\n";
  out += "# TYPE privcast_wake_failures_total counter\nprivcast_wake_failures_total " +
         std::to_string(readiness_.failures()) + "\n";
  out += "# TYPE privcast_autostops_total counter\nprivcast_autostops_total " + std::to_string(autostops_.load()) +
         "\n";
  out += "# TYPE privcast_dns_prewarm_starts_total counter\nprivcast_dns_prewarm_starts_total " +
         std::to_string(prewarms_.load()) + "\n";
  out += "# TYPE privcast_machine_starts_total counter\nprivcast_machine_starts_total " +
         std::to_string(starts_.load()) + "\n";
  return out;
}

}  // namespace privcast::daemon
