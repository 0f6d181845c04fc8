// Resolver: turns one parsed query into one reply, from a Zone and the client's view.
//
// Pure function of its inputs (no clock, no I/O): the server decides what to do with the
// Outcome (send, forward upstream, call the pre-warm hook). Writes into a caller buffer,
// never allocates for AAAA/flycast answers. Thread-safe (no shared state).
//
// Zones served (authoritative, AA=1): `flycast.` and `internal.`. Everything else is
// forwarded (Outcome::kForward) when the server has an upstream, else REFUSED.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dns/wire.h"
#include "dns/zone.h"

namespace privcast::dns {

inline constexpr uint32_t kTtlMachines = 5;  // every machine set and TXT about machines
inline constexpr uint32_t kTtlFlycast = 60;  // <app>.flycast (changes only on ips allocate/release)
inline constexpr uint32_t kTtlNegative = 5;  // SOA TTL and minimum: negative caching
inline constexpr uint16_t kDefaultEdnsUdpSize = 1232;

struct ResolveOptions {
  bool has_upstream = false;                     // forward other zones (else REFUSED)
  uint16_t edns_udp_size = kDefaultEdnsUdpSize;  // what we advertise and our UDP ceiling
  bool tcp = false;                              // reply limit 65535 instead of the UDP size
};

struct Outcome {
  enum Action : uint8_t { kReply, kForward, kDrop };
  Action action = kReply;
  uint8_t rcode = kNoError;
  bool truncated = false;
  uint16_t qtype = 0;
  int32_t prewarm_app = -1;      // index into Zone::apps: <app>.flycast looked up, nothing started
  int32_t prewarm_service = -1;  // with prewarm_app: index into its ZoneApp::services (<service>.svc.<app>.flycast)
};

// `status` is ParseQuery's verdict on msg[0..len). Returns the reply size (0 for
// kForward/kDrop). `cap` ≥ 65535 is safe for every case; smaller caps truncate.
size_t Resolve(const Zone* zone, const ClientView& view, ParseStatus status, const Query& q, const uint8_t* msg,
               size_t len, const ResolveOptions& opt, uint8_t* out, size_t cap, Outcome* outcome);

}  // namespace privcast::dns
