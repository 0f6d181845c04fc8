// From an AppConfig to what the rest of privcast runs: the proxy's ServiceSpecs
// (common/snapshot.h) and the per-process-group answers the daemon needs to create machines.
//
// [http_service] becomes one tcp ServiceSpec with two ports: 80 (http, force_https as
// configured) and 443 (http + tls). [[services]] map one to one. Only services whose
// protocol is tcp carry ports the proxy listens on; udp services are passed through with
// their ports and no handlers. Pure functions of the config; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/snapshot.h"
#include "config/app_config.h"

namespace privcast::config {

std::vector<ServiceSpec> ToServiceSpecs(const AppConfig& config);

// Process groups, sorted: the [processes] names, or ["app"] when there is no [processes].
std::vector<std::string> ProcessGroups(const AppConfig& config);
// The command a machine of `group` runs: its [processes] entry, or "" (run the image's /
// the machine's default command) when there is none.
std::string CommandFor(const AppConfig& config, const std::string& group);
// Does any service ([http_service] or [[services]]) route to machines of `group`? (A
// service without `processes` serves every group.) Deploy creates 2 machines per such group.
bool GroupHasServices(const AppConfig& config, const std::string& group);
// Services that route to `group`, as ServiceSpecs.
std::vector<ServiceSpec> ServicesForGroup(const AppConfig& config, const std::string& group);

// Machine size for a group. The [[vm]] entry that names the group wins over one without
// `processes`; among equals the later entry wins; `size` presets (shared-cpu-1x,
// performance-2x, ...) fill in what memory/cpus/cpu_kind leave out.
struct VmSize {
  uint32_t memory_mb = 256;
  uint32_t cpus = 1;
  std::string cpu_kind = "shared";
  bool operator==(const VmSize&) const = default;
};
VmSize VmFor(const AppConfig& config, const std::string& group);
uint32_t MemoryMbFor(const AppConfig& config, const std::string& group);
uint32_t CpusFor(const AppConfig& config, const std::string& group);
// [[vm]] persist_rootfs for a group (chosen like VmFor).
bool PersistRootfsFor(const AppConfig& config, const std::string& group);
// The [mounts] entry of a process group (one naming it, else one for every group), or null.
const MountConfig* MountFor(const AppConfig& config, const std::string& group);

// Restart policy for a group, chosen like VmFor. Default: on-failure with 10 retries.
RestartConfig RestartFor(const AppConfig& config, const std::string& group);

}  // namespace privcast::config
