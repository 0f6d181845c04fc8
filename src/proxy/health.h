// HealthChecker: runs a ServiceSpec's tcp_checks / http_checks against started machines and
// sets MachineState::healthy, which the balancer reads (unhealthy machines get no traffic).
// It never restarts anything. A machine is healthy while every check's last result passed
// (no result yet counts as passing; failures inside grace_period after the machine was first
// checked are ignored).
//
// Threads: Update() from the control thread posts to worker 0's loop; all checks run there as
// non-blocking sockets with a timer per check. Statuses() runs on that loop too
// (Proxy::HealthChecks posts it there and waits). Destroyed before the workers stop.
//
// Each snapshot is diffed against the running checks by key (machine / service / check): a
// check that stays keeps its socket, timer and verdict; a dropped one is disarmed at once and
// freed after the event batch.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "proxy/proxy.h"
#include "proxy/state.h"

namespace privcast::proxy {

// The checks a machine gets: every tcp_check then http_check of every service it serves, named
// like Fly's `servicecheck-<NN>-<tcp|http>-<internal port>` (NN counts the machine's checks).
// Empty: it has none (its app has none, or it carries no services).
std::vector<std::string> CheckNamesFor(const Snapshot& snap, const MachineView& m);

class ProxyImpl;
class Worker;

class HealthChecker {
 public:
  HealthChecker(ProxyImpl* proxy, Worker* worker);
  ~HealthChecker();
  void Update(RoutingStatePtr rs);  // thread-safe
  // Every running check's last result. Loop thread only.
  std::vector<CheckResult> Statuses() const;

  struct Check;

 private:
  void Apply(const RoutingStatePtr& rs);  // loop thread
  void Recompute(MachineState* st);
  // Checks dropped inside an event batch: disarmed now, freed after the batch (a stale event
  // for one may still be in it).
  void Retire(std::map<std::string, std::unique_ptr<Check>> dead);

  ProxyImpl* proxy_;
  Worker* w_;
  std::shared_ptr<bool> alive_;
  std::map<std::string, std::unique_ptr<Check>> checks_;  // key: machine id / service / check#
};

}  // namespace privcast::proxy
