#include "proxy/state.h"

#include <algorithm>
#include <set>

namespace privcast::proxy {

RoutingStatePtr StateTable::Build(SnapshotPtr snap, int64_t now_ns, TlsContextProvider* tls) {
  auto rs = std::make_shared<RoutingState>();
  MutexLock l(&mu_);
  std::map<std::string, std::shared_ptr<AppState>> apps;
  std::map<std::string, std::shared_ptr<MachineState>> machines;
  std::set<uint16_t> ports;
  rs->apps.reserve(snap->apps.size());
  rs->tls.resize(snap->apps.size());
  std::vector<std::string> tls_apps;
  for (const AppView& a : snap->apps) {
    auto it = apps_.find(a.name);
    auto st = it != apps_.end() ? it->second : std::make_shared<AppState>(a.name);
    apps.emplace(a.name, st);
    rs->apps.push_back(st);
    // Only apps reachable through a flycast address need listeners.
    if (a.flycast.empty()) continue;
    bool has_tls = false;
    // Per-service addresses admit a subset of these ports (ADR 0013): the union is the same.
    for (const ServiceSpec& s : a.services)
      for (const PortSpec& p : s.ports) {
        has_tls |= p.tls;
        for (uint32_t port = p.start_port; port <= p.end_port && port != 0; ++port)
          ports.insert(static_cast<uint16_t>(port));
      }
    if (has_tls && tls) {
      std::vector<Ip6> addrs;
      for (uint32_t f : a.flycast) addrs.push_back(snap->flycast[f].address);
      std::sort(addrs.begin(), addrs.end());
      rs->tls[a.index] = tls->ForApp(a.name, addrs);
      tls_apps.push_back(a.name);
    }
  }
  if (tls) {
    std::sort(tls_apps.begin(), tls_apps.end());
    tls->ForgetAllBut(tls_apps);
  }
  rs->machines.reserve(snap->machines.size());
  for (const MachineView& m : snap->machines) {
    auto it = machines_.find(m.id);
    std::shared_ptr<MachineState> st;
    if (it != machines_.end()) {
      st = it->second;
    } else {
      st = std::make_shared<MachineState>(m.id, snap->apps[m.app_index].name);
      st->app_state = rs->apps[m.app_index];
      st->six_pn = m.six_pn;
      st->idle_since_ns.store(now_ns);
    }
    // Started again (start or resume) since the last snapshot: idle counts from now, not from
    // when its load last dropped before it stopped.
    const bool started = m.state == MachineRunState::kStarted;
    if (started && !st->started_in_snapshot) st->idle_since_ns.store(now_ns);
    st->started_in_snapshot = started;
    machines.emplace(m.id, st);
    rs->machines.push_back(st);
  }
  std::map<std::pair<std::string, std::string>, std::shared_ptr<ServiceState>> services;
  rs->services.resize(snap->flycast.size());
  for (uint32_t i = 0; i < snap->flycast.size(); ++i) {
    const FlycastEntry& fe = snap->flycast[i];
    if (fe.service.empty()) continue;
    auto key = std::make_pair(snap->apps[fe.app_index].name, fe.service);
    auto it = services.find(key);
    if (it == services.end()) {
      auto old = services_.find(key);
      it = services
               .emplace(key,
                        old != services_.end() ? old->second : std::make_shared<ServiceState>(key.first, key.second))
               .first;
    }
    rs->services[i] = it->second;
  }
  services_.swap(services);
  apps_.swap(apps);
  machines_.swap(machines);
  rs->ports.assign(ports.begin(), ports.end());
  rs->snap = std::move(snap);
  return rs;
}

std::vector<std::shared_ptr<AppState>> StateTable::Apps() const {
  MutexLock l(&mu_);
  std::vector<std::shared_ptr<AppState>> v;
  for (auto& [k, a] : apps_) v.push_back(a);
  return v;
}

std::vector<std::shared_ptr<ServiceState>> StateTable::Services() const {
  MutexLock l(&mu_);
  std::vector<std::shared_ptr<ServiceState>> v;
  for (auto& [k, s] : services_) v.push_back(s);
  return v;
}

std::vector<std::shared_ptr<MachineState>> StateTable::Machines() const {
  MutexLock l(&mu_);
  std::vector<std::shared_ptr<MachineState>> v;
  for (auto& [k, m] : machines_) v.push_back(m);
  return v;
}

}  // namespace privcast::proxy
