// ListenerProbe: which TCP sockets are in LISTEN inside one netns (NETLINK_SOCK_DIAG).
//
// The daemon opens one probe per machine it is waking (the socket is created inside the
// machine's netns and keeps it) and polls Accepts(link address, port) every few hundred µs
// until the app accepts on its internal port: one exact inet_diag lookup on an open socket
// (a few µs, docs/netns.md). List() dumps every listener; the kernel walks its whole
// (host-wide) listener hash for a dump, so they cost ~50 µs per family on a large host: use
// it once, for diagnostics, not in a polling loop. List() is also how privcast warns
// about an app that listens only on its 6PN address: the proxy reaches machines over the
// IPv4 link, so only 0.0.0.0 or a dual-stack [::] (v6only = 0) listener is reachable.
//
// Not thread-safe (one socket, one dump at a time). Move-only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "netns/ip.h"

namespace privcast::netns {

struct Listener {
  IpAddr addr;  // bound address (0.0.0.0 / :: = wildcard)
  uint16_t port = 0;
  bool v6only = false;  // AF_INET6 socket with IPV6_V6ONLY
  // True when a connection over the machine's IPv4 link (the proxy's path) would reach it:
  // 0.0.0.0, a dual-stack [::], or exactly `link_v4` (the machine's LinkV4Machine address).
  bool ReachableOverV4(const IpAddr& link_v4) const;
};

class ListenerProbe {
 public:
  static Result<ListenerProbe> Open(int nsfd);  // inside nsfd's netns

  // All TCP listeners, IPv4 and IPv6.
  Result<std::vector<Listener>> List();
  // The listener that would accept a TCP connection to addr:port right now, or nullopt.
  // One exact sock_diag lookup (the kernel's own listener hash lookup, O(1)): this is the
  // call to poll during a wake, with addr = the machine's LinkV4Machine address.
  Result<std::optional<Listener>> Accepts(const IpAddr& addr, uint16_t port);

 private:
  explicit ListenerProbe(UniqueFd fd);
  Status Dump(uint8_t family, std::vector<Listener>* out);

  UniqueFd fd_;
  uint32_t seq_ = 0;
  std::unique_ptr<char[]> buf_;
};

}  // namespace privcast::netns
