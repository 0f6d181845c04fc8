// SuspectHosts: the other cluster hosts this worker failed to connect to lately (docs/cluster.md,
// "Failover"; docs/adr/0017-fly-replay.md). A host that dies stays in routing until its etcd
// lease ends (TTL + < 1 s); meanwhile a connect to one of its machines fails (refused,
// unreachable) or times out after kRemoteConnectTimeout, the request is retried on the next
// candidate (the sessions' retry-before-first-byte), and the host is marked here so that the
// next requests of this worker skip its machines without paying the timeout again — until
// kSuspectBackoff passes (then one request probes it again) or the host leaves routing (a new
// snapshot where it has no live machine: when it registers again it starts with a clean slate).
//
// Per worker, not shared: each worker learns on its own first failure (one retried request
// each), and nothing on the data path takes a lock. Loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <unordered_map>

#include "common/clock.h"
#include "common/snapshot.h"

namespace privcast::proxy {

// A connect to a machine on another host gives up after this (or ProxyOptions::connect_timeout
// when shorter): a live host answers a SYN within a round trip (≈ 300 ms between the farthest
// regions); a dead one never does.
inline constexpr Duration kRemoteConnectTimeout = std::chrono::milliseconds(500);
inline constexpr Duration kSuspectBackoff = std::chrono::seconds(2);

class SuspectHosts {
 public:
  void Mark(uint32_t host, MonoTime now) { until_[host] = now + kSuspectBackoff; }
  [[nodiscard]] bool Suspect(uint32_t host, MonoTime now) const {
    if (until_.empty()) return false;
    auto it = until_.find(host);
    return it != until_.end() && now < it->second;
  }
  // A new snapshot: forget hosts that are no longer live there (and expired marks).
  void Retain(const Snapshot& snap, MonoTime now) {
    for (auto it = until_.begin(); it != until_.end();) {
      bool live = false;
      for (const MachineView& m : snap.machines)
        if (m.host_id == it->first && m.remote && m.carries_services) {
          live = true;
          break;
        }
      if (!live || now >= it->second) it = until_.erase(it);
      else ++it;
    }
  }
  [[nodiscard]] bool empty() const { return until_.empty(); }

 private:
  std::unordered_map<uint32_t, MonoTime> until_;
};

}  // namespace privcast::proxy
