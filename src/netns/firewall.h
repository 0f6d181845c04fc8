// Firewall: the nftables table `inet privcast`, owned by privcast.
//
// Apply(state) makes the table match `state` in ONE nft transaction, so there is never a
// moment with half a ruleset, and a rejected transaction leaves the previous one in place.
// When only set members changed since the last successful Apply (machines came or went,
// flycast addresses were allocated or released), the transaction only deletes and adds those
// set elements (sub-millisecond, counters kept). Otherwise (first Apply, the set of networks
// changed, or the element update was rejected because someone changed the table behind our
// back) the table is rebuilt whole (create-if-missing, delete, add: ~12 ms, the kernel waits
// for an RCU grace period) and counters restart from 0.
// The table outlives the daemon (stop, crash, upgrade, kill -9): isolation never depends on
// privcastd running, and the next daemon's first Apply replaces it in one transaction (no
// moment without rules). Remove() deletes it: only `privcastd --uninstall` calls it; it is Ok
// when the table is absent.
//
// The rules (docs/netns.md has the rendered text):
//   forward, from a machine interface (iifname pcv*):
//     IPv4 (only the /31 proxy link exists)   drop, counter fwd4_drop
//     source not the interface's network      drop, counter spoof_drop   (anti-spoofing)
//     same /48 network as the destination     accept
//     any other destination                   drop, counter xnet_<net32 as 8 hex digits>
//   forward, to a machine interface from elsewhere: drop, counter fwd_drop (fwd4_drop for v4)
//   cluster only (peers non-empty), before those drops: from a machine, replies
//   (established/related) accept; to a machine, established/related accept, TCP from a peer
//   host's underlay address (its proxy and health checks) accept, and a source in the
//   machine's own /48 network (a machine of that network on another host) accept. A machine
//   of another network stays dropped on both hosts: at its own host's from_machine (xnet) and
//   at the destination host's to_machine (fwd_drop).
//   input, from a machine interface:
//     established/related; ICMPv6 ND (NS/NA/RS) accept
//     spoofed source                          drop, counter spoof_drop
//     fdaa::3 udp/tcp 53 and echo-request     accept (internal DNS)
//     flycast address . tcp port of one of its app's services  accept (the proxy then
//                                             decides which networks are admitted)
//     flycast addresses: echo-request accept; any other port: drop, counter flycast_port_drop
//     everything else                         drop, counter input_drop
//   Output (host -> machine, e.g. the proxy over the IPv4 link) is not filtered.
// Only packets entering or leaving pcv* interfaces are matched; the rest of the host's
// traffic is untouched (base chains have policy accept).
//
// The table lives in the netns the Firewall was created for (captured as an fd); every nft
// call runs on a helper thread inside it. Thread-safe (internal mutex).
//
// One libnftables context is kept for the Firewall's life. libnftables waits on its netlink
// socket with select(), which aborts for fd numbers >= FD_SETSIZE, and a daemon with ~1000
// machines holds that many pidfds. So the context is opened only while fd numbers are low:
// when the Firewall is created (the daemon creates it at start, before adopting machines), or
// at a later call if they are low again. Its socket then keeps its low number for good (this
// libnftables never reopens it); calls made while no context could be opened run the `nft`
// binary instead (a fork and exec, ~4 ms).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "common/addr.h"
#include "common/fd.h"
#include "common/mutex.h"
#include "common/result.h"

struct nft_ctx;

namespace privcast::netns {

// A TCP port range [first, last] that the proxy serves on one flycast address.
struct FlycastPorts {
  Ip6 address;
  uint16_t first = 0;
  uint16_t last = 0;
  auto operator<=>(const FlycastPorts&) const = default;
};

struct FirewallState {
  std::set<uint32_t> networks;                  // net32 of every network with machines here
  std::map<std::string, uint32_t> machine_ifs;  // "pcv<slot>" -> net32
  std::set<Ip6> flycast;                        // flycast addresses local to this host
  std::set<FlycastPorts> flycast_tcp;           // the only TCP ports admitted to them
  // Cluster (docs/cluster.md): the underlay addresses of the other live hosts. Non-empty adds
  // the cross-host rules (empty = one host, the ruleset exactly as before).
  std::set<Ip6> peers;
};

class Firewall {
 public:
  static constexpr const char* kTable = "privcast";   // family inet
  static Result<std::unique_ptr<Firewall>> Create();  // calling thread's netns
  static Result<std::unique_ptr<Firewall>> CreateFor(int nsfd);
  ~Firewall();

  // InvalidArgument (nothing changed) for an interface name that is not [A-Za-z0-9_-]{1,15}
  // or for network 0.
  Status Apply(const FirewallState& state);
  Status Remove();
  // Packets counted so far by the named counter (see above); NotFound if no such counter.
  Result<uint64_t> CounterPackets(const std::string& name);

  // True when calls run through libnftables in this process, false while they run the `nft`
  // binary (see above). Diagnostics and tests.
  bool in_process();

  static std::string NetworkCounterName(uint32_t net32);  // "xnet_0000abcd"
  // The nft script of a whole rebuild (for tests and docs).
  static std::string Render(const FirewallState& state);
  // The element-only script that turns `from` into `to` ("" when nothing changed). Only valid
  // when from.networks == to.networks.
  static std::string RenderDelta(const FirewallState& from, const FirewallState& to);

 private:
  explicit Firewall(UniqueFd ns) : ns_(std::move(ns)) {}
  // Runs an nft script inside ns_; returns its output or the error text.
  Result<std::string> Run(const std::string& script) REQUIRES(mu_);
  // Creates nft_ unless it exists or fd numbers are already too high. The factories take mu_
  // too, for the analysis: they own the only reference.
  void OpenNft() REQUIRES(mu_);

  struct NftCtxFree {
    void operator()(nft_ctx* c) const;
  };

  Mutex mu_;
  UniqueFd ns_;
  std::unique_ptr<nft_ctx, NftCtxFree> nft_ GUARDED_BY(mu_);  // see above
  std::optional<FirewallState> applied_ GUARDED_BY(mu_);      // what the table holds after our last Apply
};

}  // namespace privcast::netns
