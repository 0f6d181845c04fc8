#include "netns/listener_probe.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "netns/netns.h"

namespace privcast::netns {
namespace {
constexpr size_t kBufSize = 16384;
constexpr uint32_t kTcpListen = 10;  // TCP_LISTEN in the kernel's tcp_states.h
}  // namespace

bool Listener::ReachableOverV4(const IpAddr& link_v4) const {
  if (addr.IsUnspecified()) return addr.is_v4() || !v6only;
  return addr == link_v4;
}

ListenerProbe::ListenerProbe(UniqueFd fd) : fd_(std::move(fd)), buf_(new char[kBufSize]) {}

Result<ListenerProbe> ListenerProbe::Open(int nsfd) {
  PC_ASSIGN_OR_RETURN(UniqueFd fd, SocketIn(nsfd, AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG));
  return ListenerProbe(std::move(fd));
}

Status ListenerProbe::Dump(uint8_t family, std::vector<Listener>* out) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = ++seq_;
  msg.req.sdiag_family = family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1u << kTcpListen;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_.get(), &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return ErrnoStatus("sock_diag dump: sendto", errno);

  struct Ctx {
    uint8_t family;
    std::vector<Listener>* out;
  } ctx{family, out};
  auto cb = [](const nlmsghdr* h, void* data) -> int {
    auto* c = static_cast<Ctx*>(data);
    const auto* m = static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(h));
    Listener l;
    l.addr.family = m->idiag_family;
    std::memcpy(l.addr.b.data(), m->id.idiag_src, m->idiag_family == AF_INET ? 4 : 16);
    l.port = ntohs(m->id.idiag_sport);
    for (auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(h, sizeof(inet_diag_msg)));
         mnl_attr_ok(a, static_cast<int>(static_cast<const char*>(mnl_nlmsg_get_payload_tail(h)) -
                                         reinterpret_cast<const char*>(a)));
         a = mnl_attr_next(a)) {
      if (mnl_attr_get_type(a) == INET_DIAG_SKV6ONLY && mnl_attr_get_payload_len(a) >= 1)
        l.v6only = mnl_attr_get_u8(a) != 0;
    }
    c->out->push_back(l);
    return MNL_CB_OK;
  };
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf_.get(), kBufSize, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("sock_diag dump: recv", errno);
    }
    int rc = mnl_cb_run(buf_.get(), static_cast<size_t>(n), msg.nlh.nlmsg_seq, 0, cb, &ctx);
    if (rc == MNL_CB_STOP) return Status::Ok();
    if (rc < 0) return ErrnoStatus("sock_diag dump", errno);
  }
}

Result<std::optional<Listener>> ListenerProbe::Accepts(const IpAddr& addr, uint16_t port) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;
  msg.nlh.nlmsg_seq = ++seq_;
  msg.req.sdiag_family = addr.family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1u << kTcpListen;
  // Exact lookup as if a SYN came from [::]:0 to addr:port: no established socket matches
  // a zero source, so the kernel's listener lookup answers.
  std::memcpy(msg.req.id.idiag_src, addr.b.data(), addr.size());
  msg.req.id.idiag_sport = htons(port);
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_.get(), &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return ErrnoStatus("sock_diag lookup: sendto", errno);
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf_.get(), kBufSize, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("sock_diag lookup: recv", errno);
    }
    const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf_.get());
    int left = static_cast<int>(n);
    for (; mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
      if (h->nlmsg_seq != msg.nlh.nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        int err = -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h))->error;
        if (err == ENOENT) return std::optional<Listener>();
        return ErrnoStatus("sock_diag lookup", err);
      }
      if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
        const auto* m = static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(h));
        if (m->idiag_state != kTcpListen) return std::optional<Listener>();
        Listener l;
        l.addr.family = m->idiag_family;
        std::memcpy(l.addr.b.data(), m->id.idiag_src, m->idiag_family == AF_INET ? 4 : 16);
        l.port = ntohs(m->id.idiag_sport);
        return std::optional<Listener>(l);
      }
    }
  }
}

Result<std::vector<Listener>> ListenerProbe::List() {
  std::vector<Listener> out;
  PC_RETURN_IF_ERROR(Dump(AF_INET, &out));
  PC_RETURN_IF_ERROR(Dump(AF_INET6, &out));
  return out;
}

}  // namespace privcast::netns
