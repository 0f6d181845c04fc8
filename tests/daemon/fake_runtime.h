// FakeRuntime: MachineRuntime in memory, for reconcile/wake/stop tests. Processes are flags;
// listeners are set by the test; faults are injected per operation.
#pragma once

#include <map>
#include <set>
#include <string>

#include "daemon/runtime.h"

namespace privcast::daemon {

class FakeRuntime final : public MachineRuntime {
 public:
  Status SetupHost() override { return Status::Ok(); }
  void TeardownHost() override { torn_down = true; }
  Status AddFlycast(const Ip6& a) override {
    flycast.insert(a.ToString());
    return Status::Ok();
  }
  Status RemoveFlycast(const Ip6& a) override {
    flycast.erase(a.ToString());
    return Status::Ok();
  }
  Status SyncFirewall(const store::StateView& state, const FlycastPortMap& ports) override {
    flycast_ports = ports;
    ++firewall_syncs;
    admitted.clear();
    for (const auto& m : state.machines) admitted.insert(m.id);
    return Status::Ok();
  }
  Status EnsureNetwork(const store::Machine& m) override {
    if (fail_network) return Internal("injected network failure");
    networks.insert(m.id);
    return Status::Ok();
  }
  Status Launch(const LaunchPlan& plan) override {
    ++launches[plan.machine.id];
    last_plan = plan;
    if (!admitted.count(plan.machine.id)) launched_unadmitted.insert(plan.machine.id);
    if (fail_launch) return Internal("injected launch failure");
    running.insert(plan.machine.id);
    if (listen_on_launch) listeners[plan.machine.id] = {{"0.0.0.0", listen_port, true}};
    return Status::Ok();
  }
  Status Stop(const std::string& id, KillSignal sig, Duration) override {
    last_stop_signal = sig.number();
    stops.push_back(id);
    return Status::Ok();  // the test delivers the exit through Exit()
  }
  Status Suspend(const std::string& id) override {
    suspended.insert(id);
    running.erase(id);
    return Status::Ok();
  }
  Status Resume(const std::string& id) override {
    suspended.erase(id);
    running.insert(id);
    ++resumes;
    return Status::Ok();
  }
  bool IsRunning(const std::string& id) override { return running.count(id) > 0; }
  bool IsSuspended(const std::string& id) override { return suspended.count(id) > 0; }
  Status Destroy(const store::Machine& m) override {
    running.erase(m.id);
    suspended.erase(m.id);
    networks.erase(m.id);
    destroyed.insert(m.id);
    return Status::Ok();
  }
  Result<bool> Adopt(const LaunchPlan& plan) override {
    bool alive = adoptable.count(plan.machine.id) > 0;
    if (alive) running.insert(plan.machine.id);
    return alive;
  }
  Result<std::vector<Listener>> Listeners(const std::string& id) override {
    ++probes;
    auto it = listeners.find(id);
    return it == listeners.end() ? std::vector<Listener>{} : it->second;
  }
  Result<bool> Accepts(const std::string& id, uint16_t port) override {
    ++probes;
    auto it = listeners.find(id);
    if (it == listeners.end()) return false;
    for (const auto& l : it->second)
      if (l.port == port && l.reachable) return true;
    return false;
  }
  std::string LogPath(const std::string& id) override { return "/nonexistent/" + id + ".log"; }
  void SetExitCallback(std::function<void(const ExitInfo&)> cb) override { exit_cb = std::move(cb); }
  void Detach() override { exit_cb = nullptr; }

  // Test side: the machine's process ends.
  void Exit(const std::string& id, int code) {
    running.erase(id);
    listeners.erase(id);
    if (exit_cb) exit_cb(ExitInfo{id, code, false});
  }

  bool fail_network = false, fail_launch = false, listen_on_launch = true, torn_down = false;
  uint16_t listen_port = 8080;
  int firewall_syncs = 0, resumes = 0, probes = 0, last_stop_signal = 0;
  FlycastPortMap flycast_ports;  // from the last SyncFirewall
  std::set<std::string> flycast, networks, running, suspended, destroyed, adoptable;
  std::set<std::string> admitted;             // machines in the last firewall state
  std::set<std::string> launched_unadmitted;  // launched while the firewall did not admit them
  std::map<std::string, int> launches;
  std::map<std::string, std::vector<Listener>> listeners;
  std::vector<std::string> stops;
  LaunchPlan last_plan;
  std::function<void(const ExitInfo&)> exit_cb;
};

}  // namespace privcast::daemon
