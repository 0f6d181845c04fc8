// MachineManager: deploy and scale (machines per process group of a release), and resuming
// a deploy a daemon stop cut short. The blocking entry points (Deploy, Scale) run on an API
// thread and post the work to the control thread.
#include "daemon/machine_manager.h"

#include <algorithm>
#include <cstring>
#include <future>

#include "common/log.h"

namespace privcast::daemon {

using store::Machine;
using store::MachineState;
using S = store::MachineState;

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
    std::vector<std::string> ids;
    for (const auto& m : state_.machines)
      if (m.app == app.name) ids.push_back(m.id);
    signal_.Forget(ids);
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
    if (it != machines_.end() && PortsFor(it->second).empty() && it->second.state != S::kFailed) signal_.Ready(id);
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
  std::vector<std::string> ids;
  for (const auto& m : out.machines) ids.push_back(m.id);
  auto outcomes = signal_.WaitAll(ids, opts_.deploy_wait);
  std::set<std::string> failed;
  for (const auto& id : ids) {
    auto it = outcomes.find(id);
    if (it == outcomes.end()) {
      out.warnings.push_back("machine " + id + " is not listening yet on its internal port");
    } else if (it->second.kind == ReadinessOutcome::Kind::kFailed) {
      failed.insert(id);
    } else if (it->second.kind == ReadinessOutcome::Kind::kWarning) {
      out.warnings.push_back(it->second.warning);
    }
  }
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

}  // namespace privcast::daemon
