// MachineManager: host plumbing kept in sync with the store: flycast addresses, nftables
// rules (and the flycast ports they admit), routes to the other live hosts.
#include "daemon/machine_manager.h"

#include <algorithm>

#include "common/log.h"
#include "common/service_scope.h"

namespace privcast::daemon {

using store::Machine;
using store::MachineState;
using S = store::MachineState;

FlycastPortMap MachineManager::FlycastPorts() {
  FlycastPortMap out;
  for (const auto& ip : state_.ips) {
    auto& ranges = out[ip.address];  // an app without a release or services: no port at all
    const AppPlan* plan = PlanFor(ip.app);
    if (!plan) continue;
    // A per-service address admits only its service's ports (none for an unknown service).
    const std::vector<ServiceSpec> scoped = ip.service.empty() ? std::vector<ServiceSpec>{}
                                                               : ServiceScope(plan->info.services,
                                                                              plan->info.process_groups, ip.service)
                                                                     .value_or(std::vector<ServiceSpec>{});
    for (const ServiceSpec& svc : ip.service.empty() ? plan->info.services : scoped) {
      if (svc.protocol != "tcp") continue;
      for (const PortSpec& p : svc.ports) ranges.emplace_back(p.start_port, p.end_port);
    }
  }
  return out;
}

void MachineManager::SyncHost() {
  std::set<std::string> want;
  for (const auto& ip : state_.ips) want.insert(ip.address);
  for (const auto& a : want) {
    if (flycast_applied_.count(a)) continue;
    auto ip = Ip6::Parse(a);
    if (!ip) continue;
    auto st = runtime_->AddFlycast(*ip);
    if (st.ok()) flycast_applied_.insert(a);
    else log::Error("daemon", "cannot add flycast address", {{"ip", a}, {"error", st.message()}});
  }
  for (auto it = flycast_applied_.begin(); it != flycast_applied_.end();) {
    if (want.count(*it)) {
      ++it;
      continue;
    }
    if (auto ip = Ip6::Parse(*it)) (void)runtime_->RemoveFlycast(*ip);
    it = flycast_applied_.erase(it);
  }
  SyncFirewall();
}

void MachineManager::SyncPeers() {
  if (!opts_.live_underlays) return;
  auto live = opts_.live_underlays();
  if (!live.ok()) {
    log::Warn("daemon", "cannot read live hosts; keeping the last known", {{"error", live.status().message()}});
    return;
  }
  std::set<uint32_t> hosts;
  std::map<uint32_t, Ip6> underlay;
  std::string key;
  for (const auto& [id, text] : live.value()) {
    if (id == opts_.host_id) continue;
    auto a = Ip6::Parse(text);
    if (!a) continue;  // registered without --underlay (or IPv4): not reachable from here
    hosts.insert(id);
    underlay[id] = *a;
    key += std::to_string(id) + "=" + text + ",";
  }
  // One route per (network, host) with machines there: fdaa:<net32>:<host32>::/80.
  std::map<Ip6, Ip6> routes;
  for (const auto& m : state_.machines) {
    auto u = underlay.find(m.host_id);
    if (u == underlay.end()) continue;
    routes[addr::MachinePrefix(m.net32, m.host_id, 0)] = u->second;
  }
  for (const auto& [p, via] : routes) key += p.ToString() + ">" + via.ToString() + ",";
  live_peers_ = hosts;
  if (key == peers_key_) return;
  std::set<Ip6> peers;
  for (const auto& [id, a] : underlay) peers.insert(a);
  Status st = runtime_->SyncPeers(routes, peers);
  if (!st.ok()) {
    log::Error("daemon", "cluster routes sync failed", {{"error", st.message()}});
    return;
  }
  peers_key_ = key;
  if (peers != peers_applied_) firewall_key_.clear();  // the peers are part of the ruleset
  peers_applied_ = std::move(peers);
  log::Debug("daemon", "cluster peers",
             {{"hosts", static_cast<int64_t>(hosts.size())}, {"routes", static_cast<int64_t>(routes.size())}});
}

void MachineManager::SyncFirewall() {
  if (!opts_.firewall) return;
  // machines_ is this host's freshest view: a machine created since the last full reload is in
  // it (and must be admitted before its process sends its first packet), state_ may lag.
  store::StateView fw;
  fw.networks = state_.networks;
  fw.ips = state_.ips;
  for (const auto& [id, m] : machines_) fw.machines.push_back(m);
  std::sort(fw.machines.begin(), fw.machines.end(), [](const Machine& a, const Machine& b) { return a.id < b.id; });
  std::string key;
  for (const auto& n : fw.networks) key += std::to_string(n.net32) + ",";
  key += "|";
  for (const auto& m : fw.machines)
    key += m.id + ":" + std::to_string(m.link_slot) + ":" + std::to_string(m.net32) + ",";
  key += "|";
  for (const auto& ip : fw.ips) key += ip.address + ",";
  key += "|";
  FlycastPortMap ports = FlycastPorts();
  for (const auto& [ip, ranges] : ports)
    for (const auto& [first, last] : ranges) key += ip + "." + std::to_string(first) + "-" + std::to_string(last) + ",";
  if (key == firewall_key_) return;
  auto st = runtime_->SyncFirewall(fw, ports);
  if (st.ok()) firewall_key_ = key;
  else log::Error("daemon", "firewall sync failed", {{"error", st.message()}});
}

}  // namespace privcast::daemon
