// BuildSnapshot: turns the Registry's StateView (one store revision) into the immutable
// routing Snapshot that the proxy workers and the DNS server read.
//
// Release configs are decoded through `decode` (the daemon passes the config module's
// decoder; tests pass a fake), once per app per build. An app whose release fails to decode
// keeps its flycast addresses and machines (DNS still answers) but has no services, and
// the error is logged — one bad release never hides other apps.
// Pure function; thread-safe.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/snapshot.h"
#include "store/registry.h"

namespace privcast::daemon {

struct ReleaseInfo {
  std::string primary_region;
  std::vector<ServiceSpec> services;
  std::vector<std::string> process_groups;  // sorted ([processes] keys, or {"app"})
  KillSignal kill_signal;
  int64_t kill_timeout_ms = 5000;
};

using ReleaseDecoder = std::function<Result<ReleaseInfo>(const store::Release&)>;

// live_peers: the other hosts of a cluster alive now (docs/cluster.md); their machines are
// backends reached over the underlay (MachineView::remote). Machines of hosts not in it (down,
// or no cluster) are listed (DNS) but never routed to.
Snapshot BuildSnapshot(const store::StateView& state, uint32_t local_host_id, const std::string& local_region,
                       const ReleaseDecoder& decode, const std::set<uint32_t>& live_peers = {});

MachineRunState ToRunState(store::MachineState s);

}  // namespace privcast::daemon
