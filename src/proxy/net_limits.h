// NetLimits: fair sharing of the proxy between source networks.
//
// Every admitted client connection takes a slot of its source network (fdaa:<net32>, the network
// the connecting machine is on; 0 for anything that is not a privcast network): at most
// `max_conns_per_network` open at once, and new ones at most `conn_rate_per_network` per second
// with bursts of `conn_burst_per_network` (a token bucket, refilled on the proxy Clock, so
// FakeClock drives it in tests). A connection over either limit is refused by the caller with a
// TCP reset (the same fast refusal as admission: no descriptor kept, no bytes read) and counted
// here per network and reason. Limits of 0 mean unlimited.
//
// Ownership: one NetLimits per Proxy (ProxyImpl::net_limits), shared by every worker. Entries
// are created on a network's first connection and live as long as the proxy (there are only as
// many as networks that ever connected); a Slot points at one and is given back with Release.
// Thread-safety: Admit and ForEach lock a mutex (once per accepted connection, never per
// request); Release is one relaxed atomic decrement.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "common/mutex.h"

namespace privcast::proxy {

struct NetLimitOptions {
  uint32_t max_conns = 0;                   // open client connections per network (0 = unlimited)
  double rate = 0;                          // new connections per second per network (0 = unlimited)
  uint32_t burst = 0;                       // bucket size (0 = max(1, rate))
  int64_t log_interval_ns = 1'000'000'000;  // ≤ 5 refusal lines per network per interval
};

class NetLimits {
 public:
  struct Net {
    uint32_t net32 = 0;
    std::atomic<int64_t> open{0};
    std::atomic<uint64_t> refused_conns{0}, refused_rate{0};
    // Guarded by NetLimits::mu_.
    double tokens = 0;
    int64_t refill_ns = 0;
    int64_t log_window_ns = 0;
    int logged_in_window = 0;
  };
  enum class Verdict { kOk, kTooManyConnections, kTooFast };

  explicit NetLimits(NetLimitOptions o) : o_(o) {}

  // A new connection from `net32` at `now_ns`. kOk: *slot is the network's entry, to Release
  // when the connection closes. Otherwise the refusal is counted and *log_it says whether this
  // one may be logged (rate-limited per network).
  Verdict Admit(uint32_t net32, int64_t now_ns, Net** slot, bool* log_it);
  static void Release(Net* n) { n->open.fetch_sub(1, std::memory_order_relaxed); }
  // Every network seen so far (metrics).
  void ForEach(const std::function<void(const Net&)>& fn) const;
  const NetLimitOptions& options() const { return o_; }

 private:
  NetLimitOptions o_;
  mutable Mutex mu_;
  std::unordered_map<uint32_t, std::unique_ptr<Net>> nets_ GUARDED_BY(mu_);
};

}  // namespace privcast::proxy
