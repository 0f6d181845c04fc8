// Server: privcast's internal DNS server (docs/dns.md), one thread running a loop::EventLoop
// (src/loop) that serves UDP and TCP on the addresses it was given (fdaa::3:53 in the daemon's
// namespace, optionally more); queries for other names go to its dns::Forwarder
// (dns/forwarder.h). Its timers run on ServerOptions::clock.
//
// Lifecycle (the daemon's control thread):
//   auto s = dns::Server::Create(opts, &hook);   // binds every socket, reads resolv.conf
//   s.value()->Publish(snapshot);                 // any time, from any one thread; cheap swap
//   s.value()->Start();                           // spawns the loop thread
//   s.value()->MetricsText();                     // Prometheus text lines, any thread
//   s.value()->Stop();                            // joins the loop (the destructor also stops)
//
// Publish builds the DNS view (Zone) of the Snapshot on the calling thread and hands it to
// the loop through a slot under a Mutex (GUARDED_BY) plus a posted closure; the loop swaps it between batches,
// so a query is answered entirely from one Snapshot. Before the first Publish, names in
// `flycast.`/`internal.` get SERVFAIL.
//
// The loop never blocks: sockets are non-blocking, forwarding is asynchronous (dns/forwarder.h:
// one connected UDP socket per upstream, timeout then the next upstream, then SERVFAIL), TCP
// connections have an idle timeout and a cap. Forwarding is shared fairly: each client network has its
// own quota of queries in flight and per second (dns/quota.h) and its own cache of negative
// and failed answers (dns/neg_cache.h), so one network's flood spends only its own budget. The PrewarmHook is called on the loop thread and must
// return at once (post the work elsewhere).
//
// Thread-safety: Publish, MetricsText, Stop and the accessors are safe from any thread
// (MetricsText waits, at most a second, for the loop to publish its forwarding figures);
// Start and Stop must not race each other. Everything else runs on the loop thread, and its
// entry points (socket events, timers, posted closures, forwarded answers) assert it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/snapshot.h"

namespace privcast::dns {

// Called when `<app>.flycast` is resolved while the app has no started (or starting)
// machine, at most once per app per ServerOptions::prewarm_interval. Runs on the DNS loop:
// it must not block.
class PrewarmHook {
 public:
  virtual ~PrewarmHook() = default;
  // `service` is "" for <app>.flycast, the service's name for <service>.svc.<app>.flycast.
  virtual void OnFlycastLookup(const std::string& app, const std::string& service) = 0;
};

struct Endpoint {
  std::string ip;      // "fdaa::3", "::1", "127.0.0.1" (a link-local may carry "%iface")
  uint16_t port = 53;  // 0 = any free port (tests); see Server::udp_endpoints()
};

struct ServerOptions {
  std::vector<Endpoint> listen;                                // UDP and TCP on each (same port)
  std::string resolv_conf = "/etc/resolv.conf";                // upstreams: its `nameserver` lines (≤ 3)
  std::chrono::milliseconds resolv_conf_check_interval{5000};  // re-read when it changes
  std::vector<Endpoint> upstreams;                             // if non-empty, used instead of resolv_conf
  bool forward = true;                                         // false: no upstream, REFUSED at once
  std::chrono::milliseconds forward_timeout{1500};             // per upstream try; then next, then SERVFAIL
  size_t max_pending_forwards = 4096;                          // beyond: SERVFAIL at once
  // Fair forwarding, per client network (the host view counts as one): queries waiting
  // for an upstream, and queries started per second; beyond either, REFUSED at once.
  // 0 = no limit. See docs/dns.md "Fair forwarding".
  size_t forward_inflight_per_network = 256;
  uint32_t forward_qps_per_network = 1000;
  // Caching of forwarded answers, per network (never shared between networks): NXDOMAIN
  // and NODATA for min(SOA TTL, MINIMUM) capped here (RFC 2308 §5), SERVFAIL and upstream
  // timeouts for servfail_cache_ttl (§7). 0 disables either.
  std::chrono::seconds negative_cache_max_ttl{300};
  std::chrono::seconds servfail_cache_ttl{5};
  size_t cache_entries_per_network = 4096;
  size_t cache_entries_total = 65536;  // all networks together (dns/neg_cache.h)
  bool prewarm = true;
  std::chrono::milliseconds prewarm_interval{2000};  // per app
  std::chrono::milliseconds tcp_idle_timeout{10000};
  size_t max_tcp_connections = 256;            // beyond: new connections are closed
  uint16_t edns_udp_size = 1232;               // advertised; our UDP reply ceiling
  bool freebind = true;                        // bind fdaa::3 before the address is up
  bool outside_clients_see_host_view = false;  // see docs/dns.md "Views"
  Clock* clock = nullptr;                      // nullptr: RealClock
};

class Server {
 public:
  static Result<std::unique_ptr<Server>> Create(ServerOptions opts, PrewarmHook* hook);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status Start();
  void Publish(const SnapshotPtr& snap);
  // Stops reading, answers pending forwards with SERVFAIL, flushes what TCP output the
  // sockets take without blocking, closes everything and joins the loop. Idempotent.
  void Stop();

  // The bound endpoints (ports resolved when 0 was asked), in `listen` order.
  std::vector<Endpoint> endpoints() const;
  std::vector<Endpoint> upstreams() const;
  // Prometheus exposition lines (HELP/TYPE included), `privcast_dns_` prefix.
  std::string MetricsText() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Parses `nameserver` lines of a resolv.conf text (at most 3, like glibc). Exposed for tests.
std::vector<Endpoint> ParseResolvConf(const std::string& text);

}  // namespace privcast::dns
