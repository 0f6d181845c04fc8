// HealthChecker: runs a ServiceSpec's tcp_checks / http_checks against started machines and
// sets MachineState::healthy, which the balancer reads (unhealthy machines get no traffic).
// It never restarts anything. A machine is healthy while every check's last result passed
// (no result yet counts as passing; failures inside grace_period after the machine was first
// checked are ignored).
//
// Threads: Update() from the control thread posts to worker 0's loop; all checks run there as
// non-blocking sockets with a timer per check. Results() is thread-safe (a copy kept under a
// mutex, refreshed by the loop as results arrive). Destroyed before the workers stop.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "proxy/state.h"

namespace privcast::proxy {

// The checks a machine gets: every tcp_check then http_check of every service it serves, named
// like Fly's `servicecheck-<NN>-<tcp|http>-<internal port>` (NN counts the machine's checks).
// Empty: it has none (its app has none, or it carries no services).
std::vector<std::string> CheckNamesFor(const Snapshot& snap, const MachineView& m);

// The last result of one check of one machine (status: passing | critical | pending, the
// last when it has not completed once yet).
struct CheckResult {
  std::string machine_id;
  std::string name;
  std::string status;
};

class ProxyImpl;
class Worker;

class HealthChecker {
 public:
  HealthChecker(ProxyImpl* proxy, Worker* worker);
  ~HealthChecker();
  void Update(RoutingStatePtr rs);  // thread-safe
  std::vector<CheckResult> Results() const;  // thread-safe; checks of started machines

  struct Check;

 private:
  void Apply(RoutingStatePtr rs);  // loop thread
  void Recompute(MachineState* st);
  // Checks dropped inside an event batch: disarmed now, freed after the batch (a stale event
  // for one may still be in it).
  void Retire(std::map<std::string, std::unique_ptr<Check>> dead);
  void PublishResults();  // loop thread: results_ from checks_

  ProxyImpl* proxy_;
  Worker* w_;
  std::shared_ptr<bool> alive_;
  std::map<std::string, std::unique_ptr<Check>> checks_;  // key: machine id / service / check#
  mutable std::mutex results_mu_;
  std::vector<CheckResult> results_;  // guarded by results_mu_
};

}  // namespace privcast::proxy
