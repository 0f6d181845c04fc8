// MachineManager: `machine run` (detached, placed in a region across hosts) and attached runs
// (machine run --rm / --shell: stdio passed to the machine, exit status returned).
#include "daemon/machine_manager.h"

#include <algorithm>
#include <future>
#include <map>
#include <tuple>

#include "daemon/plan.h"
#include "store/keys.h"

namespace privcast::daemon {

using store::Machine;
using store::MachineState;
using S = store::MachineState;

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
    return FailedPrecondition("no live host in region " + region + " (live hosts: " + (seen.empty() ? "none" : seen) +
                              ")");
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
    Attached& at = attached_[m->id];
    at.stdio = Attached::Stdio{in_fd, out_fd, err_fd, tty};
    auto once = std::make_shared<std::once_flag>();
    at.on_exit.push_back([exit_p, once](int code) { std::call_once(*once, [&] { exit_p->set_value(code); }); });
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

}  // namespace privcast::daemon
