// AppPlan: what the daemon needs to know about an app's current release, decoded from its
// config (daemon/plan.h, DecodePlan): the process groups (command, services' internal ports,
// limits, restart policy, [mounts]), the image, [env] and the routing facts (ReleaseInfo).
// A value type; the MachineManager keeps one per app (decoded once per release version) and
// hands it to the Deployer and the launch path. Thread-safety: none of its own (a value).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "daemon/snapshot_builder.h"
#include "store/model.h"
#include "supervisor/restart.h"

namespace privcast::daemon {

struct AppPlan {
  ReleaseInfo info;
  struct Mount {
    std::string source, destination;  // volume name, path in the machine
    uint32_t initial_size_gb = 1;     // a volume the deploy creates
  };
  struct Group {
    std::string name;
    std::string command;  // [processes] command; empty = none
    bool has_services = false;
    std::vector<uint16_t> internal_ports;
    uint64_t memory_mb = 0;
    double cpus = 0;
    supervisor::RestartMode restart = supervisor::RestartMode::kOnFailure;
    int restart_retries = 10;
    bool persist_rootfs = false;  // [[vm]] persist_rootfs
    std::optional<Mount> mount;   // [mounts] of this group
  };
  std::vector<Group> groups;
  std::string image;  // [build] image (reference); "" = host /usr
  std::vector<std::pair<std::string, std::string>> env;
  const Group* FindGroup(const std::string& name) const {
    for (const auto& g : groups)
      if (g.name == name) return &g;
    return nullptr;
  }
};
using PlanDecoder = std::function<Result<AppPlan>(const store::Release&)>;

}  // namespace privcast::daemon
