// Deployer (deployer.h): the deploy and scale rules. Reconcile runs on the control thread and
// acts through the Host; Deploy and Scale post it there and wait on the API thread.
#include "daemon/deployer.h"

#include <algorithm>
#include <cstring>
#include <future>
#include <set>

#include "common/log.h"
#include "store/keys.h"

namespace privcast::daemon {
namespace {

using store::Machine;
using S = store::MachineState;

// Like flyctl, a deploy whose machines cannot start fails: each distinct reason once, with the
// machines it stopped (those of `failed` that the store says are `failed`).
void NameFailures(const std::set<std::string>& failed, DeployOutcome* out) {
  std::vector<std::pair<std::string, std::vector<std::string>>> reasons;  // in first-seen order
  for (const auto& m : out->machines) {
    if (!failed.count(m.id) || m.state != S::kFailed) continue;
    std::string why = m.last_event.rfind(kFailedToStart, 0) == 0 ? m.last_event.substr(std::strlen(kFailedToStart))
                                                                 : m.last_event;
    auto r = std::find_if(reasons.begin(), reasons.end(), [&](const auto& x) { return x.first == why; });
    if (r == reasons.end()) reasons.push_back({why, {m.id}});
    else r->second.push_back(m.id);
    ++out->failed;
  }
  for (const auto& [why, ids] : reasons) {
    std::string list;
    for (const auto& id : ids) list += (list.empty() ? "" : ", ") + id;
    out->errors.push_back(why + " (machine" + (ids.size() == 1 ? " " : "s ") + list + ")");
  }
}

}  // namespace

bool IsDeployManaged(const Machine& m) { return m.release_version != 0 && m.carries_services && !m.auto_destroy; }

Deployer::Deployer(store::Registry* registry, ControlLoop* loop, ReadinessSignal* signal, Host* host, Options opts)
    : registry_(registry), loop_(loop), signal_(signal), host_(host), opts_(std::move(opts)) {}

Result<DeployOutcome> Deployer::Deploy(const store::App& app, const store::Release& release, bool ha,
                                       const std::vector<std::string>& regions) {
  PC_CHECK(!loop_->InLoop());
  std::promise<Result<DeployOutcome>> p;
  loop_->Post([&] { p.set_value(Reconcile(app, release, ha ? std::nullopt : std::optional<int>(1), regions)); });
  PC_ASSIGN_OR_RETURN(DeployOutcome out, p.get_future().get());
  Report(app, &out);
  return out;
}

Result<std::vector<Machine>> Deployer::Scale(const store::App& app, int count,
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
      DestroyAll(app);
      p.set_value(DeployOutcome{});
      return;
    }
    p.set_value(Reconcile(app, release, count, regions));
  });
  auto r = p.get_future().get();
  if (!r.ok()) return r.status();
  return registry_->ListMachines(app.name);
}

Result<DeployOutcome> Deployer::Reconcile(const store::App& app, const store::Release& release,
                                          std::optional<int> count, const std::vector<std::string>& regions) {
  PC_RETURN_IF_ERROR(host_->ReloadState());
  const AppPlan* plan = host_->FreshPlan(app.name);
  if (!plan)
    return InvalidArgument("release " + std::to_string(release.version) + " of " + app.name + " does not decode");
  // Every region has a host before anything changes.
  for (const auto& r : regions) PC_RETURN_IF_ERROR(host_->HostForRegion(r).status());
  // Fresh readiness for this deploy: results arrive while machines launch below.
  std::vector<std::string> ids;
  for (const auto& m : host_->StoreMachines())
    if (m.app == app.name) ids.push_back(m.id);
  signal_->Forget(ids);
  std::vector<std::string> touched;
  PC_RETURN_IF_ERROR(ReconcileGroups(app, release, *plan, count, regions, &touched));
  DeployOutcome out = Outcome(touched);
  host_->Publish();
  return out;
}

Status Deployer::ReconcileGroups(const store::App& app, const store::Release& release, const AppPlan& plan,
                                 std::optional<int> count, const std::vector<std::string>& regions,
                                 std::vector<std::string>* touched) {
  int per_group = count.value_or(1);
  if (!count) {
    for (const auto& g : plan.groups)
      if (g.has_services) per_group = 2;
  }
  auto listed = [&regions](const Machine& m) {
    return std::find(regions.begin(), regions.end(), m.region) != regions.end();
  };
  for (const auto& g : plan.groups) {
    // A group with [mounts]: no HA pair (Fly creates one machine with a volume), and a deploy
    // never destroys a machine that holds one (docs/volumes.md).
    auto want = [&](const std::function<bool(const Machine&)>& in) {
      const int have = static_cast<int>(Managed(app.name, g.name, in).size());
      return !count && g.mount ? std::max(1, have) : per_group;
    };
    if (regions.empty()) {
      auto all = [](const Machine&) { return true; };
      PC_RETURN_IF_ERROR(ReconcileGroup(app, release, g, {all, want(all), ""}, touched));
      continue;
    }
    // --region: the count in each region listed; the other regions' machines get the release,
    // their number unchanged (flyctl scale count --region acts on the regions listed only).
    for (const auto& r : regions) {
      auto here = [&r](const Machine& m) { return m.region == r; };
      PC_RETURN_IF_ERROR(ReconcileGroup(app, release, g, {here, want(here), r}, touched));
    }
    auto others = [&listed](const Machine& m) { return !listed(m); };
    PC_RETURN_IF_ERROR(ReconcileGroup(app, release, g, {others, std::nullopt, ""}, touched));
  }
  return Status::Ok();
}

Status Deployer::ReconcileGroup(const store::App& app, const store::Release& release, const AppPlan::Group& g,
                                const GroupScope& scope, std::vector<std::string>* touched) {
  std::vector<Machine> have = Managed(app.name, g.name, scope.contains);
  const int want = scope.want.value_or(static_cast<int>(have.size()));
  // The oldest are kept; the newest go first when there are too many.
  std::sort(have.begin(), have.end(), [](const Machine& a, const Machine& b) { return a.created_at < b.created_at; });
  for (size_t i = 0; i < have.size(); ++i) {
    if (static_cast<int>(i) >= want) {
      host_->Intend(have[i], {}, S::kDestroying, "scaled down");
      continue;
    }
    touched->push_back(have[i].id);
    PC_RETURN_IF_ERROR(Keep(app, release, g, have[i]));
  }
  for (int i = static_cast<int>(have.size()); i < want; ++i)
    PC_RETURN_IF_ERROR(Create(app, release, g, scope.region, touched));
  return Status::Ok();
}

Status Deployer::Keep(const store::App& app, const store::Release& release, const AppPlan::Group& g, const Machine& m) {
  const bool local = m.host_id == opts_.host_id;
  if (local) PC_RETURN_IF_ERROR(host_->GiveVolume(app, g, m.id, nullptr));
  const bool startable = m.state == S::kStopped || m.state == S::kCreated || m.state == S::kFailed;
  if (m.release_version == release.version) {
    if (startable) host_->Intend(m, {m.state}, S::kStarting, "deploy");
    return Status::Ok();
  }
  PC_ASSIGN_OR_RETURN(Machine updated, registry_->UpdateMachineRelease(m.id, release.version));
  const bool running = m.state == S::kStarted || m.state == S::kStarting;
  if (local) host_->MovedToRelease(updated, /*restart=*/running);
  if (running) host_->Intend(m, {}, S::kStopping, kDeployReplacing);  // its host starts it again once stopped
  else if (startable) host_->Intend(m, {m.state}, S::kStarting, "deploy");
  return Status::Ok();
}

Status Deployer::Create(const store::App& app, const store::Release& release, const AppPlan::Group& g,
                        const std::string& region, std::vector<std::string>* touched) {
  store::MachineSpec spec;
  spec.app = app.name;
  spec.region = region.empty() ? opts_.region : region;
  spec.process_group = g.name;
  spec.release_version = release.version;
  spec.carries_services = true;  // the group's services, like Fly Launch's machines
  spec.initial_state = S::kStarting;
  PC_ASSIGN_OR_RETURN(uint32_t host, host_->HostForRegion(spec.region));
  const bool local = host == opts_.host_id;
  if (!local) {
    if (g.mount)
      return FailedPrecondition("process group " + g.name + " has [mounts]: volumes live on this host, so its " +
                                "machines cannot go to region " + spec.region);
    spec.host_id = host;
  }
  if (local) PC_RETURN_IF_ERROR(host_->GiveVolume(app, g, "", &spec));
  PC_ASSIGN_OR_RETURN(Machine m, registry_->CreateMachine(spec));
  touched->push_back(m.id);
  if (!local) {
    host_->StoreMachines().push_back(m);  // counts for the next placement; its host starts it
    host_->NoteEvent(app.name, "deploy",
                     "created machine " + m.id + " (" + g.name + ") in " + spec.region + " on host " +
                         store::keys::Hex32(host));
    return Status::Ok();
  }
  host_->NoteEvent(app.name, "deploy", "created machine " + m.id + " (" + g.name + ")");
  host_->LaunchCreated(spec, m);
  return Status::Ok();
}

std::vector<Machine> Deployer::Managed(const std::string& app, const std::string& group,
                                       const std::function<bool(const Machine&)>& pred) {
  std::vector<Machine> out;
  for (const auto& m : host_->StoreMachines())
    if (m.app == app && m.process_group == group && IsDeployManaged(m) && m.state != S::kDestroying &&
        m.state != S::kDestroyed && pred(m))
      out.push_back(m);
  return out;
}

void Deployer::DestroyAll(const store::App& app) {
  // On every host. A failed reload keeps the last view.
  if (Status st = host_->ReloadState(); !st.ok())
    log::Warn("daemon", "scale to 0: cannot reload the store", {{"app", app.name}, {"error", st.message()}});
  const std::vector<Machine> machines = host_->StoreMachines();  // Intend may refresh the view
  for (const auto& m : machines)
    if (m.app == app.name && IsDeployManaged(m) && m.state != S::kDestroying)
      host_->Intend(m, {}, S::kDestroying, "scaled to 0");
}

DeployOutcome Deployer::Outcome(const std::vector<std::string>& touched) {
  DeployOutcome out;
  for (const auto& id : touched) {
    const Machine* m = host_->LocalMachine(id);
    if (!m) {
      // Another host's machine: its record as written (its host reports readiness there).
      if (auto r = registry_->GetMachine(id); r.ok()) out.machines.push_back(r.value());
      continue;
    }
    out.machines.push_back(*m);
    // Machines with nothing to listen on are ready at once (if they started at all).
    if (host_->PortsFor(*m).empty() && m->state != S::kFailed) signal_->Ready(id);
  }
  return out;
}

void Deployer::Report(const store::App& app, DeployOutcome* out) {
  // Wait (bounded) for each started machine of this host to listen, to report listener
  // problems now (another host's machines are probed by their host).
  std::vector<std::string> ids;
  for (const auto& m : out->machines)
    if (m.host_id == opts_.host_id) ids.push_back(m.id);
  auto outcomes = signal_->WaitAll(ids, opts_.deploy_wait);
  std::set<std::string> failed;
  for (const auto& id : ids) {
    auto it = outcomes.find(id);
    if (it == outcomes.end()) {
      out->warnings.push_back("machine " + id + " is not listening yet on its internal port");
    } else if (it->second.kind == ReadinessOutcome::Kind::kFailed) {
      failed.insert(id);
    } else if (it->second.kind == ReadinessOutcome::Kind::kWarning) {
      out->warnings.push_back(it->second.warning);
    }
  }
  // Re-read machines for fresh states.
  auto ms = registry_->ListMachines(app.name);
  if (ms.ok()) {
    out->machines.clear();
    for (auto& m : ms.value())
      if (IsDeployManaged(m)) out->machines.push_back(m);
  }
  NameFailures(failed, out);
}

}  // namespace privcast::daemon
