// HostNetwork: privcast's one-time plumbing in the daemon's own netns.
//
//   privcast0          a dummy link (a port-less bridge when the kernel has no dummy
//                      driver), up, carrying fdaa::3/128 (internal DNS) and every flycast
//                      address made local with AddFlycastAddress (/128, IFA_F_NODAD)
//   unreachable        fdaa::/16 and 172.19.0.0/16 (addr::kLinkV4Base/16): packets for a
//                      stopped or destroyed machine, or for an unknown privcast address, get
//                      an ICMP unreachable at once instead of following a default route out.
//                      Machines' own /112 and /31 connected routes are more specific.
//   forwarding         net.ipv6.conf.all.forwarding = 1, net.ipv4.ip_forward = 1
//
// Setup is idempotent (a restarted daemon adopts what is there: EEXIST is fine). Teardown
// removes privcast0 and the two unreachable routes (forwarding is left as it is: other
// software on the host may rely on it). A flycast address removed with RemoveFlycastAddress
// stops accepting new connections at once (it is no longer local; the unreachable route
// answers).
//
// Thread-safe: calls are serialised on an internal mutex. The NetOps must outlive this.
#pragma once

#include "common/addr.h"
#include "common/mutex.h"
#include "common/result.h"
#include "netns/net_ops.h"

namespace privcast::netns {

class HostNetwork {
 public:
  static constexpr const char* kIfName = "privcast0";
  explicit HostNetwork(NetOps& ops) : ops_(ops) {}

  Status Setup();
  Status Teardown();
  Status AddFlycastAddress(const Ip6& a);     // Ok if already there
  Status RemoveFlycastAddress(const Ip6& a);  // Ok if absent
  // Cluster (docs/cluster.md): another host's 6PN prefix of one network,
  // fdaa:<net32>:<host32>::/80, routed via that host's underlay address (replacing a route
  // left by an earlier daemon); removed when the host is down (then fdaa::/16 is unreachable).
  Status SetPeerRoute(const Ip6& prefix80, const Ip6& via);
  Status RemovePeerRoute(const Ip6& prefix80);  // Ok if absent

 private:
  Mutex mu_;
  NetOps& ops_;
};

}  // namespace privcast::netns
