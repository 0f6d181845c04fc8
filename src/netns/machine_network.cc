#include "netns/machine_network.h"

#include <functional>
#include <vector>

#include "common/addr.h"
#include "common/log.h"

namespace privcast::netns {

Status MachineNetwork::Setup(const MachineNetSpec& spec) { return SetupWith(ops_, spec); }

Status MachineNetwork::SetupWith(NetOps& ops, const MachineNetSpec& s) {
  if (s.machine_id.empty() || s.machine_id.find('/') != std::string::npos)
    return InvalidArgument("bad machine id '" + s.machine_id + "'");
  if (s.slot >= addr::kMaxLinkSlots) return InvalidArgument("link slot out of range");
  if (s.net32 == 0 || s.host32 < addr::kFirstHostId) return InvalidArgument("net32 must be != 0 and host32 >= 2");

  MutexLock lock(&mu_);
  const std::string ns = NetnsPath(s.machine_id);
  const std::string host_if = HostIfName(s.slot);
  const std::string eth0 = kMachineIfName;
  const IpPrefix m6 = IpPrefix::V6(addr::SixPnAddress(s.net32, s.host32, s.machine32), 112);
  const IpPrefix h6 = IpPrefix::V6(addr::SixPnGateway(s.net32, s.host32, s.machine32), 112);
  const IpPrefix m4 = IpPrefix::V4(addr::LinkV4Machine(s.slot), 31);
  const IpPrefix h4 = IpPrefix::V4(addr::LinkV4Host(s.slot), 31);
  // The host side's kernel-made link-local is tentative (DAD) for ~1 s, and the kernel sends
  // no neighbour solicitation without a usable link-local: forwarding to a fresh machine would
  // stall. fe80::1 with NODAD is usable at once (link-local: the same on every pcv is fine).
  const IpPrefix hll = IpPrefix::V6(*Ip6::Parse("fe80::1"), 64);
  Route def6{Route::Kind::kUnicast, IpPrefix{IpAddr::V6(Ip6{}), 0}, h6.addr, eth0};
  Route def4{Route::Kind::kUnicast, IpPrefix{IpAddr::V4(0), 0}, h4.addr, eth0};

  std::vector<std::function<Status()>> undo;
  auto rollback = [&](const Status& failed) {
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
      Status u = (*it)();
      if (!u.ok() && u.code() != Code::kNotFound)
        log::Warn("netns", "rollback step failed", {{"machine", s.machine_id}, {"err", u.ToString()}});
    }
    ops.Forget(ns);
    log::Warn("netns", "machine network setup failed, rolled back",
              {{"machine", s.machine_id}, {"err", failed.ToString()}});
    return failed;
  };
  // Each step: do it, or roll back everything done so far; on success remember its undo.
  auto step = [&](const Status& st, std::function<Status()> u) -> bool {
    if (!st.ok()) return false;
    undo.push_back(std::move(u));
    return true;
  };
  Status st;
#define PC_STEP(expr, undo_expr)                                     \
  do {                                                               \
    st = (expr);                                                     \
    if (!step(st, [&] { return (undo_expr); })) return rollback(st); \
  } while (0)

  PC_STEP(ops.CreateNetns(ns), ops.DeleteNetns(ns));
  PC_STEP(ops.CreateVeth(host_if, ns, eth0), ops.DeleteLink(kHost, host_if));
  PC_STEP(ops.SetLinkUp(ns, "lo", true), ops.SetLinkUp(ns, "lo", false));
  PC_STEP(ops.SetLinkUp(ns, eth0, true), ops.SetLinkUp(ns, eth0, false));
  PC_STEP(ops.SetLinkUp(kHost, host_if, true), ops.SetLinkUp(kHost, host_if, false));
  PC_STEP(ops.AddAddress(ns, eth0, m6), ops.DelAddress(ns, eth0, m6));
  PC_STEP(ops.AddAddress(ns, eth0, m4), ops.DelAddress(ns, eth0, m4));
  PC_STEP(ops.AddAddress(kHost, host_if, hll), ops.DelAddress(kHost, host_if, hll));
  PC_STEP(ops.AddAddress(kHost, host_if, h6), ops.DelAddress(kHost, host_if, h6));
  PC_STEP(ops.AddAddress(kHost, host_if, h4), ops.DelAddress(kHost, host_if, h4));
  PC_STEP(ops.AddRoute(ns, def6), ops.DelRoute(ns, def6));
  PC_STEP(ops.AddRoute(ns, def4), ops.DelRoute(ns, def4));
#undef PC_STEP
  ops.Forget(ns);  // the machine netns is not touched again until Teardown
  return Status::Ok();
}

Status MachineNetwork::Teardown(const std::string& machine_id, uint32_t slot) {
  if (machine_id.empty() || machine_id.find('/') != std::string::npos)
    return InvalidArgument("bad machine id '" + machine_id + "'");
  MutexLock lock(&mu_);
  Status first;
  Status st = ops_.DeleteLink(kHost, HostIfName(slot));
  if (!st.ok() && st.code() != Code::kNotFound) first = st;
  st = ops_.DeleteNetns(NetnsPath(machine_id));
  if (!st.ok() && st.code() != Code::kNotFound && first.ok()) first = st;
  return first;
}

}  // namespace privcast::netns
