#include "daemon/uninstall.h"

#include <algorithm>
#include <filesystem>

#include "daemon/data_dir.h"
#include "netns/firewall.h"
#include "netns/host_network.h"
#include "netns/net_ops.h"
#include "supervisor/record.h"

namespace privcast::daemon {

std::vector<std::string> RunningMachines(const std::string& machines_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(machines_dir, ec)) {
    auto rec = supervisor::LoadRecord((e.path() / "runtime").string());
    if (!rec.ok() || rec->pid <= 0) continue;
    auto st = supervisor::ReadProcStat(rec->pid);
    // The same process (pid + start time, so a reused pid does not count) and not a zombie.
    if (st.ok() && st->start_time == rec->start_time && st->state != 'Z') out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> Uninstall(const std::string& data_dir) {
  PC_ASSIGN_OR_RETURN(DataDir dir, DataDir::Open(data_dir));
  std::vector<std::string> running = RunningMachines(dir.machines_dir());
  if (!running.empty()) {
    std::string ids;
    for (size_t i = 0; i < running.size() && i < 5; ++i) ids += (i ? ", " : "") + running[i];
    if (running.size() > 5) ids += ", …";
    return FailedPrecondition(std::to_string(running.size()) + " machine(s) still run (" + ids +
                              "): removing the isolation rules would open their networks; start "
                              "privcastd, destroy the apps (privcast apps destroy NAME), stop it, then uninstall");
  }
  PC_ASSIGN_OR_RETURN(auto fw, netns::Firewall::Create());
  PC_RETURN_IF_ERROR(fw->Remove());
  // The host side of the flycast plumbing (privcast0, the unreachable fdaa::/16 routes) goes
  // too: a daemon that starts again makes it anew.
  PC_ASSIGN_OR_RETURN(auto ops, netns::KernelNetOps::Create());
  netns::HostNetwork host(*ops);
  PC_RETURN_IF_ERROR(host.Teardown());
  return "removed the nftables table inet " + std::string(netns::Firewall::kTable) + " and the interface " +
         netns::HostNetwork::kIfName + "; the data dir " + dir.path() + " is left in place";
}

}  // namespace privcast::daemon
