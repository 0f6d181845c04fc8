// Rtnl: one rtnetlink (NETLINK_ROUTE) socket and the few requests privcast needs, via libmnl.
//
// The socket acts in the netns it was created in: Open() = the calling thread's netns,
// OpenIn(nsfd) = the given one (created on a helper thread, see netns.h). Every request is
// sent with NLM_F_ACK and waits for its ack, so a call returns only once the kernel has done
// it. Errors carry the operation, the object and the kernel's errno text plus its extended-ack
// message when there is one; EEXIST maps to Code::kAlreadyExists and ENODEV/ENOENT/ESRCH/
// EADDRNOTAVAIL to Code::kNotFound so callers can be idempotent.
//
// Interfaces are named, not indexed: names are what privcast controls (pcv<slot>, eth0,
// privcast0). Address and route calls resolve the index with one RTM_GETLINK.
//
// Not thread-safe: one socket, one request in flight. Move-only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "netns/ip.h"

struct mnl_socket;
struct nlmsghdr;

namespace privcast::netns {

struct Route {
  enum class Kind { kUnicast, kUnreachable, kLocal };
  Kind kind = Kind::kUnicast;
  IpPrefix dst;               // len 0 = default route; family of the route
  std::optional<IpAddr> via;  // gateway (kUnicast)
  std::string dev;            // output interface; required for kLocal and for on-link routes
  std::string ToString() const;
};

class Rtnl {
 public:
  static Result<Rtnl> Open();               // in the calling thread's netns
  static Result<Rtnl> OpenIn(int nsfd);     // in nsfd's netns
  static Result<Rtnl> FromFd(UniqueFd fd);  // an AF_NETLINK/NETLINK_ROUTE socket
  Rtnl(Rtnl&&) noexcept;
  Rtnl& operator=(Rtnl&&) noexcept;
  ~Rtnl();

  // Index of the named interface; NotFound when absent.
  Result<int> LinkIndex(const std::string& ifname);
  // veth pair: `ifname` here, its peer created directly inside peer_nsfd's netns under
  // `peer_ifname` (peer_nsfd < 0: same netns). Both down.
  Status CreateVeth(const std::string& ifname, int peer_nsfd, const std::string& peer_ifname);
  // A plain link of the given kind ("dummy", "bridge", ...), down.
  Status CreateLink(const std::string& ifname, const std::string& kind);
  Status SetLinkUp(const std::string& ifname, bool up);
  Status DeleteLink(const std::string& ifname);
  // IPv6 addresses are added with IFA_F_NODAD: usable at once, no DAD wait.
  Status AddAddress(const std::string& ifname, const IpPrefix& p);
  Status DelAddress(const std::string& ifname, const IpPrefix& p);
  // Routes go to the main table (kLocal: the local table), protocol static.
  Status AddRoute(const Route& r);
  Status DelRoute(const Route& r);

 private:
  explicit Rtnl(mnl_socket* s);
  // Sends nlh with NLM_F_ACK and waits for the matching ack.
  Status Talk(nlmsghdr* nlh, const std::string& what);
  Status RouteRequest(bool add, const Route& r);
  Status AddrRequest(bool add, const std::string& ifname, const IpPrefix& p);

  mnl_socket* nl_ = nullptr;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  std::unique_ptr<char[]> buf_;
};

}  // namespace privcast::netns
