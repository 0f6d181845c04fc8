// Autostop: Fly's excess-capacity rule as a pure function, plus the periodic pass that applies
// it through MachineStopper (proxy/waker.h).
//
// Rule (per app, service and region; one machine per group per pass):
//   running = started machines of the group; at_soft = those with load >= soft_limit.
//   N >= 2: stop one when N - (at_soft + 1) >= 1.   N == 1: stop it when its load is 0.
//   A machine qualifies only when it has had zero load (and no open connection) for `idle`.
//   Never below min_machines_running in the app's primary region.
//   auto_stop = off → never; stop / suspend → the action passed to the stopper.
// Among qualifying machines the one idle the longest is stopped (ties: lowest id).
// A machine served by several services is stopped only if every one of them allows it.
//
// Thread-safety: PlanAutostop is pure (the proxy's autostop thread, ProxyImpl::AutostopLoop,
// calls it with a status that reads only atomics).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/clock.h"
#include "common/snapshot.h"

namespace privcast::proxy {

struct AutostopMachine {
  bool started = false;
  int32_t load = 0;
  int32_t open_conns = 0;
  Duration idle_for{0};       // time since load last dropped to zero (0 while loaded)
  bool stop_pending = false;  // already asked at this snapshot revision
};

struct AutostopDecision {
  uint32_t machine = 0;  // snapshot index
  bool suspend = false;
  Duration idle_for{0};
};

// status(i) for every machine index of `snap`.
std::vector<AutostopDecision> PlanAutostop(const Snapshot& snap, const std::function<AutostopMachine(uint32_t)>& status,
                                           Duration idle);

}  // namespace privcast::proxy
