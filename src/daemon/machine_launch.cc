// MachineManager: what a machine runs (BuildPlan) and starting it (LaunchMachine, FailLaunch).
#include "daemon/machine_manager.h"

#include <utility>

#include "common/log.h"
#include "daemon/plan.h"

namespace privcast::daemon {

using store::Machine;
using store::MachineState;
using S = store::MachineState;

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
    if (!opts_.resolve_image)
      return FailedPrecondition("machine " + m.id + " runs an image but there is no image store");
    auto img = opts_.resolve_image(image);
    if (!img.ok())
      return Status(img.status().code(), "machine " + m.id + ": image " + image + ": " + img.status().message());
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
      return FailedPrecondition(
          "image " + image +
          " has neither Entrypoint nor Cmd: give a command (machine run IMAGE -- CMD, or [processes])");
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
    plan.restart_mode = g->restart;
    plan.restart_retries = g->restart_retries;
    plan.persist_rootfs = g->persist_rootfs && plan.image.has_value();
  }
  if (m.auto_destroy || m.release_version == 0) plan.restart_mode = supervisor::RestartMode::kNever;
  for (const auto& kv : m.env) plan.env.push_back(kv);
  PC_ASSIGN_OR_RETURN(plan.volumes, VolumesFor(m));
  return plan;
}

void MachineManager::LaunchMachine(const Machine& m) {
  auto t0 = clock_->Now();
  if (runtime_->IsSuspended(m.id)) {
    auto st = runtime_->Resume(m.id);
    if (!st.ok()) {
      readiness_.Fail(m.id, st);
      (void)Transition(m.id, {S::kStarting}, S::kStopped, "resume failed: " + st.message());
      return;
    }
    // The app never stopped listening: release held connections first, write the store after.
    readiness_.Answer(m.id, PortsFor(m));
    (void)Transition(m.id, {S::kStarting}, S::kStarted, "resumed");
    NoteEvent(m.app, "proxy", "machine " + m.id + " resumed in " + MillisText(clock_->Now() - t0) + " ms");
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
  if (auto at = attached_.find(m.id); at != attached_.end() && at->second.stdio) {
    // An attached run's stdio, for this launch only (a later start runs without it).
    const Attached::Stdio io = *at->second.stdio;
    at->second.stdio.reset();
    plan.stdin_fd = io.in;
    plan.stdout_fd = io.out;
    plan.stderr_fd = io.err;
    plan.tty = io.tty;
  }
  Status st = runtime_->EnsureNetwork(m);
  // Admitted by the firewall before it runs: its first packet (often a DNS query) must not
  // count as spoofed and be dropped (one element update; nothing when already admitted).
  if (st.ok()) SyncFirewall();
  if (st.ok()) st = runtime_->Launch(plan);
  if (!st.ok()) return FailLaunch(m, st);
  ++starts_;
  readiness_.Launched(m.id);
  (void)Transition(m.id, {S::kStarting}, S::kStarted, readiness_.HasWaiters(m.id) ? "started by proxy" : "started");
  log::Info("daemon", "machine started",
            {{"machine", m.id}, {"app", m.app}, {"launch_ms", MillisText(clock_->Now() - t0)}});
  StartProbing(m.id);
}

void MachineManager::FailLaunch(const Machine& m, const Status& st) {
  log::Error("daemon", "machine failed to start", {{"machine", m.id}, {"app", m.app}, {"error", st.message()}});
  signal_.Failed(m.id);
  NoteEvent(m.app, "machine " + m.id, "failed to start: " + st.message());
  readiness_.Fail(m.id, Status(st.code(), "machine " + m.id + " failed to start: " + st.message()));
  (void)Transition(m.id, {S::kStarting}, S::kFailed, kFailedToStart + st.message());
  for (auto& f : TakeExitListeners(m.id)) f(127);
  Publish();  // not wakeable any more: the proxy must not pick it again
}

std::vector<std::function<void(int)>> MachineManager::TakeExitListeners(const std::string& id) {
  auto it = attached_.find(id);
  if (it == attached_.end()) return {};
  return std::exchange(it->second.on_exit, {});
}

}  // namespace privcast::daemon
