#include "common/snapshot.h"

namespace privcast {

const std::vector<ServiceSpec>& FlycastEntry::Services(const AppView& app) const {
  return service.empty() ? app.services : services;
}

const AppView* Snapshot::FindApp(std::string_view name) const {
  auto it = app_by_name.find(std::string(name));
  return it == app_by_name.end() ? nullptr : &apps[it->second];
}

const FlycastEntry* Snapshot::FindFlycast(const Ip6& a) const {
  auto it = flycast_by_address.find(a);
  return it == flycast_by_address.end() ? nullptr : &flycast[it->second];
}

void Snapshot::Index() {
  app_by_name.clear();
  machine_by_id.clear();
  flycast_by_address.clear();
  for (uint32_t i = 0; i < apps.size(); ++i) {
    apps[i].index = i;
    app_by_name.emplace(apps[i].name, i);
  }
  for (uint32_t i = 0; i < machines.size(); ++i) {
    machines[i].index = i;
    machine_by_id.emplace(machines[i].id, i);
  }
  for (uint32_t i = 0; i < flycast.size(); ++i) flycast_by_address.emplace(flycast[i].address, i);
}

}  // namespace privcast
