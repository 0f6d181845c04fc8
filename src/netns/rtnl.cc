#include "netns/rtnl.h"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "netns/netns.h"

namespace privcast::netns {
namespace {

constexpr size_t kBufSize = 32768;  // >= MNL_SOCKET_BUFFER_SIZE for dumps

Status NlError(const std::string& what, int err, const std::string& ext) {
  std::string msg = what + ": " + std::strerror(err);
  if (!ext.empty()) msg += " (" + ext + ")";
  switch (err) {
    case EEXIST:
      return AlreadyExists(msg);
    case ENODEV:
    case ENOENT:
    case ESRCH:
    case EADDRNOTAVAIL:
      return NotFound(msg);
    default:
      return Status(Code::kIo, msg);
  }
}

// Extended ack message (NLMSGERR_ATTR_MSG) following an NLMSG_ERROR, if any.
std::string ExtAckMessage(const nlmsghdr* nlh) {
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  size_t off = sizeof(nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) off += err->msg.nlmsg_len - sizeof(nlmsghdr);
  const char* start = static_cast<const char*>(mnl_nlmsg_get_payload(nlh)) + off;
  const char* end = reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len;
  const nlattr* a = reinterpret_cast<const nlattr*>(start);
  int left = static_cast<int>(end - start);
  while (mnl_attr_ok(a, left)) {
    if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG) return mnl_attr_get_str(a);
    left -= MNL_ALIGN(a->nla_len);
    a = mnl_attr_next(a);
  }
  return "";
}

const char* KindName(Route::Kind k) {
  switch (k) {
    case Route::Kind::kUnicast:
      return "";
    case Route::Kind::kUnreachable:
      return "unreachable ";
    case Route::Kind::kLocal:
      return "local ";
  }
  return "";
}

}  // namespace

std::string Route::ToString() const {
  std::string s = KindName(kind);
  s += dst.len == 0 ? std::string(dst.addr.is_v4() ? "default(v4)" : "default(v6)") : dst.ToString();
  if (via) s += " via " + via->ToString();
  if (!dev.empty()) s += " dev " + dev;
  return s;
}

Rtnl::Rtnl(mnl_socket* s) : nl_(s), buf_(new char[kBufSize]) {
  portid_ = mnl_socket_get_portid(s);
  int one = 1;
  // Best effort: extended acks give error strings, capped acks keep them short.
  mnl_socket_setsockopt(nl_, NETLINK_EXT_ACK, &one, sizeof one);
  mnl_socket_setsockopt(nl_, NETLINK_CAP_ACK, &one, sizeof one);
  seq_ = 1;
}

Rtnl::Rtnl(Rtnl&& o) noexcept
    : nl_(std::exchange(o.nl_, nullptr)), portid_(o.portid_), seq_(o.seq_), buf_(std::move(o.buf_)) {}

Rtnl& Rtnl::operator=(Rtnl&& o) noexcept {
  if (this != &o) {
    if (nl_) mnl_socket_close(nl_);
    nl_ = std::exchange(o.nl_, nullptr);
    portid_ = o.portid_;
    seq_ = o.seq_;
    buf_ = std::move(o.buf_);
  }
  return *this;
}

Rtnl::~Rtnl() {
  if (nl_) mnl_socket_close(nl_);
}

Result<Rtnl> Rtnl::FromFd(UniqueFd fd) {
  mnl_socket* s = mnl_socket_fdopen(fd.get());
  if (!s) return ErrnoStatus("mnl_socket_fdopen", errno);
  fd.release();  // owned by s now
  // fdopen does not bind; bind to get a port id (and so acks reach us).
  if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
    int e = errno;
    mnl_socket_close(s);
    return ErrnoStatus("bind rtnetlink socket", e);
  }
  return Rtnl(s);
}

Result<Rtnl> Rtnl::Open() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return ErrnoStatus("socket(NETLINK_ROUTE)", errno);
  return FromFd(UniqueFd(fd));
}

Result<Rtnl> Rtnl::OpenIn(int nsfd) {
  PC_ASSIGN_OR_RETURN(UniqueFd fd, SocketIn(nsfd, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
  return FromFd(std::move(fd));
}

Status Rtnl::Talk(nlmsghdr* nlh, const std::string& what) {
  nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = ++seq_;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return ErrnoStatus(what + ": sendto", errno);
  const uint32_t want = nlh->nlmsg_seq;
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, buf_.get(), kBufSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(what + ": recvfrom", errno);
    }
    const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf_.get());
    int left = static_cast<int>(n);
    while (mnl_nlmsg_ok(h, left)) {
      if (h->nlmsg_seq == want && h->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h));
        if (err->error == 0) return Status::Ok();
        return NlError(what, -err->error, ExtAckMessage(h));
      }
      h = mnl_nlmsg_next(h, &left);
    }
  }
}

Result<int> Rtnl::LinkIndex(const std::string& ifname) {
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = ++seq_;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname.c_str());
  mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  const uint32_t want = nlh->nlmsg_seq;
  std::string what = "RTM_GETLINK " + ifname;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return ErrnoStatus(what + ": sendto", errno);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, buf_.get(), kBufSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(what + ": recvfrom", errno);
    }
    const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf_.get());
    int left = static_cast<int>(n);
    while (mnl_nlmsg_ok(h, left)) {
      if (h->nlmsg_seq == want) {
        if (h->nlmsg_type == NLMSG_ERROR) {
          const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h));
          return NlError(what, err->error ? -err->error : EPROTO, ExtAckMessage(h));
        }
        if (h->nlmsg_type == RTM_NEWLINK) {
          const auto* r = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(h));
          return r->ifi_index;
        }
      }
      h = mnl_nlmsg_next(h, &left);
    }
  }
}

Status Rtnl::CreateVeth(const std::string& ifname, int peer_nsfd, const std::string& peer_ifname) {
  char req[1024];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname.c_str());
  nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  nlattr* peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
  auto* pifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  pifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_ifname.c_str());
  if (peer_nsfd >= 0) mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, static_cast<uint32_t>(peer_nsfd));
  mnl_attr_nest_end(nlh, peer);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, linkinfo);
  return Talk(nlh, "create veth " + ifname + " <-> " + peer_ifname);
}

Status Rtnl::CreateLink(const std::string& ifname, const std::string& kind) {
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname.c_str());
  nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind.c_str());
  mnl_attr_nest_end(nlh, linkinfo);
  return Talk(nlh, "create " + kind + " link " + ifname);
}

Status Rtnl::SetLinkUp(const std::string& ifname, bool up) {
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = 0;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_change = IFF_UP;
  ifm->ifi_flags = up ? IFF_UP : 0;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname.c_str());
  return Talk(nlh, std::string("set link ") + ifname + (up ? " up" : " down"));
}

Status Rtnl::DeleteLink(const std::string& ifname) {
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_DELLINK;
  nlh->nlmsg_flags = 0;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname.c_str());
  return Talk(nlh, "delete link " + ifname);
}

Status Rtnl::AddrRequest(bool add, const std::string& ifname, const IpPrefix& p) {
  std::string what = std::string(add ? "add" : "delete") + " address " + p.ToString() + " dev " + ifname;
  Result<int> idx = LinkIndex(ifname);
  if (!idx.ok()) return Status(idx.status().code(), what + ": " + idx.status().message());
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
  nlh->nlmsg_flags = add ? (NLM_F_CREATE | NLM_F_EXCL) : 0;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = p.addr.family;
  ifa->ifa_prefixlen = static_cast<uint8_t>(p.len);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<uint32_t>(*idx);
  if (!p.addr.is_v4()) {
    ifa->ifa_flags = IFA_F_NODAD;
    if (add) mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
  }
  mnl_attr_put(nlh, IFA_LOCAL, p.addr.size(), p.addr.b.data());
  mnl_attr_put(nlh, IFA_ADDRESS, p.addr.size(), p.addr.b.data());
  return Talk(nlh, what);
}

Status Rtnl::AddAddress(const std::string& ifname, const IpPrefix& p) { return AddrRequest(true, ifname, p); }
Status Rtnl::DelAddress(const std::string& ifname, const IpPrefix& p) { return AddrRequest(false, ifname, p); }

Status Rtnl::RouteRequest(bool add, const Route& r) {
  std::string what = std::string(add ? "add" : "delete") + " route " + r.ToString();
  int oif = 0;
  if (!r.dev.empty()) {
    Result<int> idx = LinkIndex(r.dev);
    if (!idx.ok()) return Status(idx.status().code(), what + ": " + idx.status().message());
    oif = *idx;
  }
  char req[512];
  nlmsghdr* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
  nlh->nlmsg_flags = add ? (NLM_F_CREATE | NLM_F_EXCL) : 0;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = r.dst.addr.family;
  rtm->rtm_dst_len = static_cast<uint8_t>(r.dst.len);
  rtm->rtm_protocol = RTPROT_STATIC;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_scope = RT_SCOPE_UNIVERSE;
  switch (r.kind) {
    case Route::Kind::kUnicast:
      rtm->rtm_type = RTN_UNICAST;
      if (!r.via && r.dst.addr.is_v4()) rtm->rtm_scope = RT_SCOPE_LINK;
      break;
    case Route::Kind::kUnreachable:
      rtm->rtm_type = RTN_UNREACHABLE;
      break;
    case Route::Kind::kLocal:
      rtm->rtm_type = RTN_LOCAL;
      rtm->rtm_table = RT_TABLE_LOCAL;
      rtm->rtm_scope = RT_SCOPE_HOST;
      break;
  }
  if (!add) rtm->rtm_scope = RT_SCOPE_NOWHERE;  // match any scope on delete
  mnl_attr_put_u32(nlh, RTA_TABLE, rtm->rtm_table);
  if (r.dst.len > 0) mnl_attr_put(nlh, RTA_DST, r.dst.addr.size(), r.dst.addr.b.data());
  if (r.via) mnl_attr_put(nlh, RTA_GATEWAY, r.via->size(), r.via->b.data());
  if (oif) mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(oif));
  return Talk(nlh, what);
}

Status Rtnl::AddRoute(const Route& r) { return RouteRequest(true, r); }
Status Rtnl::DelRoute(const Route& r) { return RouteRequest(false, r); }

}  // namespace privcast::netns
