// NetOps: the seam between privcast's network plans and the kernel.
//
// MachineNetwork and HostNetwork are written against this small interface of primitives;
// KernelNetOps does them for real (rtnetlink via Rtnl, namespaces via netns.h) and
// FaultInjectingNetOps wraps any NetOps and fails the k-th call, so every rollback path can
// be proved against the real kernel.
//
// `where` names the namespace a primitive acts in: kHost ("") is the namespace the
// KernelNetOps was created in (captured as an fd at creation, NOT the caller's current one),
// any other value is the path of a named netns (netns::Create).
//
// KernelNetOps is thread-safe (one internal mutex: HostNetwork and MachineNetwork may share
// one); FaultInjectingNetOps is not (one per test). A KernelNetOps caches one rtnetlink
// socket per named netns it touched; DeleteNetns and Forget drop it.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/fd.h"
#include "common/mutex.h"
#include "common/result.h"
#include "netns/ip.h"
#include "netns/rtnl.h"

namespace privcast::netns {

inline const std::string kHost;  // `where` for the host namespace

class NetOps {
 public:
  virtual ~NetOps() = default;
  // Named netns at `path` (= <dir>/<name>), with IPv6 DAD off inside (accept_dad = 0 for
  // all/default) so its addresses, including link-local ones, are usable at once.
  virtual Status CreateNetns(const std::string& path) = 0;
  virtual Status DeleteNetns(const std::string& path) = 0;  // Ok when absent
  // veth: `ifname` in the host netns, peer created inside the netns at peer_path as peer_ifname.
  virtual Status CreateVeth(const std::string& ifname, const std::string& peer_path,
                            const std::string& peer_ifname) = 0;
  virtual Status CreateLink(const std::string& where, const std::string& ifname, const std::string& kind) = 0;
  virtual Status DeleteLink(const std::string& where, const std::string& ifname) = 0;
  virtual Status SetLinkUp(const std::string& where, const std::string& ifname, bool up) = 0;
  virtual Status AddAddress(const std::string& where, const std::string& ifname, const IpPrefix& p) = 0;
  virtual Status DelAddress(const std::string& where, const std::string& ifname, const IpPrefix& p) = 0;
  virtual Status AddRoute(const std::string& where, const Route& r) = 0;
  virtual Status DelRoute(const std::string& where, const Route& r) = 0;
  // /proc/sys/<key> inside `where`.
  virtual Status WriteSysctl(const std::string& where, const std::string& key, const std::string& value) = 0;
  // Drop any cached state for the netns at path (never fails).
  virtual void Forget(const std::string& /*path*/) {}
};

class KernelNetOps : public NetOps {
 public:
  // Binds kHost to the calling thread's current netns.
  static Result<std::unique_ptr<KernelNetOps>> Create();
  // Binds kHost to the given netns fd (dup'ed).
  static Result<std::unique_ptr<KernelNetOps>> CreateFor(int host_nsfd);

  Status CreateNetns(const std::string& path) override;
  Status DeleteNetns(const std::string& path) override;
  Status CreateVeth(const std::string& ifname, const std::string& peer_path, const std::string& peer_ifname) override;
  Status CreateLink(const std::string& where, const std::string& ifname, const std::string& kind) override;
  Status DeleteLink(const std::string& where, const std::string& ifname) override;
  Status SetLinkUp(const std::string& where, const std::string& ifname, bool up) override;
  Status AddAddress(const std::string& where, const std::string& ifname, const IpPrefix& p) override;
  Status DelAddress(const std::string& where, const std::string& ifname, const IpPrefix& p) override;
  Status AddRoute(const std::string& where, const Route& r) override;
  Status DelRoute(const std::string& where, const Route& r) override;
  Status WriteSysctl(const std::string& where, const std::string& key, const std::string& value) override;
  void Forget(const std::string& path) override;

  int host_nsfd() const { return host_ns_.get(); }

 private:
  struct Ns {
    UniqueFd fd;
    Rtnl rtnl;
  };
  KernelNetOps(UniqueFd host_ns, Rtnl host) : host_ns_(std::move(host_ns)), host_(std::move(host)) {}
  Result<Ns*> Named(const std::string& path) REQUIRES(mu_);
  Result<Rtnl*> RtnlFor(const std::string& where) REQUIRES(mu_);

  Mutex mu_;
  UniqueFd host_ns_;
  Rtnl host_ GUARDED_BY(mu_);
  std::map<std::string, Ns> named_ GUARDED_BY(mu_);
};

// Forwards to `inner`, except that call number `fail_at` (1-based, counting every call)
// returns an injected kIo error without doing anything. fail_at = 0 never fails; calls()
// then tells how many primitives an operation used.
class FaultInjectingNetOps : public NetOps {
 public:
  FaultInjectingNetOps(NetOps& inner, int fail_at) : inner_(inner), fail_at_(fail_at) {}
  int calls() const { return calls_; }
  bool injected() const { return injected_; }

  Status CreateNetns(const std::string& path) override;
  Status DeleteNetns(const std::string& path) override;
  Status CreateVeth(const std::string& ifname, const std::string& peer_path, const std::string& peer_ifname) override;
  Status CreateLink(const std::string& where, const std::string& ifname, const std::string& kind) override;
  Status DeleteLink(const std::string& where, const std::string& ifname) override;
  Status SetLinkUp(const std::string& where, const std::string& ifname, bool up) override;
  Status AddAddress(const std::string& where, const std::string& ifname, const IpPrefix& p) override;
  Status DelAddress(const std::string& where, const std::string& ifname, const IpPrefix& p) override;
  Status AddRoute(const std::string& where, const Route& r) override;
  Status DelRoute(const std::string& where, const Route& r) override;
  Status WriteSysctl(const std::string& where, const std::string& key, const std::string& value) override;
  void Forget(const std::string& path) override { inner_.Forget(path); }

 private:
  bool Fail(const char* op);
  NetOps& inner_;
  int fail_at_;
  int calls_ = 0;
  bool injected_ = false;
};

}  // namespace privcast::netns
