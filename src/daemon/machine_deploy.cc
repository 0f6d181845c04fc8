// MachineManager's side of deploy and scale: it is the Deployer's Host (daemon/deployer.h:
// the deploy rules; here what they ask of the reconciler), and it resumes a deploy that a
// daemon stop cut short.
#include "daemon/machine_manager.h"

#include <algorithm>

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
    store::App a = *app;  // Reconcile reloads state_
    store::Release r = *release;
    auto out = deployer_.Reconcile(a, r, count, {});
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

const AppPlan* MachineManager::FreshPlan(const std::string& app) {
  plans_.erase(app);  // a deploy's release was just stored: decode it, whatever was cached
  return PlanFor(app);
}

void MachineManager::MovedToRelease(const Machine& m, bool restart) {
  machines_[m.id] = m;
  if (restart) rt_[m.id].restart_after_stop = true;
}

void MachineManager::LaunchCreated(const store::MachineSpec& spec, const Machine& m) {
  NoteAttached(spec, m.id);
  machines_[m.id] = m;
  LaunchMachine(m);
}

const Machine* MachineManager::LocalMachine(const std::string& id) {
  auto it = machines_.find(id);
  return it == machines_.end() ? nullptr : &it->second;
}

}  // namespace privcast::daemon
