#include "daemon/machine_manager.h"

#include <algorithm>
#include <tuple>
#include <cstdio>
#include <cstring>
#include <future>

#include "common/log.h"
#include "common/service_scope.h"
#include "daemon/plan.h"
#include "store/keys.h"

namespace privcast::daemon {

using store::Machine;
using store::MachineState;
using S = store::MachineState;

namespace {
// readiness_ value of a machine whose start failed (its record says why).
constexpr const char* kReadinessFailed = "failed";
// The last_event of a failed machine: this prefix, then the error.
constexpr const char* kFailedToStart = "failed to start: ";

// Deploy and scale manage (count, update, replace, destroy) the machines of a release that
// carry its services; machines from `machine run` are the user's.
// The last_event of a machine a deploy stops to start it again with the new release.
constexpr const char* kDeployReplacing = "deploy: replacing config";

bool IsDeployManaged(const Machine& m) { return m.release_version != 0 && m.carries_services && !m.auto_destroy; }

std::string Ms(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", std::chrono::duration<double, std::milli>(d).count());
  return buf;
}
}  // namespace

const AppPlan::Group* AppPlan::FindGroup(const std::string& name) const {
  for (const auto& g : groups)
    if (g.name == name) return &g;
  return nullptr;
}

MachineManager::MachineManager(store::Registry* registry, MachineRuntime* runtime, ControlLoop* loop,
                               AppEvents* events, const Clock* clock, ManagerOptions opts, PlanDecoder decode,
                               std::function<void(SnapshotPtr)> publish)
    : registry_(registry),
      runtime_(runtime),
      loop_(loop),
      events_(events),
      clock_(clock),
      opts_(std::move(opts)),
      decode_(std::move(decode)),
      publish_(std::move(publish)) {
  snapshot_ = std::make_shared<Snapshot>();
}

MachineManager::~MachineManager() = default;

void MachineManager::NoteEvent(const std::string& app, const std::string& source, const std::string& text) {
  if (events_) events_->Append(app, source, text);
}

Status MachineManager::Start() {
  PC_CHECK(loop_->InLoop());
  runtime_->SetExitCallback([this](const ExitInfo& e) { loop_->Post([this, e] { OnExit(e); }); });
  PC_RETURN_IF_ERROR(runtime_->SetupHost());
  auto st = registry_->LoadState();
  if (!st.ok()) return st.status();
  state_ = std::move(st).value();
  SyncVolumes();
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
          log::Info("daemon", "adopted machine", {{"machine", m.id}, {"app", m.app}, {"state", store::MachineStateName(m.state)}});
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
            std::string policy = g ? g->restart_policy : (m.release_version ? "on-failure" : "never");
            if (policy != "never" && !m.auto_destroy)
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

void MachineManager::ResumeInterruptedDeploys() {
  // A deploy moves an app's machines to its new release one by one; one that a daemon stop
  // cut short leaves some on the old release. Finish it now, with as many machines per
  // process group as the app has.
  std::map<std::string, std::map<std::string, int>> groups;  // app → process group → machines
  std::set<std::string> behind;
  for (const auto& [id, m] : machines_) {
    if (!IsDeployManaged(m) || m.state == S::kDestroying || m.state == S::kDestroyed) continue;
    ++groups[m.app][m.process_group];
    for (const auto& r : state_.current_releases)
      if (r.app == m.app && r.version != m.release_version) behind.insert(m.app);
  }
  for (const auto& name : behind) {
    const store::App* app = nullptr;
    const store::Release* release = nullptr;
    for (const auto& a : state_.apps)
      if (a.name == name) app = &a;
    for (const auto& r : state_.current_releases)
      if (r.app == name) release = &r;
    if (!app || !release) continue;
    int count = 1;
    for (const auto& [group, n] : groups[name]) count = std::max(count, n);
    NoteEvent(name, "deploy", "resuming the interrupted deploy of release v" + std::to_string(release->version));
    log::Info("daemon", "resuming an interrupted deploy", {{"app", name}, {"version", release->version}});
    store::App a = *app;  // ReconcileAppMachines reloads state_
    store::Release r = *release;
    auto out = ReconcileAppMachines(a, r, count);
    if (!out.ok())
      log::Error("daemon", "cannot resume the interrupted deploy", {{"app", name}, {"error", out.status().message()}});
  }
}

void MachineManager::Shutdown() {
  PC_CHECK(loop_->InLoop());
  shut_down_ = true;
  for (auto& [id, rt] : rt_) {
    for (auto& w : rt.waiters) {
      auto done = std::move(w.done);
      w.poster->Post([done] { done(Unavailable("privcastd is shutting down")); });
    }
    rt.waiters.clear();
  }
  runtime_->Detach();
  runtime_->TeardownHost();
}

void MachineManager::NotifyStoreChanged(int64_t revision) {
  {
    std::lock_guard<std::mutex> l(notify_mu_);
    if (revision <= 0) notify_force_ = true;
    notify_revision_ = std::max(notify_revision_, revision);
  }
  if (reconcile_pending_.exchange(true)) return;
  loop_->Post([this] {
    reconcile_pending_ = false;
    int64_t rev;
    bool force;
    {
      std::lock_guard<std::mutex> l(notify_mu_);
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

Result<Machine> MachineManager::Transition(const std::string& id, std::vector<MachineState> from, MachineState to,
                                           const std::string& event) {
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

bool MachineManager::IsReady(const Machine& m) {
  auto ports = PortsFor(m);
  auto it = rt_.find(m.id);
  for (uint16_t p : ports)
    if (it == rt_.end() || !it->second.ready_ports.count(p)) return false;
  return true;
}

void MachineManager::Reconcile() {
  auto st = registry_->LoadState();
  if (!st.ok()) {
    log::Error("daemon", "cannot load state", {{"error", st.status().message()}});
    return;
  }
  state_ = std::move(st).value();
  SyncVolumes();
  seen_revision_ = std::max(seen_revision_, state_.revision);
  own_revisions_.erase(own_revisions_.begin(), own_revisions_.upper_bound(seen_revision_));
  std::unordered_map<std::string, Machine> now;
  for (const auto& m : state_.machines)
    if (m.host_id == opts_.host_id) now[m.id] = m;
  // Machines whose records vanished (app destroyed): make sure nothing is left behind.
  for (auto& [id, old] : machines_) {
    if (!now.count(id)) {
      (void)runtime_->Destroy(old);
      FailWaiters(id, NotFound("machine " + id + " was destroyed"));
      rt_.erase(id);
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
      } else if (!IsReady(m) && !rt.probing && !rt.not_listening) {
        StartProbing(m.id);
      }
      break;
    case S::kStopping:
      if (!runtime_->IsRunning(m.id)) {
        if (runtime_->IsSuspended(m.id)) (void)runtime_->Resume(m.id);
        if (!runtime_->IsRunning(m.id)) (void)Transition(m.id, {S::kStopping}, S::kStopped, "stopped");
      } else {
        const AppPlan* plan = PlanFor(m.app);
        int sig = plan ? plan->info.kill_signal : 2;
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
      if (rt.wake_pending || rt.restart_after_stop || !rt.waiters.empty()) {
        rt.wake_pending = false;
        rt.restart_after_stop = false;
        auto t = Transition(m.id, {m.state}, S::kStarting, "started again");
        if (t.ok()) LaunchMachine(t.value());
      }
      break;
    case S::kDestroying: {
      FailWaiters(m.id, NotFound("machine " + m.id + " is being destroyed"));
      auto st = runtime_->Destroy(m);
      if (!st.ok()) {
        log::Error("daemon", "destroy failed", {{"machine", m.id}, {"error", st.message()}});
        break;
      }
      NoteEvent(m.app, "machine " + m.id, "destroyed");
      auto on_exit = std::move(rt.on_exit);
      rt_.erase(m.id);
      (void)registry_->DeleteMachine(m.id);
      machines_.erase(m.id);
      for (auto& f : on_exit) f(-1);
      break;
    }
    default:
      break;
  }
}

Result<LaunchPlan> MachineManager::BuildPlan(const Machine& m) {
  LaunchPlan plan;
  plan.machine = m;
  const AppPlan* ap = PlanFor(m.app);
  const AppPlan::Group* g = ap ? ap->FindGroup(m.process_group) : nullptr;
  // A machine created from an image keeps it; a release's machine runs the release's [build]
  // image (an ad-hoc machine without one runs on the host's /usr, as flyctl's needs an image).
  std::string image = m.image_id;
  if (image.empty() && m.release_version != 0 && ap) image = ap->image;
  if (!image.empty()) {
    // Fly's rule: the image's Entrypoint stays; [processes] or `machine run -- CMD` replace
    // its Cmd (docs/images.md#command).
    if (!opts_.resolve_image) return FailedPrecondition("machine " + m.id + " runs an image but there is no image store");
    auto img = opts_.resolve_image(image);
    if (!img.ok()) return Status(img.status().code(), "machine " + m.id + ": image " + image + ": " + img.status().message());
    std::vector<std::string> cmd = img->cmd;
    if (!m.cmd.empty()) {
      cmd = m.cmd;
    } else if (g && !g->command.empty()) {
      if (auto argv = SplitCommand(g->command)) cmd = std::move(*argv);
      else cmd = {"/bin/sh", "-c", g->command};
    }
    plan.argv = img->entrypoint;
    plan.argv.insert(plan.argv.end(), cmd.begin(), cmd.end());
    if (plan.argv.empty())
      return FailedPrecondition("image " + image + " has neither Entrypoint nor Cmd: give a command (machine run IMAGE -- CMD, or [processes])");
    for (const auto& kv : img->env) {
      auto eq = kv.find('=');
      if (eq != std::string::npos && eq > 0) plan.env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    plan.image = std::move(*img);
  } else if (!m.cmd.empty()) {
    plan.argv = m.cmd;
  } else if (g && !g->command.empty()) {
    // Fly execs the command itself (so it gets kill_signal); a shell only when it needs one.
    if (auto argv = SplitCommand(g->command)) plan.argv = std::move(*argv);
    else plan.shell_command = g->command;
  } else {
    return FailedPrecondition("machine " + m.id +
                              " has no command: set [processes] in fly.toml or pass -- CMD to machine run");
  }
  if (ap) {
    plan.env.insert(plan.env.end(), ap->env.begin(), ap->env.end());
    plan.kill_signal = ap->info.kill_signal;
    plan.kill_timeout = std::chrono::milliseconds(ap->info.kill_timeout_ms);
    plan.primary_region = ap->info.primary_region;
  }
  if (opts_.secret_env) {
    // After [env], as on Fly (a secret wins over an [env] key of the same name).
    auto sec = opts_.secret_env(m.app);
    if (!sec.ok()) return Status(sec.status().code(), "machine " + m.id + ": secrets: " + sec.status().message());
    plan.env.insert(plan.env.end(), sec->begin(), sec->end());
  }
  if (g) {
    plan.memory_mb = g->memory_mb;
    plan.cpus = g->cpus;
    plan.restart_policy = g->restart_policy;
    plan.restart_retries = g->restart_retries;
    plan.persist_rootfs = g->persist_rootfs && plan.image.has_value();
  }
  if (m.auto_destroy || m.release_version == 0) plan.restart_policy = "never";
  for (const auto& kv : m.env) plan.env.push_back(kv);
  PC_ASSIGN_OR_RETURN(plan.volumes, VolumesFor(m));
  return plan;
}

void MachineManager::LaunchMachine(const Machine& m) {
  Rt& rt = rt_[m.id];
  auto t0 = clock_->Now();
  if (runtime_->IsSuspended(m.id)) {
    auto st = runtime_->Resume(m.id);
    if (!st.ok()) {
      FailWaiters(m.id, st);
      (void)Transition(m.id, {S::kStarting}, S::kStopped, "resume failed: " + st.message());
      return;
    }
    // The app never stopped listening: release held connections first, write the store after.
    if (!rt.waiters.empty()) AnswerWaiters(m.id);
    (void)Transition(m.id, {S::kStarting}, S::kStarted, "resumed");
    NoteEvent(m.app, "proxy", "machine " + m.id + " resumed in " + Ms(clock_->Now() - t0) + " ms");
    Publish();
    return;
  }
  if (runtime_->IsRunning(m.id)) {
    (void)Transition(m.id, {S::kStarting}, S::kStarted, "already running");
    StartProbing(m.id);
    return;
  }
  auto built = BuildPlan(m);
  if (!built.ok()) return FailLaunch(m, built.status());
  LaunchPlan plan = std::move(built).value();
  if (rt.has_stdio) {
    plan.stdin_fd = rt.pending_plan_stdio.stdin_fd;
    plan.stdout_fd = rt.pending_plan_stdio.stdout_fd;
    plan.stderr_fd = rt.pending_plan_stdio.stderr_fd;
    plan.tty = rt.pending_plan_stdio.tty;
  }
  Status st = runtime_->EnsureNetwork(m);
  // Admitted by the firewall before it runs: its first packet (often a DNS query) must not
  // count as spoofed and be dropped (one element update; nothing when already admitted).
  if (st.ok()) SyncFirewall();
  if (st.ok()) st = runtime_->Launch(plan);
  rt.has_stdio = false;
  if (!st.ok()) return FailLaunch(m, st);
  ++starts_;
  rt.ready_ports.clear();
  rt.not_listening = false;
  rt.warned_6pn = false;
  (void)Transition(m.id, {S::kStarting}, S::kStarted, rt.waiters.empty() ? "started" : "started by proxy");
  log::Info("daemon", "machine started", {{"machine", m.id}, {"app", m.app}, {"launch_ms", Ms(clock_->Now() - t0)}});
  StartProbing(m.id);
}

void MachineManager::FailLaunch(const Machine& m, const Status& st) {
  log::Error("daemon", "machine failed to start", {{"machine", m.id}, {"app", m.app}, {"error", st.message()}});
  {
    std::lock_guard<std::mutex> l(readiness_mu_);
    readiness_[m.id] = kReadinessFailed;
    readiness_cv_.notify_all();
  }
  NoteEvent(m.app, "machine " + m.id, "failed to start: " + st.message());
  FailWaiters(m.id, Status(st.code(), "machine " + m.id + " failed to start: " + st.message()));
  (void)Transition(m.id, {S::kStarting}, S::kFailed, kFailedToStart + st.message());
  auto on_exit = std::move(rt_[m.id].on_exit);
  for (auto& f : on_exit) f(127);
  Publish();  // not wakeable any more: the proxy must not pick it again
}

void MachineManager::OnExit(const ExitInfo& e) {
  auto it = machines_.find(e.machine_id);
  if (it == machines_.end()) return;
  Machine m = it->second;
  Rt& rt = rt_[m.id];
  rt.ready_ports.clear();
  std::string what = e.code >= 0 ? "exited with code " + std::to_string(e.code) : "exited";
  NoteEvent(m.app, "machine " + m.id, what + (e.restarting ? " (restarting)" : ""));
  if (e.restarting) {
    StartProbing(m.id);
    Publish();
    return;
  }
  auto on_exit = std::move(rt.on_exit);
  rt.on_exit.clear();
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

void MachineManager::Wake(const std::string& machine_id, uint16_t internal_port, proxy::Poster* reply_to,
                          std::function<void(Status)> done) {
  Waiter w{internal_port, reply_to, std::move(done), clock_->Now() + opts_.wake_timeout};
  loop_->Post([this, machine_id, w = std::move(w)]() mutable { HandleWake(machine_id, std::move(w)); });
}

void MachineManager::HandleWake(const std::string& id, Waiter w) {
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
  if (m.state == S::kStarted && rt.ready_ports.count(w.port)) {
    auto done = std::move(w.done);
    w.poster->Post([done] { done(Status::Ok()); });
    return;
  }
  rt.waiters.push_back(std::move(w));
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
        FailWaiters(id, t.status());
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
      if (!rt.probing) {
        rt.not_listening = false;
        StartProbing(id);
      }
      break;
    default:
      FailWaiters(id, FailedPrecondition("machine " + id + " is " + store::MachineStateName(m.state) +
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
  AnswerWaiters(m.id);
  auto t = Transition(m.id, {S::kSuspended}, S::kStarting, "resumed by proxy");
  if (t.ok()) t = Transition(m.id, {S::kStarting}, S::kStarted, "resumed");
  if (!t.ok()) log::Warn("daemon", "resumed machine not recorded", {{"machine", m.id}, {"error", t.status().message()}});
  NoteEvent(m.app, "proxy", "machine " + m.id + " resumed in " + Ms(clock_->Now() - t0) + " ms");
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
    for (const auto& [id, m] : machines_) {
      if (m.app != app || !m.carries_services) continue;
      if (!std::any_of(scope.begin(), scope.end(), [&](const ServiceSpec& s) { return ServesGroup(s, m.process_group); }))
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
    rt_[m.id].wake_started = clock_->Now();
    NoteEvent(app, "proxy",
              "Starting machine " + m.id + " (pre-warmed by a DNS lookup" +
                  (service.empty() ? std::string() : " of " + service + ".svc." + app + ".flycast") + ")");
    auto t = Transition(m.id, {m.state}, S::kStarting, "pre-warmed by DNS lookup");
    if (t.ok()) LaunchMachine(t.value());
  });
}

void MachineManager::HandleStop(const std::string& id, bool suspend, const std::string& reason) {
  if (shut_down_) return;
  auto it = machines_.find(id);
  if (it == machines_.end() || it->second.state != S::kStarted) return;
  if (!rt_[id].waiters.empty()) return;  // someone is waiting for it: not idle
  ++autostops_;
  // The proxy's autostop writes "stopping <id> (idle …)" to the app log itself.
  auto t = Transition(id, {S::kStarted}, suspend ? S::kSuspending : S::kStopping, reason);
  if (t.ok()) Act(t.value());
  Publish();
}

void MachineManager::StartProbing(const std::string& id) {
  auto it = machines_.find(id);
  if (it == machines_.end()) return;
  Rt& rt = rt_[id];
  if (PortsFor(it->second).empty() && rt.waiters.empty()) {
    std::lock_guard<std::mutex> l(readiness_mu_);
    readiness_[id] = "ready";
    readiness_cv_.notify_all();
    return;
  }
  rt.probing = true;
  rt.probe_ticks = 0;
  rt.idle_gap = 1;
  rt.next_idle_tick = 0;
  rt.probe_deadline = clock_->Now() + opts_.wake_timeout;
  ProbeTick();
}

void MachineManager::ProbeTick() {
  bool changed = false;
  const MonoTime now = clock_->Now();
  // Ticks are counted in probe intervals (not read from a clock), so the back-off below
  // behaves the same with the real and the fake clock.
  probe_tick_ += probe_tick_step_;
  probe_tick_step_ = 1;
  uint64_t next = 0;  // ticks until the earliest next probe; 0 = nothing left to probe
  auto want_next = [&next](uint64_t in) {
    if (next == 0 || in < next) next = in;
  };
  for (auto& [id, rt] : rt_) {
    if (!rt.probing) continue;
    // Someone waits: every tick. Nobody (a deploy, a restart): back off to one probe per
    // kIdleProbeGapMax ticks, so a machine that never listens does not spin for wake_timeout.
    if (rt.waiters.empty() && probe_tick_ < rt.next_idle_tick && now < rt.probe_deadline) {
      want_next(rt.next_idle_tick - probe_tick_);
      continue;
    }
    auto mit = machines_.find(id);
    if (mit == machines_.end() || (mit->second.state != S::kStarted && mit->second.state != S::kStarting)) {
      rt.probing = false;
      continue;
    }
    const Machine& m = mit->second;
    std::set<uint16_t> want;
    for (uint16_t p : PortsFor(m)) want.insert(p);
    for (const auto& w : rt.waiters) want.insert(w.port);
    ++rt.probe_ticks;
    for (uint16_t p : want) {
      if (rt.ready_ports.count(p)) continue;
      auto acc = runtime_->Accepts(id, p);
      if (acc.ok() && acc.value()) {
        rt.ready_ports.insert(p);
        changed = true;
        continue;
      }
      // Not reachable yet: every 16th tick (~4 ms) look at every listener, to name an app
      // that listens only on its 6PN address.
      if (rt.warned_6pn || rt.probe_ticks % 16 != 1) continue;
      auto ls = runtime_->Listeners(id);
      if (!ls.ok()) continue;
      {
        std::string only6pn;
        for (const auto& l : ls.value())
          if (l.port == p && !l.reachable) only6pn = "[" + l.address + "]:" + std::to_string(p);
        if (!only6pn.empty()) {
          rt.warned_6pn = true;
          rt.listener_warning = "app " + m.app + " machine " + m.id + " listens on " + only6pn +
                                " only; flycast cannot reach it: bind 0.0.0.0:" + std::to_string(p) +
                                " or [::]:" + std::to_string(p);
          log::Warn("daemon", "app listens only on its 6PN address",
                    {{"app", m.app}, {"machine", m.id}, {"listener", only6pn}});
          NoteEvent(m.app, "machine " + m.id, rt.listener_warning);
          std::lock_guard<std::mutex> l(readiness_mu_);
          readiness_[id] = rt.listener_warning;
          readiness_cv_.notify_all();
        }
      }
    }
    // Captures the set, not `rt`: clang 14 cannot capture a structured binding (C++20 allows it).
    bool ready = std::all_of(want.begin(), want.end(),
                             [&ports = rt.ready_ports](uint16_t p) { return ports.count(p) > 0; });
    if (ready) {
      rt.probing = false;
      if (rt.wake_started != MonoTime{}) {
        NoteEvent(m.app, "proxy", "machine " + id + " started in " + Ms(clock_->Now() - rt.wake_started) +
                                      " ms (pre-warmed)");
        rt.wake_started = MonoTime{};
      }
      AnswerWaiters(id);
      std::lock_guard<std::mutex> l(readiness_mu_);
      readiness_[id] = "ready";
      readiness_cv_.notify_all();
      continue;
    }
    // Expire individual waiters; give up probing at the deadline.
    std::vector<Waiter> keep;
    for (auto& w : rt.waiters) {
      if (w.deadline <= now) {
        ++wake_failures_;
        auto done = std::move(w.done);
        w.poster->Post([done] { done(Unavailable("machine did not start listening in time")); });
      } else {
        keep.push_back(std::move(w));
      }
    }
    rt.waiters = std::move(keep);
    if (now >= rt.probe_deadline && rt.waiters.empty()) {
      rt.probing = false;
      rt.not_listening = true;
      if (rt.listener_warning.empty()) {
        std::string ports;
        for (uint16_t p : want) ports += (ports.empty() ? "" : ",") + std::to_string(p);
        rt.listener_warning = "app " + m.app + " machine " + m.id + " is not listening on port " + ports;
        NoteEvent(m.app, "machine " + m.id, rt.listener_warning);
      }
      std::lock_guard<std::mutex> l(readiness_mu_);
      readiness_[id] = rt.listener_warning;
      readiness_cv_.notify_all();
      continue;
    }
    if (rt.waiters.empty()) {
      rt.next_idle_tick = probe_tick_ + rt.idle_gap;
      want_next(rt.idle_gap);
      rt.idle_gap = std::min<uint64_t>(rt.idle_gap * 2, kIdleProbeGapMax);
    } else {
      want_next(1);
    }
  }
  if (changed) Publish();
  if (next != 0 && !probe_scheduled_) {
    probe_scheduled_ = true;
    loop_->PostAfter(opts_.probe_interval * next, [this, next, life = std::weak_ptr<char>(life_)] {
      if (life.expired()) return;  // this manager is gone (a new one runs on the loop)
      probe_scheduled_ = false;
      probe_tick_step_ = next;
      if (!shut_down_) ProbeTick();
    });
  }
}

void MachineManager::AnswerWaiters(const std::string& id) {
  auto& rt = rt_[id];
  auto waiters = std::move(rt.waiters);
  rt.waiters.clear();
  for (auto& w : waiters) {
    if (!rt.ready_ports.count(w.port) && !PortsFor(machines_[id]).empty() && w.port != 0) {
      rt.waiters.push_back(std::move(w));  // still waiting on another port
      continue;
    }
    auto done = std::move(w.done);
    w.poster->Post([done] { done(Status::Ok()); });
  }
  // No Publish() here: the answered workers treat the machine as started already; the caller
  // publishes (ProbeTick once readiness changed, ResumeFirst / LaunchMachine after recording).
}

void MachineManager::FailWaiters(const std::string& id, const Status& st) {
  auto it = rt_.find(id);
  if (it == rt_.end()) return;
  auto waiters = std::move(it->second.waiters);
  it->second.waiters.clear();
  for (auto& w : waiters) {
    ++wake_failures_;
    auto done = std::move(w.done);
    w.poster->Post([done, st] { done(st); });
  }
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
    std::lock_guard<std::mutex> l(snap_mu_);
    snapshot_ = sp;
  }
  if (publish_) publish_(sp);
}

SnapshotPtr MachineManager::snapshot() const {
  std::lock_guard<std::mutex> l(snap_mu_);
  return snapshot_;
}

FlycastPortMap MachineManager::FlycastPorts() {
  FlycastPortMap out;
  for (const auto& ip : state_.ips) {
    auto& ranges = out[ip.address];  // an app without a release or services: no port at all
    const AppPlan* plan = PlanFor(ip.app);
    if (!plan) continue;
    // A per-service address admits only its service's ports (none for an unknown service).
    const std::vector<ServiceSpec> scoped =
        ip.service.empty() ? std::vector<ServiceSpec>{}
                           : ServiceScope(plan->info.services, plan->info.process_groups, ip.service)
                                 .value_or(std::vector<ServiceSpec>{});
    for (const ServiceSpec& svc : ip.service.empty() ? plan->info.services : scoped) {
      if (svc.protocol != "tcp") continue;
      for (const PortSpec& p : svc.ports) ranges.emplace_back(p.start_port, p.end_port);
    }
  }
  return out;
}

void MachineManager::SyncHost() {
  std::set<std::string> want;
  for (const auto& ip : state_.ips) want.insert(ip.address);
  for (const auto& a : want) {
    if (flycast_applied_.count(a)) continue;
    auto ip = Ip6::Parse(a);
    if (!ip) continue;
    auto st = runtime_->AddFlycast(*ip);
    if (st.ok()) flycast_applied_.insert(a);
    else log::Error("daemon", "cannot add flycast address", {{"ip", a}, {"error", st.message()}});
  }
  for (auto it = flycast_applied_.begin(); it != flycast_applied_.end();) {
    if (want.count(*it)) {
      ++it;
      continue;
    }
    if (auto ip = Ip6::Parse(*it)) (void)runtime_->RemoveFlycast(*ip);
    it = flycast_applied_.erase(it);
  }
  SyncFirewall();
}

void MachineManager::SyncPeers() {
  if (!opts_.live_underlays) return;
  auto live = opts_.live_underlays();
  if (!live.ok()) {
    log::Warn("daemon", "cannot read live hosts; keeping the last known", {{"error", live.status().message()}});
    return;
  }
  std::set<uint32_t> hosts;
  std::map<uint32_t, Ip6> underlay;
  std::string key;
  for (const auto& [id, text] : live.value()) {
    if (id == opts_.host_id) continue;
    auto a = Ip6::Parse(text);
    if (!a) continue;  // registered without --underlay (or IPv4): not reachable from here
    hosts.insert(id);
    underlay[id] = *a;
    key += std::to_string(id) + "=" + text + ",";
  }
  // One route per (network, host) with machines there: fdaa:<net32>:<host32>::/80.
  std::map<Ip6, Ip6> routes;
  for (const auto& m : state_.machines) {
    auto u = underlay.find(m.host_id);
    if (u == underlay.end()) continue;
    routes[addr::MachinePrefix(m.net32, m.host_id, 0)] = u->second;
  }
  for (const auto& [p, via] : routes) key += p.ToString() + ">" + via.ToString() + ",";
  live_peers_ = hosts;
  if (key == peers_key_) return;
  std::set<Ip6> peers;
  for (const auto& [id, a] : underlay) peers.insert(a);
  Status st = runtime_->SyncPeers(routes, peers);
  if (!st.ok()) {
    log::Error("daemon", "cluster routes sync failed", {{"error", st.message()}});
    return;
  }
  peers_key_ = key;
  if (peers != peers_applied_) firewall_key_.clear();  // the peers are part of the ruleset
  peers_applied_ = std::move(peers);
  log::Debug("daemon", "cluster peers", {{"hosts", static_cast<int64_t>(hosts.size())},
                                        {"routes", static_cast<int64_t>(routes.size())}});
}

void MachineManager::SyncFirewall() {
  if (!opts_.firewall) return;
  // machines_ is this host's freshest view: a machine created since the last full reload is in
  // it (and must be admitted before its process sends its first packet), state_ may lag.
  store::StateView fw;
  fw.networks = state_.networks;
  fw.ips = state_.ips;
  for (const auto& [id, m] : machines_) fw.machines.push_back(m);
  std::sort(fw.machines.begin(), fw.machines.end(),
            [](const Machine& a, const Machine& b) { return a.id < b.id; });
  std::string key;
  for (const auto& n : fw.networks) key += std::to_string(n.net32) + ",";
  key += "|";
  for (const auto& m : fw.machines)
    key += m.id + ":" + std::to_string(m.link_slot) + ":" + std::to_string(m.net32) + ",";
  key += "|";
  for (const auto& ip : fw.ips) key += ip.address + ",";
  key += "|";
  FlycastPortMap ports = FlycastPorts();
  for (const auto& [ip, ranges] : ports)
    for (const auto& [first, last] : ranges) key += ip + "." + std::to_string(first) + "-" + std::to_string(last) + ",";
  if (key == firewall_key_) return;
  auto st = runtime_->SyncFirewall(fw, ports);
  if (st.ok()) firewall_key_ = key;
  else log::Error("daemon", "firewall sync failed", {{"error", st.message()}});
}

// ---- blocking API-side operations ------------------------------------------------------

Result<DeployOutcome> MachineManager::ReconcileAppMachines(const store::App& app, const store::Release& release,
                                                           std::optional<int> count) {
  // Runs on the control thread.
  auto st = registry_->LoadState();
  if (!st.ok()) return st.status();
  state_ = std::move(st).value();
  SyncVolumes();
  plans_.erase(app.name);
  const AppPlan* plan = PlanFor(app.name);
  if (!plan) return InvalidArgument("release " + std::to_string(release.version) + " of " + app.name + " does not decode");
  int per_group = count.value_or(1);
  if (!count) {
    for (const auto& g : plan->groups)
      if (g.has_services) per_group = 2;
  }
  DeployOutcome out;
  std::vector<std::string> touched;
  {
    // Fresh readiness for this deploy: results arrive while we launch below.
    std::lock_guard<std::mutex> l(readiness_mu_);
    for (const auto& m : state_.machines)
      if (m.app == app.name) readiness_.erase(m.id);
  }
  for (const auto& g : plan->groups) {
    int want = per_group;
    std::vector<Machine> have;
    for (const auto& m : state_.machines)
      if (m.app == app.name && m.process_group == g.name && IsDeployManaged(m) &&
          m.state != S::kDestroying && m.state != S::kDestroyed)
        have.push_back(m);
    // A group with [mounts]: no HA pair (Fly creates one machine with a volume), and a deploy
    // never destroys a machine that holds one (docs/volumes.md).
    if (!count && g.mount) want = std::max<int>(1, static_cast<int>(have.size()));
    std::sort(have.begin(), have.end(), [](const Machine& a, const Machine& b) { return a.created_at < b.created_at; });
    for (size_t i = 0; i < have.size(); ++i) {
      const Machine& m = have[i];
      if (static_cast<int>(i) >= want) {
        auto t = Transition(m.id, {}, S::kDestroying, "scaled down");
        if (t.ok()) Act(t.value());
        continue;
      }
      touched.push_back(m.id);
      if (Status vs = GiveVolume(app, g, m.id, nullptr); !vs.ok()) return vs;
      if (m.release_version == release.version) {
        if (m.state == S::kStopped || m.state == S::kCreated || m.state == S::kFailed) {
          auto t = Transition(m.id, {m.state}, S::kStarting, "deploy");
          if (t.ok()) LaunchMachine(t.value());
        }
        continue;
      }
      auto u = registry_->UpdateMachineRelease(m.id, release.version);
      if (!u.ok()) return u.status();
      machines_[m.id] = u.value();
      if (m.state == S::kStarted || m.state == S::kStarting) {
        rt_[m.id].restart_after_stop = true;
        auto t = Transition(m.id, {}, S::kStopping, kDeployReplacing);
        if (t.ok()) Act(t.value());
      } else if (m.state == S::kStopped || m.state == S::kCreated || m.state == S::kFailed) {
        auto t = Transition(m.id, {m.state}, S::kStarting, "deploy");
        if (t.ok()) LaunchMachine(t.value());
      }
    }
    for (int i = static_cast<int>(have.size()); i < want; ++i) {
      store::MachineSpec spec;
      spec.app = app.name;
      spec.region = opts_.region;
      spec.process_group = g.name;
      spec.release_version = release.version;
      spec.carries_services = true;  // the group's services, like Fly Launch's machines
      spec.initial_state = S::kStarting;
      if (Status vs = GiveVolume(app, g, "", &spec); !vs.ok()) return vs;
      auto m = registry_->CreateMachine(spec);
      if (!m.ok()) return m.status();
      NoteAttached(spec, m->id);
      machines_[m->id] = m.value();
      NoteEvent(app.name, "deploy", "created machine " + m->id + " (" + g.name + ")");
      touched.push_back(m->id);
      LaunchMachine(m.value());
    }
  }
  for (const auto& id : touched) {
    auto it = machines_.find(id);
    if (it != machines_.end()) out.machines.push_back(it->second);
    // Machines with nothing to listen on are ready at once (if they started at all).
    if (it != machines_.end() && PortsFor(it->second).empty() && it->second.state != S::kFailed) {
      std::lock_guard<std::mutex> l(readiness_mu_);
      readiness_[id] = "ready";
    }
  }
  Publish();
  return out;
}

Result<DeployOutcome> MachineManager::Deploy(const store::App& app, const store::Release& release, bool ha) {
  PC_CHECK(!loop_->InLoop());
  std::promise<Result<DeployOutcome>> p;
  loop_->Post([&] { p.set_value(ReconcileAppMachines(app, release, ha ? std::nullopt : std::optional<int>(1))); });
  auto r = p.get_future().get();
  if (!r.ok()) return r;
  DeployOutcome out = std::move(r).value();
  // Wait (bounded) for each started machine to listen, to report listener problems now.
  auto deadline = std::chrono::steady_clock::now() + opts_.deploy_wait;
  std::unique_lock<std::mutex> l(readiness_mu_);
  std::set<std::string> failed;
  for (const auto& m : out.machines) {
    readiness_cv_.wait_until(l, deadline, [&] { return readiness_.count(m.id) > 0; });
    auto it = readiness_.find(m.id);
    if (it == readiness_.end()) {
      out.warnings.push_back("machine " + m.id + " is not listening yet on its internal port");
    } else if (it->second == kReadinessFailed) {
      failed.insert(m.id);
    } else if (it->second != "ready") {
      out.warnings.push_back(it->second);
    }
  }
  l.unlock();
  // Re-read machines for fresh states.
  auto ms = registry_->ListMachines(app.name);
  if (ms.ok()) {
    out.machines.clear();
    for (auto& m : ms.value())
      if (IsDeployManaged(m)) out.machines.push_back(m);
  }
  // Like flyctl, a deploy whose machines cannot start fails: each distinct reason once, with
  // the machines it stopped.
  std::vector<std::pair<std::string, std::vector<std::string>>> reasons;  // in first-seen order
  for (const auto& m : out.machines) {
    if (!failed.count(m.id) || m.state != S::kFailed) continue;
    std::string why = m.last_event.rfind(kFailedToStart, 0) == 0 ? m.last_event.substr(std::strlen(kFailedToStart))
                                                                  : m.last_event;
    auto r = std::find_if(reasons.begin(), reasons.end(), [&](const auto& x) { return x.first == why; });
    if (r == reasons.end()) reasons.push_back({why, {m.id}});
    else r->second.push_back(m.id);
    ++out.failed;
  }
  for (const auto& [why, ids] : reasons) {
    std::string list;
    for (const auto& id : ids) list += (list.empty() ? "" : ", ") + id;
    out.errors.push_back(why + " (machine" + (ids.size() == 1 ? " " : "s ") + list + ")");
  }
  return out;
}

Result<std::vector<Machine>> MachineManager::Scale(const store::App& app, int count) {
  PC_CHECK(!loop_->InLoop());
  if (count < 0 || count > 1000) return InvalidArgument("count must be between 0 and 1000");
  auto rel = registry_->CurrentRelease(app.name);
  if (!rel.ok()) return rel.status();
  if (!rel->has_value()) return FailedPrecondition("app " + app.name + " has no release yet; run privcast deploy first");
  store::Release release = **rel;
  std::promise<Result<DeployOutcome>> p;
  loop_->Post([&] {
    if (count == 0) {
      // Zero machines: destroy every deployed machine of the app.
      auto st = registry_->LoadState();
      if (st.ok()) state_ = std::move(st).value();
      for (const auto& m : state_.machines)
        if (m.app == app.name && IsDeployManaged(m) && m.state != S::kDestroying) {
          auto t = Transition(m.id, {}, S::kDestroying, "scaled to 0");
          if (t.ok()) Act(t.value());
        }
      p.set_value(DeployOutcome{});
      return;
    }
    p.set_value(ReconcileAppMachines(app, release, count));
  });
  auto r = p.get_future().get();
  if (!r.ok()) return r.status();
  auto ms = registry_->ListMachines(app.name);
  if (!ms.ok()) return ms.status();
  return ms.value();
}

Status MachineManager::CheckRunCommand(const store::MachineSpec& spec) {
  if (spec.cmd.empty()) return Status::Ok();  // the release's command: checked at deploy
  std::vector<std::pair<std::string, std::string>> env;
  if (const AppPlan* plan = PlanFor(spec.app)) env = plan->env;
  env.insert(env.end(), spec.env.begin(), spec.env.end());
  return CheckMachineCommand(spec.cmd, env);
}

Result<uint32_t> MachineManager::PlaceInRegion(const std::string& region) {
  PC_ASSIGN_OR_RETURN(auto live, opts_.live_hosts());
  std::map<uint32_t, size_t> load;
  std::string seen;
  for (const auto& [id, r] : live) {
    seen += (seen.empty() ? "" : ", ") + r + " " + store::keys::Hex32(id);
    if (r == region) load[id] = 0;
  }
  if (load.empty())
    return FailedPrecondition("no live host in region " + region + " (live hosts: " + (seen.empty() ? "none" : seen) + ")");
  for (const auto& m : state_.machines)
    if (load.count(m.host_id) && m.state != S::kDestroyed) load[m.host_id]++;
  auto best = std::min_element(load.begin(), load.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second, a.first) < std::tie(b.second, b.first);
  });
  return best->first;
}

Result<Machine> MachineManager::RunMachine(const store::MachineSpec& spec_in) {
  PC_CHECK(!loop_->InLoop());
  store::MachineSpec spec = spec_in;
  if (spec.region.empty()) spec.region = opts_.region;
  spec.initial_state = S::kStarting;
  std::promise<Result<Machine>> p;
  loop_->Post([&] {
    if (Status c = CheckRunCommand(spec); !c.ok()) return p.set_value(c);
    if (opts_.live_hosts && spec.region != opts_.region && !spec.host_id) {
      auto host = PlaceInRegion(spec.region);
      if (!host.ok()) return p.set_value(host.status());
      spec.host_id = *host;
    }
    auto m = registry_->CreateMachine(spec);
    if (!m.ok()) {
      p.set_value(m.status());
      return;
    }
    NoteAttached(spec, m->id);
    if (m->host_id != opts_.host_id) return p.set_value(m.value());  // its host's daemon starts it
    machines_[m->id] = m.value();
    LaunchMachine(m.value());
    p.set_value(machines_[m->id]);
  });
  return p.get_future().get();
}

Result<int> MachineManager::RunAttached(const store::MachineSpec& spec_in, int in_fd, int out_fd, int err_fd, bool tty,
                                        const std::function<bool()>& client_gone,
                                        const std::function<void(const Machine&)>& on_started) {
  PC_CHECK(!loop_->InLoop());
  store::MachineSpec spec = spec_in;
  if (spec.region.empty()) spec.region = opts_.region;
  spec.auto_destroy = true;
  spec.initial_state = S::kStarting;
  auto exit_p = std::make_shared<std::promise<int>>();
  auto exit_f = exit_p->get_future();
  std::promise<Result<Machine>> started;
  loop_->Post([&, exit_p] {
    if (Status c = CheckRunCommand(spec); !c.ok()) return started.set_value(c);
    auto m = registry_->CreateMachine(spec);
    if (!m.ok()) {
      started.set_value(m.status());
      return;
    }
    NoteAttached(spec, m->id);
    machines_[m->id] = m.value();
    Rt& rt = rt_[m->id];
    rt.has_stdio = true;
    rt.pending_plan_stdio.stdin_fd = in_fd;
    rt.pending_plan_stdio.stdout_fd = out_fd;
    rt.pending_plan_stdio.stderr_fd = err_fd;
    rt.pending_plan_stdio.tty = tty;
    auto once = std::make_shared<std::once_flag>();
    rt.on_exit.push_back([exit_p, once](int code) { std::call_once(*once, [&] { exit_p->set_value(code); }); });
    LaunchMachine(m.value());
    auto it = machines_.find(m->id);
    if (it == machines_.end() || it->second.state != S::kStarted) {
      // Failed to launch: LaunchMachine already resolved on_exit with 127.
      started.set_value(it == machines_.end() ? Result<Machine>(m.value()) : Result<Machine>(it->second));
      if (it != machines_.end()) {
        auto t = Transition(m->id, {}, S::kDestroying, "machine run failed");
        if (t.ok()) Act(t.value());
      }
      return;
    }
    started.set_value(it->second);
  });
  auto m = started.get_future().get();
  if (!m.ok()) return m.status();
  on_started(m.value());
  std::string id = m->id;
  while (exit_f.wait_for(std::chrono::milliseconds(50)) != std::future_status::ready) {
    if (client_gone()) {
      loop_->Post([this, id] {
        auto t = Transition(id, {}, S::kDestroying, "client went away");
        if (t.ok()) Act(t.value());
      });
      exit_f.wait();
      break;
    }
  }
  int code = exit_f.get();
  return code < 0 ? 137 : code;
}

std::string MachineManager::LogPath(const std::string& machine_id) { return runtime_->LogPath(machine_id); }

std::string MachineManager::MetricsText() const {
  std::string out;
  out += "# TYPE privcast_wakes_total counter\nprivcast_wakes_total " + std::to_string(wakes_.load()) + "\n";
  out += "# TYPE privcast_wake_failures_total counter\nprivcast_wake_failures_total " +
         std::to_string(wake_failures_.load()) + "\n";
  out += "# TYPE privcast_autostops_total counter\nprivcast_autostops_total " + std::to_string(autostops_.load()) + "\n";
  out += "# TYPE privcast_dns_prewarm_starts_total counter\nprivcast_dns_prewarm_starts_total " +
         std::to_string(prewarms_.load()) + "\n";
  out += "# TYPE privcast_machine_starts_total counter\nprivcast_machine_starts_total " +
         std::to_string(starts_.load()) + "\n";
  return out;
}

}  // namespace privcast::daemon
