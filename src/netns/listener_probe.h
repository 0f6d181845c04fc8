// ListenerProbe: which TCP sockets are in LISTEN inside one netns (NETLINK_SOCK_DIAG).
//
// The daemon opens one probe per machine it is waking (the socket is created inside the
// machine's netns and keeps it) and polls List()/Find(port) every few hundred µs until the
// app accepts on its internal port; a probe is two small inet_diag dumps (AF_INET, AF_INET6)
// on an already-open socket, about 10-20 µs (docs/netns.md). It is also how privcast warns
// about an app that listens only on its 6PN address: the proxy reaches machines over the
// IPv4 link, so only 0.0.0.0 or a dual-stack [::] (v6only = 0) listener is reachable.
//
// Not thread-safe (one socket, one dump at a time). Move-only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "netns/ip.h"

namespace privcast::netns {

struct Listener {
  IpAddr addr;          // bound address (0.0.0.0 / :: = wildcard)
  uint16_t port = 0;
  bool v6only = false;  // AF_INET6 socket with IPV6_V6ONLY
  // True when a connection over the machine's IPv4 link (the proxy's path) would reach it:
  // 0.0.0.0, a dual-stack [::], or exactly `link_v4` (the machine's LinkV4Machine address).
  bool ReachableOverV4(const IpAddr& link_v4) const;
  std::string ToString() const;  // "0.0.0.0:8080", "[fdaa:...::2]:8080"
};

class ListenerProbe {
 public:
  static Result<ListenerProbe> Open(int nsfd);  // inside nsfd's netns
  static Result<ListenerProbe> OpenHere();      // in the calling thread's netns

  // All TCP listeners, IPv4 and IPv6.
  Result<std::vector<Listener>> List();
  // Listeners on `port` only (same cost; filtered here).
  Result<std::vector<Listener>> Find(uint16_t port);

 private:
  explicit ListenerProbe(UniqueFd fd);
  Status Dump(uint8_t family, std::vector<Listener>* out);

  UniqueFd fd_;
  uint32_t seq_ = 0;
  std::unique_ptr<char[]> buf_;
};

}  // namespace privcast::netns
