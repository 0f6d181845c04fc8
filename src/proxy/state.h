// Dynamic per-machine and per-app state shared by all workers, living OUTSIDE the immutable
// Snapshot: load counters (hard_limit is global across workers), health flags, wake overrides,
// idle tracking for autostop and the per-machine metrics.
//
// Ownership: StateTable owns one MachineState per machine id and one AppState per app name,
// created on Publish (control thread) and kept while any snapshot still names them. Objects
// are held by shared_ptr so a connection that outlives a snapshot keeps its counters valid.
//
// Thread-safety: MachineState/AppState fields are atomics (data path: relaxed increments);
// AppState's refusal counts and log budgets are under its mu_ (GUARDED_BY), taken only inside
// its methods, by any worker, on rare paths (refusals, failed TLS handshakes) and by the
// metrics renderer. StateTable's maps are under its mu_ (Build, control thread; the copies).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/snapshot.h"
#include "common/thread_annotations.h"
#include "proxy/tls_context.h"

namespace privcast::proxy {

inline constexpr int kStatusClasses = 6;  // index by status/100 (0 = no response / aborted)

struct AppState;

// A log budget: at most kLines lines per window, so a flood or a scanner cannot flood the log.
// Not thread-safe (its owner's lock guards it).
struct LogBudget {
  static constexpr int kLines = 5;
  int64_t window_start_ns = 0;
  int logged = 0;
  // True when one more line may be logged at `now_ns`; a window lasts `window_ns`.
  bool Take(int64_t now_ns, int64_t window_ns) {
    if (now_ns - window_start_ns > window_ns) {
      window_start_ns = now_ns;
      logged = 0;
    }
    return logged++ < kLines;
  }
};

struct MachineState {
  explicit MachineState(std::string machine_id, std::string app_name)
      : id(std::move(machine_id)), app(std::move(app_name)) {}
  const std::string id;
  const std::string app;
  std::shared_ptr<AppState> app_state;  // set when created (StateTable::Build), never changed
  Ip6 six_pn{};  // set when created, never changed (a machine keeps its 6PN address): remote leases

  // Routing load: open connections or in-flight requests (per the service's concurrency type).
  std::atomic<int32_t> load{0};
  // Open client connections routed to the machine (autostop never stops one that has any).
  std::atomic<int32_t> open_conns{0};
  // Health verdict of the checker; machines without checks stay healthy.
  std::atomic<bool> healthy{true};
  // A wake completed while the snapshot still said stopped: route to it as started while the
  // published snapshot revision is <= this value (until a newer snapshot says otherwise).
  std::atomic<int64_t> woken_through_revision{-1};
  // Idle tracking for autostop: the proxy Clock's ns (Worker::NowNs; a FakeClock in tests) when load last dropped to 0, or when the
  // machine was first seen, or when a snapshot first showed it started again (a start or a
  // resume restarts the idle clock: a machine pre-warmed by DNS gets the whole idle window).
  std::atomic<int64_t> idle_since_ns{0};
  // The last snapshot built for it said started (StateTable::Build only, under its mutex).
  bool started_in_snapshot = false;
  // Autostop asked to stop it at this snapshot revision (no repeat until the snapshot moves).
  std::atomic<int64_t> stop_requested_revision{-1};

  // Metrics.
  std::atomic<uint64_t> connections_total{0};
  std::array<std::atomic<uint64_t>, kStatusClasses> requests_by_class{};
  std::atomic<uint64_t> upstream_connect_failures{0};

  void SubLoad(int64_t now_ns) {
    if (load.fetch_sub(1, std::memory_order_relaxed) == 1) idle_since_ns.store(now_ns, std::memory_order_relaxed);
  }
  // Reserve one unit of load unless that would exceed hard_limit (0 = none). Global across workers.
  bool TryAcquire(uint32_t hard_limit) {
    int32_t v = load.fetch_add(1, std::memory_order_relaxed);
    if (hard_limit != 0 && v >= static_cast<int32_t>(hard_limit)) {
      load.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
};

struct AppState {
  explicit AppState(std::string n) : name(std::move(n)) {}
  const std::string name;
  std::atomic<int32_t> queued{0};  // connections/requests waiting in the hard_limit queue (all workers)
  std::atomic<uint64_t> queued_total{0};
  std::atomic<uint64_t> queue_timeouts{0};
  std::atomic<uint64_t> queue_wait_us_total{0};
  std::atomic<uint64_t> cold_starts{0};
  std::atomic<uint64_t> wake_failures{0};
  std::atomic<uint64_t> autostops{0};
  std::atomic<uint64_t> rejected_no_machine{0};
  std::atomic<uint64_t> tls_handshakes{0};          // completed
  std::atomic<uint64_t> tls_handshake_failures{0};  // failed, timed out, or no certificate
  // Wake latency histogram (ms buckets, cumulative rendering).
  static constexpr std::array<double, 10> kWakeBucketsMs{1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000};
  std::array<std::atomic<uint64_t>, kWakeBucketsMs.size() + 1> wake_ms_buckets{};
  std::atomic<uint64_t> wake_ms_sum_us{0};
  std::atomic<uint64_t> wake_count{0};

  void ObserveWakeMs(double ms) {
    size_t i = 0;
    while (i < kWakeBucketsMs.size() && ms > kWakeBucketsMs[i]) ++i;
    wake_ms_buckets[i].fetch_add(1, std::memory_order_relaxed);
    wake_ms_sum_us.fetch_add(static_cast<uint64_t>(ms * 1000), std::memory_order_relaxed);
    wake_count.fetch_add(1, std::memory_order_relaxed);
  }

  // An admission refusal of a client from `src_net` (its net32; 0: not a privcast network):
  // counted; true when it may be logged (LogBudget over `window_ns`). Any worker.
  bool CountRefusal(uint32_t src_net, int64_t now_ns, int64_t window_ns) EXCLUDES(mu_) {
    MutexLock l(&mu_);
    ++refused_by_net_[src_net];
    return refusal_log_.Take(now_ns, window_ns);
  }
  // A failed TLS handshake (counted in tls_handshake_failures): true when it may be logged.
  bool TakeTlsFailureLogLine(int64_t now_ns, int64_t window_ns) EXCLUDES(mu_) {
    MutexLock l(&mu_);
    return tls_failure_log_.Take(now_ns, window_ns);
  }
  // The refusals by source network so far (metrics).
  std::map<uint32_t, uint64_t> RefusedByNet() const EXCLUDES(mu_) {
    MutexLock l(&mu_);
    return refused_by_net_;
  }

 private:
  mutable Mutex mu_;
  std::map<uint32_t, uint64_t> refused_by_net_ GUARDED_BY(mu_);
  LogBudget refusal_log_ GUARDED_BY(mu_);
  LogBudget tls_failure_log_ GUARDED_BY(mu_);
};

// Counters of one service that has per-service flycast addresses (`<service>.svc.<app>.flycast`,
// ADR 0013): the traffic that came in through those addresses. Shared by all workers.
struct ServiceState {
  ServiceState(std::string a, std::string s) : app(std::move(a)), service(std::move(s)) {}
  const std::string app;
  const std::string service;
  std::atomic<uint64_t> connections_total{0};  // admitted through the service's addresses
  std::atomic<uint64_t> refused_total{0};      // refused by admission (wrong network, port not the service's)
  std::atomic<uint64_t> cold_starts{0};        // machines woken for it
  std::atomic<uint64_t> rejected_no_machine{0};
};

// The per-snapshot routing view that workers consume: the immutable Snapshot plus the
// shared state objects resolved by index. Built once per Publish on the control thread.
struct RoutingState {
  SnapshotPtr snap;
  std::vector<std::shared_ptr<MachineState>> machines;  // by MachineView::index
  std::vector<std::shared_ptr<AppState>> apps;          // by AppView::index
  std::vector<uint16_t> ports;                          // sorted, unique external ports
  std::vector<TlsContextPtr> tls;                       // by AppView::index; null: no tls port / certificate
  std::vector<std::shared_ptr<ServiceState>> services;  // by Snapshot::flycast index; null: an app address
};
using RoutingStatePtr = std::shared_ptr<const RoutingState>;

class StateTable {
 public:
  // Builds the RoutingState for `snap`, creating state for new machines/apps. States of
  // machines no longer in the snapshot are dropped from the table (connections keep theirs).
  // `tls` (may be null) supplies the contexts of apps with a tls port and a flycast address.
  RoutingStatePtr Build(SnapshotPtr snap, int64_t now_ns, TlsContextProvider* tls = nullptr);

  // Copies of the current entries (metrics, autostop). Thread-safe.
  std::vector<std::shared_ptr<AppState>> Apps() const;
  std::vector<std::shared_ptr<MachineState>> Machines() const;
  std::vector<std::shared_ptr<ServiceState>> Services() const;

 private:
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<MachineState>> machines_ GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<AppState>> apps_ GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, std::shared_ptr<ServiceState>> services_
      GUARDED_BY(mu_);  // (app, service)
};

// Effective run state for routing, with the wake override applied.
inline bool EffectivelyStarted(const MachineView& m, const MachineState& st, int64_t revision) {
  if (m.state == MachineRunState::kStarted) return true;
  return st.woken_through_revision.load(std::memory_order_relaxed) >= revision;
}

}  // namespace privcast::proxy
