// MachineManager: deploy and scale (machines per process group of a release), and resuming
// a deploy a daemon stop cut short. The blocking entry points (Deploy, Scale) run on an API
// thread and post the work to the control thread.
#include "daemon/machine_manager.h"

#include <algorithm>
#include <cstring>
#include <future>

#include "common/log.h"
#include "store/keys.h"

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
    auto out = ReconcileAppMachines(a, r, count, {});
    if (!out.ok())
      log::Error("daemon", "cannot resume the interrupted deploy", {{"app", name}, {"error", out.status().message()}});
  }
}

// Where a deploy's new machine in `region` goes: this host for its own region; in a cluster a
// live host of the region (the fewest machines). One host: another region is an error.
Result<uint32_t> MachineManager::HostForRegion(const std::string& region) {
  if (region.empty() || region == opts_.region) return opts_.host_id;
  if (!opts_.live_hosts)
    return FailedPrecondition("no host in region " + region + ": this privcastd is a single host in region " +
                              opts_.region + " (other regions need a cluster: docs/cluster.md)");
  return PlaceInRegion(region);
}

void MachineManager::Intend(const Machine& m, const std::vector<MachineState>& from, MachineState to,
                            const std::string& why) {
  if (m.host_id != opts_.host_id) {
    // Its own host's daemon acts on the store's intent (a deploy's stop-to-replace included:
    // Act reads kDeployReplacing from the record).
    auto t = registry_->TransitionMachine(m.id, from, to, why);
    if (!t.ok()) log::Warn("daemon", "cannot record intent", {{"machine", m.id}, {"error", t.status().message()}});
    return;
  }
  auto t = Transition(m.id, from, to, why);
  if (!t.ok()) return;
  if (to == S::kStarting) LaunchMachine(t.value());
  else Act(t.value());
}

int MachineManager::CountManaged(const std::string& app, const std::string& group,
                                 const std::function<bool(const Machine&)>& pred) const {
  int n = 0;
  for (const auto& m : state_.machines)
    if (m.app == app && m.process_group == group && IsDeployManaged(m) && m.state != S::kDestroying &&
        m.state != S::kDestroyed && pred(m))
      ++n;
  return n;
}

Status MachineManager::ReconcileGroup(const store::App& app, const store::Release& release, const AppPlan::Group& g,
                                      const GroupScope& scope, std::vector<std::string>* touched) {
  std::vector<Machine> have;
  for (const auto& m : state_.machines)
    if (m.app == app.name && m.process_group == g.name && IsDeployManaged(m) && m.state != S::kDestroying &&
        m.state != S::kDestroyed && scope.contains(m))
      have.push_back(m);  // (CountManaged's filter, keeping the machines)
  const int want = scope.want.value_or(static_cast<int>(have.size()));
  std::sort(have.begin(), have.end(), [](const Machine& a, const Machine& b) { return a.created_at < b.created_at; });
  for (size_t i = 0; i < have.size(); ++i) {
    const Machine& m = have[i];
    const bool local = m.host_id == opts_.host_id;
    if (static_cast<int>(i) >= want) {
      Intend(m, {}, S::kDestroying, "scaled down");
      continue;
    }
    touched->push_back(m.id);
    if (local) PC_RETURN_IF_ERROR(GiveVolume(app, g, m.id, nullptr));
    const bool startable = m.state == S::kStopped || m.state == S::kCreated || m.state == S::kFailed;
    if (m.release_version == release.version) {
      if (startable) Intend(m, {m.state}, S::kStarting, "deploy");
      continue;
    }
    PC_ASSIGN_OR_RETURN(Machine u, registry_->UpdateMachineRelease(m.id, release.version));
    if (local) machines_[m.id] = u;
    if (m.state == S::kStarted || m.state == S::kStarting) {
      if (local) rt_[m.id].restart_after_stop = true;
      Intend(m, {}, S::kStopping, kDeployReplacing);
    } else if (startable) {
      Intend(m, {m.state}, S::kStarting, "deploy");
    }
  }
  for (int i = static_cast<int>(have.size()); i < want; ++i) {
    store::MachineSpec spec;
    spec.app = app.name;
    spec.region = scope.region.empty() ? opts_.region : scope.region;
    spec.process_group = g.name;
    spec.release_version = release.version;
    spec.carries_services = true;  // the group's services, like Fly Launch's machines
    spec.initial_state = S::kStarting;
    PC_ASSIGN_OR_RETURN(uint32_t host, HostForRegion(spec.region));
    const bool local = host == opts_.host_id;
    if (!local) {
      if (g.mount)
        return FailedPrecondition("process group " + g.name + " has [mounts]: volumes live on this host, so its " +
                                  "machines cannot go to region " + spec.region);
      spec.host_id = host;
    }
    if (local) PC_RETURN_IF_ERROR(GiveVolume(app, g, "", &spec));
    PC_ASSIGN_OR_RETURN(Machine m, registry_->CreateMachine(spec));
    touched->push_back(m.id);
    if (!local) {
      state_.machines.push_back(m);  // counts for the next placement; its host starts it
      NoteEvent(app.name, "deploy",
                "created machine " + m.id + " (" + g.name + ") in " + spec.region + " on host " +
                    store::keys::Hex32(host));
      continue;
    }
    NoteAttached(spec, m.id);
    machines_[m.id] = m;
    NoteEvent(app.name, "deploy", "created machine " + m.id + " (" + g.name + ")");
    LaunchMachine(m);
  }
  return Status::Ok();
}

// NOLINTNEXTLINE(readability-function-size): one reconcile pass (keep, replace, create, destroy) reads best top to bottom; to split with tests in a later pass
Result<DeployOutcome> MachineManager::ReconcileAppMachines(const store::App& app, const store::Release& release,
                                                           std::optional<int> count,
                                                           const std::vector<std::string>& regions) {
  // Runs on the control thread.
  auto st = registry_->LoadState();
  if (!st.ok()) return st.status();
  state_ = std::move(st).value();
  SyncVolumes();
  plans_.erase(app.name);
  const AppPlan* plan = PlanFor(app.name);
  if (!plan)
    return InvalidArgument("release " + std::to_string(release.version) + " of " + app.name + " does not decode");
  // Every region has a host before anything changes.
  for (const auto& r : regions) PC_RETURN_IF_ERROR(HostForRegion(r).status());
  int per_group = count.value_or(1);
  if (!count) {
    for (const auto& g : plan->groups)
      if (g.has_services) per_group = 2;
  }
  std::vector<std::string> touched;
  {
    // Fresh readiness for this deploy: results arrive while we launch below.
    std::vector<std::string> ids;
    for (const auto& m : state_.machines)
      if (m.app == app.name) ids.push_back(m.id);
    signal_.Forget(ids);
  }
  auto in = [&regions](const Machine& m) {
    return std::find(regions.begin(), regions.end(), m.region) != regions.end();
  };
  for (const auto& g : plan->groups) {
    // A group with [mounts]: no HA pair (Fly creates one machine with a volume), and a deploy
    // never destroys a machine that holds one (docs/volumes.md).
    auto want = [&](int have) { return !count && g.mount ? std::max(1, have) : per_group; };
    if (regions.empty()) {
      auto all = [](const Machine&) { return true; };
      PC_RETURN_IF_ERROR(
          ReconcileGroup(app, release, g, {all, want(CountManaged(app.name, g.name, all)), ""}, &touched));
      continue;
    }
    // --region: the count in each region listed; the other regions' machines get the release,
    // their number unchanged (flyctl scale count --region acts on the regions listed only).
    for (const auto& r : regions) {
      auto here = [&r](const Machine& m) { return m.region == r; };
      PC_RETURN_IF_ERROR(
          ReconcileGroup(app, release, g, {here, want(CountManaged(app.name, g.name, here)), r}, &touched));
    }
    PC_RETURN_IF_ERROR(
        ReconcileGroup(app, release, g, {[&in](const Machine& m) { return !in(m); }, std::nullopt, ""}, &touched));
  }
  DeployOutcome out;
  for (const auto& id : touched) {
    auto it = machines_.find(id);
    if (it == machines_.end()) {
      // Another host's machine: its record as written (its host reports readiness there).
      if (auto m = registry_->GetMachine(id); m.ok()) out.machines.push_back(m.value());
      continue;
    }
    out.machines.push_back(it->second);
    // Machines with nothing to listen on are ready at once (if they started at all).
    if (PortsFor(it->second).empty() && it->second.state != S::kFailed) signal_.Ready(id);
  }
  Publish();
  return out;
}

Result<DeployOutcome> MachineManager::Deploy(const store::App& app, const store::Release& release, bool ha,
                                             const std::vector<std::string>& regions) {
  PC_CHECK(!loop_->InLoop());
  std::promise<Result<DeployOutcome>> p;
  loop_->Post(
      [&] { p.set_value(ReconcileAppMachines(app, release, ha ? std::nullopt : std::optional<int>(1), regions)); });
  auto r = p.get_future().get();
  if (!r.ok()) return r;
  DeployOutcome out = std::move(r).value();
  // Wait (bounded) for each started machine of this host to listen, to report listener
  // problems now (another host's machines are probed by their host).
  std::vector<std::string> ids;
  for (const auto& m : out.machines)
    if (m.host_id == opts_.host_id) ids.push_back(m.id);
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

Result<std::vector<Machine>> MachineManager::Scale(const store::App& app, int count,
                                                   const std::vector<std::string>& regions) {
  PC_CHECK(!loop_->InLoop());
  if (count < 0 || count > 1000) return InvalidArgument("count must be between 0 and 1000");
  auto rel = registry_->CurrentRelease(app.name);
  if (!rel.ok()) return rel.status();
  if (!rel->has_value())
    return FailedPrecondition("app " + app.name + " has no release yet; run privcast deploy first");
  store::Release release = **rel;
  std::promise<Result<DeployOutcome>> p;
  loop_->Post([&] {
    if (count == 0 && regions.empty()) {
      // Zero machines: destroy every deployed machine of the app (on every host).
      auto st = registry_->LoadState();
      if (st.ok()) state_ = std::move(st).value();
      for (const auto& m : state_.machines)
        if (m.app == app.name && IsDeployManaged(m) && m.state != S::kDestroying)
          Intend(m, {}, S::kDestroying, "scaled to 0");
      p.set_value(DeployOutcome{});
      return;
    }
    p.set_value(ReconcileAppMachines(app, release, count, regions));
  });
  auto r = p.get_future().get();
  if (!r.ok()) return r.status();
  auto ms = registry_->ListMachines(app.name);
  if (!ms.ok()) return ms.status();
  return ms.value();
}

}  // namespace privcast::daemon
