#include "netns/host_network.h"

#include "common/log.h"

namespace privcast::netns {
namespace {

Route Unreachable6() {
  Ip6 p;
  p.SetGroup(0, 0xfdaa);
  return Route{Route::Kind::kUnreachable, IpPrefix::V6(p, 16), std::nullopt, ""};
}
Route Unreachable4() {
  return Route{Route::Kind::kUnreachable, IpPrefix::V4(addr::kLinkV4Base, addr::kLinkV4PrefixLen), std::nullopt, ""};
}
Status OkIfExists(const Status& st) { return st.code() == Code::kAlreadyExists ? Status::Ok() : st; }
Status OkIfAbsent(const Status& st) { return st.code() == Code::kNotFound ? Status::Ok() : st; }

}  // namespace

Status HostNetwork::Setup() {
  MutexLock lock(&mu_);
  Status st = ops_.CreateLink(kHost, kIfName, "dummy");
  if (!st.ok() && st.code() != Code::kAlreadyExists) {
    // Kernels built without CONFIG_DUMMY: a bridge with no ports behaves the same here
    // (always "up", never forwards anything).
    log::Info("netns", "no dummy link support, using a port-less bridge", {{"err", st.message()}});
    st = OkIfExists(ops_.CreateLink(kHost, kIfName, "bridge"));
  }
  PC_RETURN_IF_ERROR(OkIfExists(st));
  PC_RETURN_IF_ERROR(ops_.SetLinkUp(kHost, kIfName, true));
  PC_RETURN_IF_ERROR(OkIfExists(ops_.AddAddress(kHost, kIfName, IpPrefix::V6(addr::DnsAddress(), 128))));
  PC_RETURN_IF_ERROR(OkIfExists(ops_.AddRoute(kHost, Unreachable6())));
  PC_RETURN_IF_ERROR(OkIfExists(ops_.AddRoute(kHost, Unreachable4())));
  PC_RETURN_IF_ERROR(ops_.WriteSysctl(kHost, "net/ipv6/conf/all/forwarding", "1"));
  PC_RETURN_IF_ERROR(ops_.WriteSysctl(kHost, "net/ipv4/ip_forward", "1"));
  return Status::Ok();
}

Status HostNetwork::Teardown() {
  MutexLock lock(&mu_);
  Status first;
  for (const Status& st :
       {OkIfAbsent(ops_.DelRoute(kHost, Unreachable6())), OkIfAbsent(ops_.DelRoute(kHost, Unreachable4())),
        OkIfAbsent(ops_.DeleteLink(kHost, kIfName))}) {
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Status HostNetwork::AddFlycastAddress(const Ip6& a) {
  MutexLock lock(&mu_);
  return OkIfExists(ops_.AddAddress(kHost, kIfName, IpPrefix::V6(a, 128)));
}

Status HostNetwork::RemoveFlycastAddress(const Ip6& a) {
  MutexLock lock(&mu_);
  return OkIfAbsent(ops_.DelAddress(kHost, kIfName, IpPrefix::V6(a, 128)));
}

Status HostNetwork::SetPeerRoute(const Ip6& prefix80, const Ip6& via) {
  MutexLock lock(&mu_);
  Route r{Route::Kind::kUnicast, IpPrefix::V6(prefix80, 80), IpAddr::V6(via), ""};
  Status st = ops_.AddRoute(kHost, r);
  if (st.code() != Code::kAlreadyExists) return st;
  // Left by an earlier daemon, perhaps via another address: replace it.
  PC_RETURN_IF_ERROR(OkIfAbsent(ops_.DelRoute(kHost, Route{Route::Kind::kUnicast, r.dst, std::nullopt, ""})));
  return ops_.AddRoute(kHost, r);
}

Status HostNetwork::RemovePeerRoute(const Ip6& prefix80) {
  MutexLock lock(&mu_);
  return OkIfAbsent(ops_.DelRoute(kHost, Route{Route::Kind::kUnicast, IpPrefix::V6(prefix80, 80), std::nullopt, ""}));
}

}  // namespace privcast::netns
