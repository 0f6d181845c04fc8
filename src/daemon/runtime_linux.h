// LinuxRuntime: MachineRuntime on the real kernel — netns module for networks, host plumbing
// and nftables; supervisor module for processes, cgroups, freezer, restart and adoption.
//
// Owns the NetOps, HostNetwork, MachineNetwork, Firewall, ListenerProbe and Supervisor.
// Machine logs live in <data-dir>/logs/<machine id>.log and outlive the machine.
// Thread-safety: control thread only (see runtime.h); the supervisor's events arrive on its
// own thread and are forwarded to the exit callback.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "daemon/runtime.h"

namespace privcast::daemon {

struct LinuxRuntimeOptions {
  std::string state_root;  // supervisor state dirs: <data-dir>/machines
  std::string netns_dir;   // <data-dir>/run/netns
  std::string logs_dir;    // <data-dir>/logs
  std::string instance;    // cgroup root "privcast-<instance>"
  uint32_t host_id = 0;
  std::string region;
  bool firewall = true;
  uint32_t id_base = 524288;  // machine uid/gid ranges: id_base + link_slot × 65536
  std::string init_path;      // privcast-init
};

class LinuxRuntime final : public MachineRuntime {
 public:
  static Result<std::unique_ptr<LinuxRuntime>> Create(const LinuxRuntimeOptions& o);
  ~LinuxRuntime() override;

  Status SetupHost() override;
  void TeardownHost() override;
  Status AddFlycast(const Ip6& a) override;
  Status RemoveFlycast(const Ip6& a) override;
  Status SyncFirewall(const store::StateView& state, const FlycastPortMap& ports) override;
  Status SyncPeers(const std::map<Ip6, Ip6>& routes, const std::set<Ip6>& peers) override;
  Status EnsureNetwork(const store::Machine& m) override;
  Status Launch(const LaunchPlan& plan) override;
  Status Stop(const std::string& id, KillSignal sig, Duration timeout) override;
  Status Suspend(const std::string& id) override;
  Status Resume(const std::string& id) override;
  bool IsRunning(const std::string& id) override;
  bool IsSuspended(const std::string& id) override;
  Status Destroy(const store::Machine& m) override;
  Result<bool> Adopt(const LaunchPlan& plan) override;
  Result<std::vector<Listener>> Listeners(const std::string& id) override;
  Result<bool> Accepts(const std::string& id, uint16_t port) override;
  std::string LogPath(const std::string& id) override;
  void SetExitCallback(std::function<void(const ExitInfo&)> cb) override;
  void Detach() override;
  Result<Entered> Enter(const std::string& id, const EnterRequest& req) override;
  std::string PtmxPath(const std::string& id) override;

  struct Impl;

 private:
  // probe_only: make sure the machine's probe socket is open, list nothing.
  Result<std::vector<Listener>> Listeners(const std::string& id, bool probe_only);
  explicit LinuxRuntime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace privcast::daemon
