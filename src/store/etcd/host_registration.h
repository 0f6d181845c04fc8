// Host liveness on etcd (issue 15, docs/cluster.md): each daemon keeps
// `/live/<host32 %08x>` = {"id","region","underlay","hostname"} attached to an etcd lease of
// `ttl` seconds that it keeps alive. When the daemon (or its host) dies the lease expires and
// etcd deletes the key: every host's watcher sees the delete at once, so a host is down for
// everyone within TTL (+ the keep-alive period's slack, well under 1 s) after it stopped.
// If the lease is lost while the host is alive (an etcd outage longer than the TTL), a new
// lease is granted and the key written again.
//
// LiveHosts reads the set from any Store (on SQLite there is no /live/: callers treat the
// local host as live). Thread-safety: HostRegistration's methods are called from one thread;
// its keep-alive runs on the EtcdStore's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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
  // the lease, so a clean stop is seen at once) or until the EtcdStore is destroyed.
  [[nodiscard]] static Result<std::unique_ptr<HostRegistration>> Start(EtcdStore* etcd, LiveHost host, int64_t ttl_seconds);
  ~HostRegistration();
  int64_t lease() const { return lease_->load(); }

 private:
  HostRegistration() = default;
  void Renew();
  EtcdStore* etcd_ = nullptr;
  LiveHost host_;
  int64_t ttl_ = 0;
  std::shared_ptr<std::atomic<int64_t>> lease_ = std::make_shared<std::atomic<int64_t>>(0);
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace privcast::store
