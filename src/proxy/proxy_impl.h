// ProxyImpl: the state behind Proxy (proxy.h). Internal to privcast_proxy.
#pragma once

#include <memory>
#include <ostream>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "proxy/net_limits.h"
#include "proxy/proxy.h"
#include "proxy/state.h"
#include "proxy/worker.h"

namespace privcast::proxy {

class HealthChecker;

class ProxyImpl {
 public:
  ProxyImpl(ProxyOptions o, MachineWaker* waker, MachineStopper* stopper, Clock* clock);
  ~ProxyImpl();

  ProxyOptions opts;
  MachineWaker* waker;
  MachineStopper* stopper;
  Clock* clock;
  ProxyEventFn event_fn;
  TlsContextProvider* tls = nullptr;  // set before the first Publish
  StateTable table;
  NetLimits net_limits;  // per source network, shared by the workers (net_limits.h)

  // Descriptors the workers hold now (their gauges summed; fd_budget in proxy.h).
  int64_t FdsInUse() const {
    int64_t n = 0;
    for (auto& w : workers) n += w->fds_in_use();
    return n;
  }

  void Emit(const std::string& app, const std::string& machine, const std::string& msg) {
    if (event_fn) event_fn(ProxyEvent{app, machine, msg});
  }
  RoutingStatePtr Current() const EXCLUDES(mu) {
    MutexLock l(&mu);
    return current;
  }
  // Post a queue kick for `app` to every worker but `from`.
  void KickQueues(int from, const std::string& app);

  Status Start();
  void Publish(SnapshotPtr snap);
  void StopAccepting();
  bool Drain(Duration deadline);
  void Shutdown();
  int RunAutostopPass();
  std::string RenderMetrics() const;
  std::vector<CheckResult> HealthChecks() const;  // waits for the checker's loop

  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<HealthChecker> health;

 private:
  void AutostopLoop();
  // RenderMetrics' parts, in the order they are written.
  void RenderProxyMetrics(std::ostream& o, const std::vector<std::shared_ptr<AppState>>& apps) const;
  void RenderAppMetrics(std::ostream& o, const std::vector<std::shared_ptr<AppState>>& apps) const;
  void RenderServiceAndMachineMetrics(std::ostream& o) const;

  mutable Mutex mu;
  RoutingStatePtr current GUARDED_BY(mu);
  bool started = false;
  bool accepting = true;
  std::thread autostop_thread;
  Mutex stop_mu;
  CondVar stop_cv;
  bool stopping GUARDED_BY(stop_mu) = false;
  std::atomic<uint64_t> autostops_total{0};
};

}  // namespace privcast::proxy
