// Proxy: the flycast proxy engine (docs/proxy.md). The daemon constructs one, publishes
// Snapshots to it, and implements MachineWaker / MachineStopper (proxy/waker.h).
//
//   ProxyOptions o;  o.workers = 0 (one per core); ...
//   Proxy p(o, &waker, &stopper);            // waker/stopper must outlive p
//   p.SetEventCallback(fn);                  // optional, before Start
//   p.SetTlsContextProvider(&certs);         // for `tls` ports, before the first Publish
//   p.Publish(snapshot);                     // any time, from any one control thread
//   p.Start();                               // worker threads + autostop thread
//   ...  p.RenderMetrics() → Prometheus text
//   p.StopAccepting(); p.Drain(deadline);    // graceful shutdown; then destroy
//
// Threads: `workers` event-loop threads (raw epoll, one SO_REUSEPORT listener per external port
// each; a connection stays on the worker that accepted it), one autostop thread (optional).
// Publish/StopAccepting/Drain/RenderMetrics are thread-safe with respect to the workers but
// meant for one control thread. The event callback is called from worker and autostop threads
// and must be thread-safe and quick.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/snapshot.h"
#include "proxy/tls_context.h"
#include "proxy/waker.h"

namespace privcast::proxy {

struct ProxyOptions {
  int workers = 0;                                     // 0 = number of online CPUs
  std::string listen_address = "::";                   // listeners bind [listen_address]:port
  uint32_t queue_depth = 256;                          // per app, across workers (hard_limit queue)
  Duration queue_timeout = std::chrono::seconds(10);   // then 503 (http) / close (tcp)
  Duration wake_timeout = std::chrono::seconds(30);    // a wake taking longer fails over
  Duration connect_timeout = std::chrono::seconds(5);  // to a machine's internal port
  // A request head must be complete within header_timeout of its first byte (of the accept
  // for a connection's first request), however the bytes trickle → 408.
  Duration header_timeout = std::chrono::seconds(10);
  // A request body must arrive at body_min_rate bytes/s on average after a grace of
  // body_timeout (Apache's mod_reqtimeout rule: the deadline is body_timeout after the head,
  // plus one second per body_min_rate bytes received) → 408, or a reset once the response has
  // begun. Time the proxy itself holds the body back (the app not reading) is not counted.
  Duration body_timeout = std::chrono::seconds(10);
  uint32_t body_min_rate = 1024;                              // bytes/s; 0 = body_timeout between reads only
  Duration idle_timeout = std::chrono::seconds(60);           // idle keep-alive client connection
  Duration tls_handshake_timeout = std::chrono::seconds(10);  // `tls` ports: accept → handshake done
  Duration upstream_idle_timeout = std::chrono::seconds(30);  // pooled app connection
  size_t max_head_bytes = 16 * 1024;                          // over → 431
  int max_attempts = 3;                                       // machines tried before giving up
  uint32_t retry_after_seconds = 1;                           // Retry-After on queue 503s
  size_t upstream_pool_per_machine = 64;                      // idle app connections kept per worker
  uint32_t h2_max_concurrent_streams = 100;                   // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (h2_session.h)
  bool splice = true;                                         // raw TCP through pipes (zero-copy)
  bool batch_sends = true;  // http writes of a turn in one io_uring_enter (send_batch.h)
  // A busy worker stops preempting on wakeup (SCHED_BATCH) until its load falls
  // (batch_when_busy.h, ADR 0021).
  bool batch_when_busy = true;
  size_t pipe_size = 1 << 20;  // F_SETPIPE_SZ for splice pipes (0 = kernel default 64 KiB)
  // Autostop (docs/proxy.md): pass every interval, machines idle at least `autostop_idle`.
  bool autostop_thread = true;
  Duration autostop_interval = std::chrono::seconds(60);
  Duration autostop_idle = std::chrono::minutes(5);
  // Health checks (tcp/http checks in ServiceSpec), run by worker 0.
  bool health_checks = true;
  Duration refusal_log_interval = std::chrono::seconds(1);  // ≤ 5 refusal lines per app per interval
  // Fair sharing between source networks (net_limits.h): open client connections and
  // new connections per second (token bucket of conn_burst_per_network) per network; over
  // either → TCP reset, counted per network. 0 = unlimited.
  uint32_t max_conns_per_network = 1024;
  double conn_rate_per_network = 50000;
  uint32_t conn_burst_per_network = 100000;
  // Descriptors the proxy may hold (client and app sockets, splice pipes, pooled connections).
  // At the budget the listeners pause as on EMFILE, before the process limit, so the API, DNS
  // and machines keep what is left. 0 = no budget (the daemon derives one from RLIMIT_NOFILE).
  int64_t fd_budget = 0;
};

// Events for the app's log ("Starting machine <id>", "machine <id> started in <ms> ms",
// "stopping <id> (idle <s>s)", refusals). Thread-safe callback.
struct ProxyEvent {
  std::string app;
  std::string machine_id;  // may be empty
  std::string message;
};
using ProxyEventFn = std::function<void(const ProxyEvent&)>;

// The last result of one check of one machine, for `status` and tests.
struct CheckResult {
  std::string machine_id;
  std::string app;
  std::string name;    // Fly's: servicecheck-<NN>-<tcp|http>-<internal port> (health.h CheckNamesFor)
  std::string status;  // passing | critical | pending (not completed once yet)
  std::string output;  // "connected", "HTTP 200", "connect: Connection refused", "timed out", …
};

class ProxyImpl;

class Proxy {
 public:
  Proxy(ProxyOptions options, MachineWaker* waker, MachineStopper* stopper, Clock* clock = RealClock::Get());
  ~Proxy();  // stops accepting, closes every connection, joins the threads
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  void SetEventCallback(ProxyEventFn fn);  // before Start()
  // Certificates for `tls` ports (proxy/tls_context.h); before the first Publish, must outlive
  // the Proxy. Without one, TLS connections are closed and counted as handshake failures.
  void SetTlsContextProvider(TlsContextProvider* provider);
  Status Start();
  // Hand a new snapshot to every worker (they swap between events; listeners follow the set of
  // external ports of apps that have a flycast address). Returns at once.
  void Publish(SnapshotPtr snapshot);
  // Close every listener (connections keep going). Idempotent.
  void StopAccepting();
  // Waits until no connection is open or `deadline` passes, closing idle keep-alive connections
  // and not reusing others; then closes what is left. Returns true when everything closed.
  bool Drain(Duration deadline);

  // Prometheus text exposition of the proxy's counters and histograms.
  std::string RenderMetrics() const;
  // One autostop pass now (the thread calls it every autostop_interval). Returns machines asked to stop.
  int RunAutostopPass();

  // Observability for tests and status: open client connections, listening ports of worker 0.
  int64_t OpenConnections() const;
  int32_t MachineLoad(const std::string& machine_id) const;
  bool MachineHealthy(const std::string& machine_id) const;
  // Every running health check's last result (empty without checks or before Start), named like
  // Fly's (CheckNamesFor). Asks the checker's loop and waits, so it also orders after every
  // earlier Publish. Not from a worker thread.
  std::vector<CheckResult> HealthChecks() const;

 private:
  std::unique_ptr<ProxyImpl> impl_;
};

}  // namespace privcast::proxy
