// Machine choice for one connection or request: a pure function of the snapshot, a per-machine
// status view, the routing headers and a random number. No I/O, no clock, no locks, so every
// balancing rule (docs/proxy.md) is unit-tested directly (tests/proxy/balancer_test.cc).
//
// Rules, in order:
//  1. Candidates: the app's machines that serve the service's process groups, minus `exclude`
//     (machines already tried for this request); fly-force-instance-id / fly-force-region
//     narrow them (nothing else is ever used when forced).
//  2. Started (or wake-completed), healthy machines below hard_limit, by tier: preferred
//     instance, preferred region, local region, then every other region (nearest first in a
//     cluster: MachineView::distance_km). Within the first tier
//     that has any: machines below soft_limit first, least loaded, ties at random.
//  3. If every started machine is at or over soft_limit (or none is started) and a stopped or
//     suspended machine exists and auto_start is on: wake the nearest one. When a started machine
//     below hard_limit exists too, the request goes there now and the wake runs in background
//     (Choice::also_wake); otherwise the request waits for the wake.
//  4. Started machines exist but all are at hard_limit: queue.
//  5. Nothing: reject (503 / close).
// A preference (not a force) that cannot be met sets preference_unavailable.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/snapshot.h"

namespace privcast::proxy {

struct MachineStatus {
  bool started = false;   // started per snapshot, or a completed wake
  bool wakeable = false;  // stopped / suspended (not starting, stopping, destroyed)
  bool healthy = true;
  int32_t load = 0;
  bool starting = false;  // wakeable and already being started (a wake, a DNS pre-warm): join it
};

struct RoutingHints {
  std::string_view prefer_region, force_region, prefer_instance, force_instance;
};

struct Choice {
  enum Kind { kRoute, kWake, kQueue, kReject } kind = kReject;
  uint32_t machine = 0;    // kRoute: machine to use; kWake: machine to wake
  int64_t also_wake = -1;  // kRoute: a machine to wake in background (>= 0) as capacity is short
  bool preference_unavailable = false;
};

// `status(i)` returns the status of snapshot machine i. `random` seeds tie-breaking.
template <typename StatusFn>
Choice ChooseMachine(const Snapshot& snap, const AppView& app, const ServiceSpec& svc, StatusFn&& status,
                     const RoutingHints& hints, uint64_t random, const std::vector<uint32_t>& exclude = {});

// Does machine `m` serve `svc`? It must carry the app's services, in one of `svc.processes`
// (empty = every group).
bool ServesService(const MachineView& m, const ServiceSpec& svc);

// Tier of a machine for routing: 0 preferred instance, 1 preferred region, 2 local region,
// 3+ others (3 + distance_km / 100: nearer regions first across hosts). Lower is nearer.
int TierOf(const Snapshot& snap, const MachineView& m, const RoutingHints& hints);

}  // namespace privcast::proxy

#include "proxy/balancer_impl.h"
