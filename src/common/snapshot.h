// Snapshot: the immutable routing state that the proxy workers and the DNS server read.
//
// Built by the daemon's control thread from the Registry's StateView plus each app's
// current config (BuildSnapshot in src/daemon), then published as
// std::shared_ptr<const Snapshot>. Readers never lock and never touch the Store: a worker
// holds the shared_ptr it was last handed and swaps to a newer one between events.
// Nothing in a published Snapshot is ever mutated. Dynamic state (load counters, health,
// pending wakes) lives outside it, keyed by MachineView::index.
//
// Invariants: indices in the maps point into the vectors of the same Snapshot; every
// AppView::machines entry indexes `machines`; flycast entries are unique per address.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/addr.h"
#include "common/region_table.h"
#include "common/signal.h"

namespace privcast {

enum class MachineRunState : uint8_t { kStopped, kStarting, kStarted, kStopping, kSuspended, kOther };

enum class ConcurrencyType : uint8_t { kConnections, kRequests };
enum class AutoStop : uint8_t { kOff, kStop, kSuspend };

struct PortSpec {
  uint16_t start_port = 0;  // external port range [start_port, end_port]
  uint16_t end_port = 0;
  bool http = false;
  bool tls = false;
  bool proxy_proto = false;
  int proxy_proto_version = 1;  // 1 or 2
  bool force_https = false;
  // tls_options (only with `tls`): ALPN protocols in server preference order, and the
  // protocol version range as wire values (0x0303 = TLS 1.2, 0x0304 = TLS 1.3).
  std::vector<std::string> tls_alpn;
  uint16_t tls_min_version = 0x0303;
  uint16_t tls_max_version = 0x0304;
};

struct HttpCheckSpec {
  int64_t interval_ms = 15000;
  int64_t timeout_ms = 2000;
  int64_t grace_period_ms = 0;
  std::string method = "GET";
  std::string path = "/";
  std::string protocol = "http";
  std::vector<std::pair<std::string, std::string>> headers;
};

struct TcpCheckSpec {
  int64_t interval_ms = 15000;
  int64_t timeout_ms = 2000;
  int64_t grace_period_ms = 0;
};

struct ServiceSpec {
  std::string name;  // [[services]] name = "…" (privcast addition; "" = unnamed), ADR 0013
  std::string protocol = "tcp";
  uint16_t internal_port = 8080;
  std::vector<PortSpec> ports;
  ConcurrencyType concurrency = ConcurrencyType::kConnections;
  uint32_t soft_limit = 20;
  uint32_t hard_limit = 0;  // 0 = none
  AutoStop auto_stop = AutoStop::kOff;
  bool auto_start = true;
  uint32_t min_machines_running = 0;
  std::vector<std::string> processes;  // process groups served; empty = all
  std::vector<TcpCheckSpec> tcp_checks;
  std::vector<HttpCheckSpec> http_checks;
  bool response_pristine = false;
  std::vector<std::pair<std::string, std::string>> response_headers;  // set/override
  bool h2_backend = false;  // http_options.h2_backend: HTTP/2 cleartext to the app (proxy/h2_upstream.h)
};

struct MachineView {
  uint32_t index = 0;  // position in Snapshot::machines; stable only within a Snapshot
  std::string id;
  uint32_t app_index = 0;
  std::string region;
  std::string process_group;
  bool carries_services = true;  // takes the app's services' traffic (store::Machine::carries_services)
  MachineRunState state = MachineRunState::kStopped;
  uint32_t host_id = 0;
  Ip6 six_pn;
  uint32_t link_v4 = 0;  // the address the proxy connects to (host byte order)
  // On another (live) host of the cluster (docs/cluster.md): the proxy connects to six_pn over
  // the underlay instead, since link_v4 only means something on the machine's own host.
  bool remote = false;
  // Cluster only: great-circle km from this host's region to the machine's (the proxy's
  // "nearest region first" across hosts; 0 on one host, where other regions tie as before).
  uint32_t distance_km = 0;
  KillSignal kill_signal;  // for autostop
  int64_t kill_timeout_ms = 5000;
  int64_t created_at = 0;
};

struct AppView;

struct FlycastEntry {
  Ip6 address;
  uint32_t net32 = 0;  // the network the address was allocated on (admission)
  uint32_t app_index = 0;
  // A per-service address (`<service>.svc.<app>.flycast`, ADR 0013): the service's name, and
  // the app's services it reaches narrowed to the service's machines (common/service_scope.h).
  // An unknown service reaches nothing (empty `services`). "" = the whole app.
  std::string service;
  std::vector<ServiceSpec> services;
  // The services this address admits and routes to.
  const std::vector<ServiceSpec>& Services(const AppView& app) const;
};

struct AppView {
  uint32_t index = 0;
  std::string name;
  std::string org;
  uint32_t net32 = 0;  // the app's own network (6PN addresses)
  std::string primary_region;
  std::vector<ServiceSpec> services;
  std::vector<std::string> process_groups;  // sorted: [processes] keys, or {"app"}
  std::vector<uint32_t> machines;           // indices into Snapshot::machines
  std::vector<uint32_t> flycast;            // indices into Snapshot::flycast
};

struct NetworkView {
  uint32_t net32 = 0;
  std::string org;
  std::string name;
};

struct Snapshot {
  int64_t revision = 0;  // store revision it was built from
  uint32_t local_host_id = 0;
  std::string local_region;
  // The region table distances come from (never null in a built Snapshot; null = the default).
  std::shared_ptr<const RegionTable> regions;
  std::vector<NetworkView> networks;
  std::vector<AppView> apps;
  std::vector<MachineView> machines;
  std::vector<FlycastEntry> flycast;

  std::unordered_map<std::string, uint32_t> app_by_name;
  std::unordered_map<std::string, uint32_t> machine_by_id;
  std::unordered_map<Ip6, uint32_t, Ip6Hash> flycast_by_address;  // → index into flycast

  const AppView* FindApp(std::string_view name) const;
  const FlycastEntry* FindFlycast(const Ip6& a) const;
  // Recompute the lookup maps from the vectors (the builder calls it once).
  void Index();
};

using SnapshotPtr = std::shared_ptr<const Snapshot>;

}  // namespace privcast
