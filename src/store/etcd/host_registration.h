// Host liveness on etcd (docs/cluster.md): each daemon keeps
// `/live/<host32 %08x>` = {"id","region","underlay","hostname"} attached to an etcd lease of
// `ttl` seconds that it keeps alive. When the daemon (or its host) dies the lease expires and
// etcd deletes the key: every host's watcher sees the delete at once, so a host is down for
// everyone within TTL (+ the keep-alive period's slack, well under 1 s) after it stopped.
// If the lease is lost while the host is alive (cut off from a working etcd for longer than
// the TTL; etcd extends leases after a whole-cluster outage), a new lease is granted and the
// key written again.
//
// LiveHosts reads the set from any Store (on SQLite there is no /live/: callers treat the
// local host as live). Thread-safety: HostRegistration's methods are called from one thread;
// its keep-alive runs on the EtcdStore's thread, its re-registration on its own thread, which
// the destructor stops and joins.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/result.h"
#include "store/etcd/etcd_store.h"

namespace privcast::store {

struct LiveHost {
  uint32_t id = 0;
  std::string region;
  std::string underlay;
  std::string hostname;
};

inline constexpr const char* kLivePrefix = "/live/";
std::string LiveKey(uint32_t host_id);
std::string EncodeLiveHost(const LiveHost& h);
[[nodiscard]] Result<LiveHost> DecodeLiveHost(const std::string& json);

// Every registered live host, ordered by id.
[[nodiscard]] Result<std::vector<LiveHost>> LiveHosts(Store* store);

class HostRegistration {
 public:
  // Grants the lease and writes the key; the keep-alive runs until destruction (which revokes
  // the lease, so a clean stop is seen at once). Must be destroyed before `etcd`.
  [[nodiscard]] static Result<std::unique_ptr<HostRegistration>> Start(EtcdStore* etcd, LiveHost host,
                                                                       int64_t ttl_seconds);
  ~HostRegistration();
  int64_t lease() const;

 private:
  HostRegistration() = default;
  Status Register();  // grant a lease, write the key, keep it alive (loss → renewer_ wakes)
  void RenewLoop();   // renewer_: registers again after each loss until stopped

  EtcdStore* etcd_ = nullptr;
  LiveHost host_;
  int64_t ttl_ = 0;
  mutable Mutex mu_;
  CondVar cv_;
  int64_t lease_ GUARDED_BY(mu_) = 0;
  bool lost_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread renewer_;
};

}  // namespace privcast::store
