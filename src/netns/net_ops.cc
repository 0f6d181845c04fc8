#include "netns/net_ops.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "netns/netns.h"

namespace privcast::netns {
namespace {

void SplitPath(const std::string& path, std::string* dir, std::string* name) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *name = path;
  } else {
    *dir = path.substr(0, slash);
    *name = path.substr(slash + 1);
  }
}

}  // namespace

Result<std::unique_ptr<KernelNetOps>> KernelNetOps::Create() {
  PC_ASSIGN_OR_RETURN(UniqueFd ns, OpenCurrent());
  PC_ASSIGN_OR_RETURN(Rtnl host, Rtnl::Open());
  return std::unique_ptr<KernelNetOps>(new KernelNetOps(std::move(ns), std::move(host)));
}

Result<std::unique_ptr<KernelNetOps>> KernelNetOps::CreateFor(int host_nsfd) {
  int fd = ::fcntl(host_nsfd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("dup netns fd", errno);
  UniqueFd ns(fd);
  PC_ASSIGN_OR_RETURN(Rtnl host, Rtnl::OpenIn(ns.get()));
  return std::unique_ptr<KernelNetOps>(new KernelNetOps(std::move(ns), std::move(host)));
}

Result<KernelNetOps::Ns*> KernelNetOps::Named(const std::string& path) {
  auto it = named_.find(path);
  if (it != named_.end()) return &it->second;
  PC_ASSIGN_OR_RETURN(UniqueFd fd, Open(path));
  PC_ASSIGN_OR_RETURN(Rtnl rtnl, Rtnl::OpenIn(fd.get()));
  auto [pos, _] = named_.emplace(path, Ns{std::move(fd), std::move(rtnl)});
  return &pos->second;
}

Result<Rtnl*> KernelNetOps::RtnlFor(const std::string& where) {
  if (where.empty()) return &host_;
  PC_ASSIGN_OR_RETURN(Ns * ns, Named(where));
  return &ns->rtnl;
}

Status KernelNetOps::CreateNetns(const std::string& path) {
  MutexLock lock(&mu_);
  std::string dir, name;
  SplitPath(path, &dir, &name);
  // One helper thread does it all: unshare, bind-mount, sysctls, and opening the
  // rtnetlink socket and the fd we cache for the following steps.
  UniqueFd nsfd;
  UniqueFd nlfd;
  PC_RETURN_IF_ERROR(netns::Create(dir, name, [&]() -> Status {
    PC_RETURN_IF_ERROR(netns::WriteSysctl("net/ipv6/conf/all/accept_dad", "0"));
    PC_RETURN_IF_ERROR(netns::WriteSysctl("net/ipv6/conf/default/accept_dad", "0"));
    PC_ASSIGN_OR_RETURN(nsfd, OpenCurrent());
    int s = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0) return ErrnoStatus("socket(NETLINK_ROUTE)", errno);
    nlfd.reset(s);
    return Status::Ok();
  }));
  Result<Rtnl> rtnl = Rtnl::FromFd(std::move(nlfd));
  if (!rtnl.ok()) {
    (void)netns::Delete(path);
    return rtnl.status();
  }
  named_.erase(path);
  named_.emplace(path, Ns{std::move(nsfd), std::move(rtnl).value()});
  return Status::Ok();
}

Status KernelNetOps::DeleteNetns(const std::string& path) {
  MutexLock lock(&mu_);
  named_.erase(path);
  return netns::Delete(path);
}

void KernelNetOps::Forget(const std::string& path) {
  MutexLock lock(&mu_);
  named_.erase(path);
}

Status KernelNetOps::CreateVeth(const std::string& ifname, const std::string& peer_path,
                                const std::string& peer_ifname) {
  MutexLock lock(&mu_);
  PC_ASSIGN_OR_RETURN(Ns * ns, Named(peer_path));
  return host_.CreateVeth(ifname, ns->fd.get(), peer_ifname);
}

Status KernelNetOps::CreateLink(const std::string& where, const std::string& ifname, const std::string& kind) {
  MutexLock lock(&mu_);
  PC_ASSIGN_OR_RETURN(Rtnl * r, RtnlFor(where));
  return r->CreateLink(ifname, kind);
}

Status KernelNetOps::DeleteLink(const std::string& where, const std::string& ifname) {
  MutexLock lock(&mu_);
  PC_ASSIGN_OR_RETURN(Rtnl * r, RtnlFor(where));
  return r->DeleteLink(ifname);
}

Status KernelNetOps::SetLinkUp(const std::string& where, const std::string& ifname, bool up) {
  MutexLock lock(&mu_);
  PC_ASSIGN_OR_RETURN(Rtnl * r, RtnlFor(where));
  return r->SetLinkUp(ifname, up);
}

Status KernelNetOps::AddAddress(const std::string& where, const std::string& ifname, const IpPrefix& p) {
  MutexLock lock(&mu_);
  PC_ASSIGN_OR_RETURN(Rtnl * r, RtnlFor(where));
  return r->AddAddress(ifname, p);
}

Status KernelNetOps::DelAddress(const std::string& where, const std::string& ifname, const IpPrefix& p) {
  MutexLock lock(&mu_);
  PC_ASSIGN_OR_RETURN(Rtnl * r, RtnlFor(where));
  return r->DelAddress(ifname, p);
}

Status KernelNetOps::AddRoute(const std::string& where, const Route& rt) {
  MutexLock lock(&mu_);
  PC_ASSIGN_OR_RETURN(Rtnl * r, RtnlFor(where));
  return r->AddRoute(rt);
}

Status KernelNetOps::DelRoute(const std::string& where, const Route& rt) {
  MutexLock lock(&mu_);
  PC_ASSIGN_OR_RETURN(Rtnl * r, RtnlFor(where));
  return r->DelRoute(rt);
}

Status KernelNetOps::WriteSysctl(const std::string& where, const std::string& key, const std::string& value) {
  MutexLock lock(&mu_);
  if (where.empty()) return RunIn(host_ns_.get(), [&] { return netns::WriteSysctl(key, value); });
  PC_ASSIGN_OR_RETURN(Ns * ns, Named(where));
  return RunIn(ns->fd.get(), [&] { return netns::WriteSysctl(key, value); });
}

// ---- FaultInjectingNetOps ----

bool FaultInjectingNetOps::Fail(const char*) {
  ++calls_;
  if (fail_at_ > 0 && calls_ == fail_at_) {
    injected_ = true;
    return true;
  }
  return false;
}

#define PC_FAULT(op) \
  if (Fail(op)) return Status(Code::kIo, std::string("injected fault at step ") + std::to_string(calls_) + " (" op ")")

Status FaultInjectingNetOps::CreateNetns(const std::string& path) {
  PC_FAULT("CreateNetns");
  return inner_.CreateNetns(path);
}
Status FaultInjectingNetOps::DeleteNetns(const std::string& path) {
  PC_FAULT("DeleteNetns");
  return inner_.DeleteNetns(path);
}
Status FaultInjectingNetOps::CreateVeth(const std::string& ifname, const std::string& peer_path,
                                        const std::string& peer_ifname) {
  PC_FAULT("CreateVeth");
  return inner_.CreateVeth(ifname, peer_path, peer_ifname);
}
Status FaultInjectingNetOps::CreateLink(const std::string& where, const std::string& ifname, const std::string& kind) {
  PC_FAULT("CreateLink");
  return inner_.CreateLink(where, ifname, kind);
}
Status FaultInjectingNetOps::DeleteLink(const std::string& where, const std::string& ifname) {
  PC_FAULT("DeleteLink");
  return inner_.DeleteLink(where, ifname);
}
Status FaultInjectingNetOps::SetLinkUp(const std::string& where, const std::string& ifname, bool up) {
  PC_FAULT("SetLinkUp");
  return inner_.SetLinkUp(where, ifname, up);
}
Status FaultInjectingNetOps::AddAddress(const std::string& where, const std::string& ifname, const IpPrefix& p) {
  PC_FAULT("AddAddress");
  return inner_.AddAddress(where, ifname, p);
}
Status FaultInjectingNetOps::DelAddress(const std::string& where, const std::string& ifname, const IpPrefix& p) {
  PC_FAULT("DelAddress");
  return inner_.DelAddress(where, ifname, p);
}
Status FaultInjectingNetOps::AddRoute(const std::string& where, const Route& r) {
  PC_FAULT("AddRoute");
  return inner_.AddRoute(where, r);
}
Status FaultInjectingNetOps::DelRoute(const std::string& where, const Route& r) {
  PC_FAULT("DelRoute");
  return inner_.DelRoute(where, r);
}
Status FaultInjectingNetOps::WriteSysctl(const std::string& where, const std::string& key, const std::string& value) {
  PC_FAULT("WriteSysctl");
  return inner_.WriteSysctl(where, key, value);
}

}  // namespace privcast::netns
