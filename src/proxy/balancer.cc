#include "proxy/balancer.h"

#include "common/service_scope.h"

#include <algorithm>

namespace privcast::proxy {

bool ServesService(const MachineView& m, const ServiceSpec& svc) {
  if (!m.carries_services) return false;  // e.g. from machine run: a member of the app, not of its services
  return ServesGroup(svc, m.process_group);
}

int TierOf(const Snapshot& snap, const MachineView& m, const RoutingHints& hints) {
  if (!hints.prefer_instance.empty() && m.id == hints.prefer_instance) return 0;
  if (!hints.prefer_region.empty() && m.region == hints.prefer_region) return 1;
  if (m.region == snap.local_region) return 2;
  // Other regions, nearest first (distance_km is 0 on one host: all tie, as before), in
  // steps of 100 km so that neighbouring airports of one metro area tie.
  return 3 + static_cast<int>(m.distance_km / 100);
}

}  // namespace privcast::proxy
