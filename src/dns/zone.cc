#include "dns/zone.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "common/service_scope.h"
#include "common/strings.h"

namespace privcast::dns {
namespace {

void AppendInstances(const Zone& z, const ZoneApp& a, std::string* out) {
  for (uint32_t mi : a.started) {
    const ZoneMachine& m = z.machines[mi];
    if (!out->empty()) out->push_back(';');
    out->append("instance=").append(m.id).append(",app=").append(a.name);
    out->append(",ip=").append(m.six_pn.ToString()).append(",region=").append(m.region);
  }
}

// FNV-1a, fed field by field (lengths included, so "ab"+"c" ≠ "a"+"bc").
struct Fnv {
  uint64_t h = 1469598103934665603ull;
  void Bytes(const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
  void U64(uint64_t v) { Bytes(&v, sizeof v); }
  void Str(std::string_view s) {
    U64(s.size());
    Bytes(s.data(), s.size());
  }
};

// What `.internal` answers about an app depend on: its name and its machines.
uint64_t InternalHash(const Zone& z, const ZoneApp& a) {
  Fnv f;
  f.Str(a.name);
  f.Str(a.services_txt);
  for (uint32_t mi : a.machines) {
    const ZoneMachine& m = z.machines[mi];
    f.Str(m.id);
    f.Str(m.region);
    f.Str(m.group);
    f.Bytes(m.six_pn.b.data(), 16);
    f.U64(m.started);
  }
  return f.h;
}

ZoneMachine ToZoneMachine(const MachineView& m) {
  ZoneMachine zm;
  zm.id = Lower(m.id);
  zm.region = Lower(m.region);
  zm.group = Lower(m.process_group);
  zm.six_pn = m.six_pn;
  zm.started = m.state == MachineRunState::kStarted;
  zm.app = m.app_index;
  return zm;
}

// The app's flycast addresses: app-wide ones in a->flycast, per-service ones in a->services.
void AddFlycast(const Snapshot& s, const AppView& av, ZoneApp* a) {
  for (uint32_t fi : av.flycast) {
    if (fi >= s.flycast.size()) continue;
    const FlycastEntry& fe = s.flycast[fi];
    if (fe.service.empty()) {
      a->flycast.emplace_back(fe.net32, fe.address);
      continue;
    }
    // A per-service address: answered as <service>.svc.<app>.flycast, never as <app>.flycast.
    std::string sname = Lower(fe.service);
    auto it = std::find_if(a->services.begin(), a->services.end(),
                           [&](const ZoneService& z) { return z.name == sname; });
    if (it == a->services.end()) {
      a->services.push_back(ZoneService{sname, {}, false});
      it = a->services.end() - 1;
    }
    it->flycast.emplace_back(fe.net32, fe.address);
    for (uint32_t mi : av.machines) {
      if (mi >= s.machines.size() || !InScope(s.machines[mi], fe.services)) continue;
      MachineRunState st = s.machines[mi].state;
      if (st == MachineRunState::kStarted || st == MachineRunState::kStarting) it->waking_or_started = true;
    }
  }
  std::sort(a->flycast.begin(), a->flycast.end());
  std::sort(a->services.begin(), a->services.end(),
            [](const ZoneService& x, const ZoneService& y) { return x.name < y.name; });
  for (ZoneService& zs : a->services) std::sort(zs.flycast.begin(), zs.flycast.end());
}

// `_services.<app>.internal`: every service of the app, "api,web".
std::string ServicesTxt(const AppView& av) {
  std::string txt;
  for (const std::string& n : ServiceNames(av.services, av.process_groups)) {
    if (!txt.empty()) txt.push_back(',');
    txt.append(Lower(n));
  }
  return txt;
}

// The app's machines (a->machines) and which are started, unsorted.
void AddMachines(const Snapshot& s, const AppView& av, ZoneApp* a) {
  for (uint32_t mi : av.machines) {
    if (mi >= s.machines.size()) continue;
    a->machines.push_back(mi);
    MachineRunState st = s.machines[mi].state;
    if (st == MachineRunState::kStarted) a->started.push_back(mi);
    if (st == MachineRunState::kStarted || st == MachineRunState::kStarting) a->waking_or_started = true;
  }
}

// regions_txt and vms_txt, from the started machines (a->started already sorted).
void StartedTexts(const Zone& z, ZoneApp* a) {
  std::vector<std::string> regions;
  for (uint32_t mi : a->started) {
    const ZoneMachine& m = z.machines[mi];
    if (std::find(regions.begin(), regions.end(), m.region) == regions.end()) regions.push_back(m.region);
    if (!a->vms_txt.empty()) a->vms_txt.push_back(',');
    a->vms_txt.append(m.id).append(" ").append(m.region);
  }
  std::sort(regions.begin(), regions.end());
  for (const auto& r : regions) {
    if (!a->regions_txt.empty()) a->regions_txt.push_back(',');
    a->regions_txt.append(r);
  }
}

// One flycast address in a serial: app, service (app-wide: none), network, address.
uint64_t FlycastHash(std::string_view app, const std::string* service, uint32_t net, const Ip6& address) {
  Fnv fl;
  fl.Str(app);
  if (service) fl.Str(*service);
  fl.U64(net);
  fl.Bytes(address.b.data(), 16);
  return fl.h;
}

}  // namespace

size_t StringViewHash::operator()(std::string_view s) const noexcept {
  // FNV-1a: names are short; this beats std::hash's out-of-line call on the hot path.
  uint64_t h = Fnv1a64(s);
  return static_cast<size_t>(h ^ (h >> 32));
}

std::shared_ptr<const Zone> Zone::Build(const SnapshotPtr& snap) {
  auto z = std::make_shared<Zone>();
  if (!snap) return z;
  const Snapshot& s = *snap;
  z->revision_ = s.revision;
  const std::string local = Lower(s.local_region);
  const std::shared_ptr<const RegionTable> regions = s.regions ? s.regions : RegionTable::Default();

  z->machines.reserve(s.machines.size());
  for (const MachineView& m : s.machines) z->machines.push_back(ToZoneMachine(m));
  auto nearer = [&](uint32_t x, uint32_t y) {
    const ZoneMachine& a = z->machines[x];
    const ZoneMachine& b = z->machines[y];
    double da = regions->DistanceKm(local, a.region), db = regions->DistanceKm(local, b.region);
    return std::tie(da, a.region, a.id) < std::tie(db, b.region, b.id);
  };

  z->apps.resize(s.apps.size());
  for (size_t i = 0; i < s.apps.size(); ++i) {
    const AppView& av = s.apps[i];
    ZoneApp& a = z->apps[i];
    a.name = Lower(av.name);
    a.net32 = av.net32;
    AddFlycast(s, av, &a);
    a.services_txt = ServicesTxt(av);
    AddMachines(s, av, &a);
    std::sort(a.machines.begin(), a.machines.end(), nearer);
    std::sort(a.started.begin(), a.started.end(), nearer);
    StartedTexts(*z, &a);
    z->apps_by_name_.emplace(a.name, static_cast<uint32_t>(i));
  }

  // Per-network texts, apps in name order.
  std::vector<uint32_t> order(z->apps.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) { return z->apps[x].name < z->apps[y].name; });
  for (const NetworkView& n : s.networks) {
    if (z->networks_.count(n.net32)) continue;
    z->networks_.emplace(n.net32, static_cast<uint32_t>(z->apps_txt_.size()));
    z->apps_txt_.emplace_back();
    z->instances_txt_.emplace_back();
  }
  // Serials: each view hashes what it can see, apps in name order.
  std::vector<Fnv> net_hash(z->apps_txt_.size());
  Fnv host_hash;
  for (uint32_t i : order) {
    const ZoneApp& a = z->apps[i];
    uint64_t ih = InternalHash(*z, a);
    host_hash.U64(ih);
    for (const auto& [net, address] : a.flycast) {
      uint64_t h = FlycastHash(a.name, nullptr, net, address);
      host_hash.U64(h);
      if (auto it = z->networks_.find(net); it != z->networks_.end()) net_hash[it->second].U64(h);
    }
    for (const ZoneService& zs : a.services)
      for (const auto& [net, address] : zs.flycast) {
        uint64_t h = FlycastHash(a.name, &zs.name, net, address);
        host_hash.U64(h);
        if (auto it = z->networks_.find(net); it != z->networks_.end()) net_hash[it->second].U64(h);
      }
    if (auto it = z->networks_.find(a.net32); it != z->networks_.end()) net_hash[it->second].U64(ih);
  }
  for (const Fnv& f : net_hash) z->serials_.push_back(f.h);
  z->host_serial_ = host_hash.h;

  for (uint32_t i : order) {
    const ZoneApp& a = z->apps[i];
    if (!z->host_apps_txt_.empty()) z->host_apps_txt_.push_back(',');
    z->host_apps_txt_.append(a.name);
    AppendInstances(*z, a, &z->host_instances_txt_);
    auto it = z->networks_.find(a.net32);
    if (it == z->networks_.end()) continue;
    std::string& at = z->apps_txt_[it->second];
    if (!at.empty()) at.push_back(',');
    at.append(a.name);
    AppendInstances(*z, a, &z->instances_txt_[it->second]);
  }
  return z;
}

const ZoneApp* Zone::FindApp(std::string_view lower_name) const {
  auto it = apps_by_name_.find(lower_name);
  return it == apps_by_name_.end() ? nullptr : &apps[it->second];
}

const ZoneService* Zone::FindService(const ZoneApp& a, std::string_view lower_name) {
  for (const ZoneService& s : a.services)
    if (s.name == lower_name) return &s;
  return nullptr;
}

const std::string& Zone::AppsTxt(const ClientView& v) const {
  if (v.kind == ClientView::kHost) return host_apps_txt_;
  auto it = networks_.find(v.net32);
  return (v.kind == ClientView::kNetwork && it != networks_.end()) ? apps_txt_[it->second] : empty_;
}

uint32_t Zone::Serial(const ClientView& v) const {
  uint64_t h = 0;
  if (v.kind == ClientView::kHost) {
    h = host_serial_;
  } else if (auto it = networks_.find(v.net32); v.kind == ClientView::kNetwork && it != networks_.end()) {
    h = serials_[it->second];
  }
  return static_cast<uint32_t>(h ^ (h >> 32));
}

const std::string& Zone::InstancesTxt(const ClientView& v) const {
  if (v.kind == ClientView::kHost) return host_instances_txt_;
  auto it = networks_.find(v.net32);
  return (v.kind == ClientView::kNetwork && it != networks_.end()) ? instances_txt_[it->second] : empty_;
}

ClientView ViewOf(const Zone& z, const Ip6& a, bool outside_is_host) {
  ClientView v;
  if (auto net = addr::NetworkOf(a)) {
    if (z.KnownNetwork(*net)) {
      v.kind = ClientView::kNetwork;
      v.net32 = *net;
    }
    return v;  // a privcast address on a network we do not know: nothing
  }
  static const Ip6 kLoop6 = [] {
    Ip6 x;
    x.b[15] = 1;
    return x;
  }();
  bool own_prefix = a.Group(0) == 0xfdaa && a.Group(1) == 0 && a.Group(2) == 0;  // fdaa:0:0::/48
  bool v4_loop = a.Group(0) == 0 && a.Group(1) == 0 && a.Group(2) == 0 && a.Group(3) == 0 && a.Group(4) == 0 &&
                 a.Group(5) == 0xffff && a.b[12] == 127;
  if (a == kLoop6 || own_prefix || v4_loop || outside_is_host) v.kind = ClientView::kHost;
  return v;
}

}  // namespace privcast::dns
