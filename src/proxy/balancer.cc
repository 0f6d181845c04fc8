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
  return 3;
}

}  // namespace privcast::proxy
