#include "daemon/snapshot_builder.h"

#include <unordered_map>

#include <algorithm>

#include "common/log.h"
#include "common/service_scope.h"

namespace privcast::daemon {

MachineRunState ToRunState(store::MachineState s) {
  using S = store::MachineState;
  switch (s) {
    case S::kStarted:
      return MachineRunState::kStarted;
    case S::kStarting:
      return MachineRunState::kStarting;
    case S::kStopping:
      return MachineRunState::kStopping;
    case S::kSuspended:
    case S::kSuspending:
      return MachineRunState::kSuspended;
    case S::kCreated:
    case S::kStopped:
      return MachineRunState::kStopped;
    case S::kDestroying:
    case S::kDestroyed:
    case S::kFailed:
      return MachineRunState::kOther;  // never woken: a start just failed
  }
  return MachineRunState::kOther;
}

namespace {

// What the apps pass learned from each app's current release, for the machines pass.
using ReleaseInfoByApp = std::unordered_map<std::string, ReleaseInfo>;

// The apps (s.apps), each with its network and, from its current release, its primary region,
// services and process groups. A release that does not decode leaves its app without services.
ReleaseInfoByApp AddApps(const store::StateView& state, const ReleaseDecoder& decode, Snapshot& s) {
  std::unordered_map<std::string, const store::Release*> release_of;
  for (const auto& r : state.current_releases) release_of[r.app] = &r;
  std::unordered_map<std::string, uint32_t> net32_of;  // "org/name" → net32
  for (const auto& n : state.networks) net32_of[n.org + "/" + n.name] = n.net32;

  ReleaseInfoByApp info_of;
  for (const auto& a : state.apps) {
    AppView v;
    v.index = static_cast<uint32_t>(s.apps.size());
    v.name = a.name;
    v.org = a.org;
    auto net = net32_of.find(a.org + "/" + a.network);
    v.net32 = net == net32_of.end() ? 0 : net->second;
    v.primary_region = s.local_region;
    auto rel = release_of.find(a.name);
    if (rel != release_of.end()) {
      auto info = decode(*rel->second);
      if (info.ok()) {
        if (!info->primary_region.empty()) v.primary_region = info->primary_region;
        v.services = info->services;
        v.process_groups = info->process_groups;
        info_of.emplace(a.name, std::move(info).value());
      } else {
        log::Error("daemon", "release does not decode; app has no services",
                   {{"app", a.name}, {"version", rel->second->version}, {"error", info.status().message()}});
      }
    }
    s.apps.push_back(std::move(v));
  }
  return info_of;
}

// One machine as the data path sees it (index and app filled in by the caller).
MachineView ViewOf(const store::Machine& m, const Snapshot& s, const ReleaseInfoByApp& info_of,
                   const std::set<uint32_t>& live_peers) {
  MachineView mv;
  mv.id = m.id;
  mv.region = m.region;
  mv.process_group = m.process_group;
  // With a shared store (etcd) the state holds other hosts' machines too. A machine of a live
  // peer is a backend reached at its 6PN address over the underlay (its link address only
  // means something on its own host); a machine of a host that is down is never routed to
  // (its lease ended: docs/cluster.md); DNS still lists both. On one host every machine is local.
  bool local = m.host_id == s.local_host_id;
  mv.remote = !local;
  mv.carries_services = m.carries_services && (local || live_peers.count(m.host_id) != 0);
  mv.state = ToRunState(m.state);
  mv.host_id = m.host_id;
  if (!live_peers.empty())
    mv.distance_km = static_cast<uint32_t>(std::min(s.regions->DistanceKm(s.local_region, m.region), 40000.0));
  mv.six_pn = addr::SixPnAddress(m.net32, m.host_id, m.machine32);
  mv.link_v4 = addr::LinkV4Machine(m.link_slot);
  mv.created_at = m.created_at;
  auto info = info_of.find(m.app);
  if (info != info_of.end()) {
    mv.kill_signal = info->second.kill_signal;
    mv.kill_timeout_ms = info->second.kill_timeout_ms;
  }
  return mv;
}

// The machines that may be backends (s.machines, and each app's list); needs the apps indexed.
void AddMachines(const store::StateView& state, const ReleaseInfoByApp& info_of, const std::set<uint32_t>& live_peers,
                 Snapshot& s) {
  for (const auto& m : state.machines) {
    auto app = s.app_by_name.find(m.app);
    if (app == s.app_by_name.end()) continue;  // orphan record: ignore for routing
    if (m.state == store::MachineState::kDestroyed || m.state == store::MachineState::kDestroying) continue;
    // Throwaway machines (machine run --shell / --rm) are clients, never backends.
    if (m.auto_destroy) continue;
    MachineView mv = ViewOf(m, s, info_of, live_peers);
    mv.index = static_cast<uint32_t>(s.machines.size());
    mv.app_index = app->second;
    s.apps[app->second].machines.push_back(mv.index);
    s.machines.push_back(std::move(mv));
  }
}

// The flycast addresses (s.flycast, and each app's list), each scoped to its service if it
// names one; needs the apps indexed.
void AddFlycast(const store::StateView& state, Snapshot& s) {
  for (const auto& ip : state.ips) {
    auto app = s.app_by_name.find(ip.app);
    if (app == s.app_by_name.end()) continue;
    auto a = Ip6::Parse(ip.address);
    if (!a) {
      log::Error("daemon", "stored ip assignment is not an IPv6 address", {{"app", ip.app}, {"ip", ip.address}});
      continue;
    }
    FlycastEntry e{*a, ip.net32, app->second, ip.service, {}};
    if (!ip.service.empty()) {
      // A service the current release does not have reaches nothing (fail closed).
      const AppView& av = s.apps[app->second];
      e.services = ServiceScope(av.services, av.process_groups, ip.service).value_or(std::vector<ServiceSpec>{});
    }
    s.apps[app->second].flycast.push_back(static_cast<uint32_t>(s.flycast.size()));
    s.flycast.push_back(e);
  }
}

}  // namespace

Snapshot BuildSnapshot(const store::StateView& state, uint32_t local_host_id, const std::string& local_region,
                       const ReleaseDecoder& decode, const std::set<uint32_t>& live_peers) {
  Snapshot s;
  s.revision = state.revision;
  s.local_host_id = local_host_id;
  s.local_region = local_region;
  s.regions = state.regions ? state.regions : RegionTable::Default();
  for (const auto& n : state.networks) s.networks.push_back(NetworkView{n.net32, n.org, n.name});
  ReleaseInfoByApp info_of = AddApps(state, decode, s);
  s.Index();  // app_by_name, for the passes below
  AddMachines(state, info_of, live_peers, s);
  AddFlycast(state, s);
  s.Index();
  return s;
}

}  // namespace privcast::daemon
