// Zone: the DNS view of one Snapshot, precomputed once per Publish so that answering a
// query is a couple of hash lookups and memcpys.
//
// Built on the control thread (Zone::Build), then handed to the DNS loop as
// std::shared_ptr<const Zone>; immutable afterwards, so any thread may read it. Every name
// is stored lower-cased (DNS names compare case-insensitively). Machine sets are "started"
// machines (MachineRunState::kStarted) ordered nearest region first (relative to the
// snapshot's local region), then by region code, then by machine id.
//
// SOA serials are per view (Serial()), hashes of what that view can see.
//
// Views: a client is either on a privcast network (net32 of its source address), on the
// host itself (loopback or fdaa:0:0::/48, privcast's own prefix), or nowhere. A network
// client sees `.internal` names of the apps whose own network is its network and
// `<app>.flycast` for apps with a flycast address allocated on its network. The host sees
// every app. "Nowhere" sees nothing (see docs/dns.md). `<service>.svc.<app>.flycast` follows
// the same rule per address: visible where that service's address was allocated.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/addr.h"
#include "common/snapshot.h"

namespace privcast::dns {

struct ClientView {
  enum Kind : uint8_t { kNone, kHost, kNetwork };
  Kind kind = kNone;
  uint32_t net32 = 0;
};

struct ZoneMachine {
  std::string id;      // lower-case
  std::string region;  // lower-case
  std::string group;   // lower-case process group
  Ip6 six_pn;
  bool started = false;
  uint32_t app = 0;
};

// A service that has per-service flycast addresses (`<service>.svc.<app>.flycast`, ADR 0013).
struct ZoneService {
  std::string name;                               // lower-case
  std::vector<std::pair<uint32_t, Ip6>> flycast;  // (network, flycast address), sorted
  bool waking_or_started = false;                 // some machine of the service starting or started
};

struct ZoneApp {
  std::string name;  // lower-case; the key of Zone::apps_by_name
  uint32_t net32 = 0;
  std::vector<std::pair<uint32_t, Ip6>> flycast;  // (network, flycast address), sorted
  std::vector<ZoneService> services;              // services with an address, by name
  std::string services_txt;                       // `_services.<app>.internal`: "api,web" (every service)
  std::vector<uint32_t> machines;                 // every machine, nearest first
  std::vector<uint32_t> started;                  // started machines, nearest first
  bool waking_or_started = false;                 // some machine starting or started
  std::string regions_txt;                        // "ams,fra" (regions of started machines)
  std::string vms_txt;                            // "<id> <region>,..."
};

struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept;
};

class Zone {
 public:
  static std::shared_ptr<const Zone> Build(const SnapshotPtr& snap);

  int64_t revision() const { return revision_; }
  // The SOA serial a view sees: a 32-bit hash of that view's own answers (its apps'
  // names, flycast addresses on its network, machines and their states). It moves when
  // and only when what the view can resolve changes, and says nothing about other
  // networks (org B cannot watch org A's activity through it). Not monotonic: we serve
  // no zone transfers, so nothing compares serials (docs/dns.md "SOA").
  uint32_t Serial(const ClientView& v) const;
  const ZoneApp* FindApp(std::string_view lower_name) const;
  static const ZoneService* FindService(const ZoneApp& a, std::string_view lower_name);
  bool KnownNetwork(uint32_t net32) const { return networks_.count(net32) != 0; }
  // `_apps.internal` and `_instances.internal` texts for a view.
  const std::string& AppsTxt(const ClientView& v) const;
  const std::string& InstancesTxt(const ClientView& v) const;
  bool AppVisibleInternal(const ZoneApp& a, const ClientView& v) const {
    return v.kind == ClientView::kHost || (v.kind == ClientView::kNetwork && a.net32 == v.net32);
  }

  std::vector<ZoneApp> apps;
  std::vector<ZoneMachine> machines;

 private:
  int64_t revision_ = 0;
  std::unordered_map<std::string, uint32_t, StringViewHash, std::equal_to<>> apps_by_name_;
  std::unordered_map<uint32_t, uint32_t> networks_;  // net32 → index into the texts below
  std::vector<std::string> apps_txt_, instances_txt_;
  std::string host_apps_txt_, host_instances_txt_;
  std::vector<uint64_t> serials_;  // per network, same index as the texts
  uint64_t host_serial_ = 0;
  std::string empty_;
};

using ZonePtr = std::shared_ptr<const Zone>;

// The view of a client from its source address (16 bytes of IPv6, v4 as ::ffff:a.b.c.d).
// `outside_is_host`: clients outside any privcast network get the host view (else none).
ClientView ViewOf(const Zone& z, const Ip6& source, bool outside_is_host);

}  // namespace privcast::dns
