// The privcast address plan (docs/address-plan.md), as pure functions.
//
//   network /48        fdaa:<net32>::/48               net32 != 0 (fdaa:0:0::/48 is privcast's own)
//   flycast address    fdaa:<net32>:0:1::<n>           n = 32-bit per-network counter, in the last 32 bits
//   6PN machine /112   fdaa:<net32>:<host32>:<machine32>::/112
//     machine side     ...::2   (eth0 inside the machine)
//     host side        ...::1   (the veth on the host, the machine's gateway)
//   internal DNS       fdaa::3
//   IPv4 link          172.19.0.0/16, one /31 per machine slot s: host 172.19.0.0+2s, machine +1
//
// host32 is never 0 or 1, so no 6PN /112 ever overlaps the flycast range fdaa:<net32>:0:1::/80.
// Values only; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace privcast {

struct Ip6 {
  std::array<uint8_t, 16> b{};

  static std::optional<Ip6> Parse(std::string_view text);
  std::string ToString() const;
  bool operator==(const Ip6&) const = default;
  auto operator<=>(const Ip6&) const = default;
  uint16_t Group(int i) const { return static_cast<uint16_t>(b[2 * i] << 8 | b[2 * i + 1]); }
  void SetGroup(int i, uint16_t v) {
    b[2 * i] = static_cast<uint8_t>(v >> 8);
    b[2 * i + 1] = static_cast<uint8_t>(v);
  }
};

struct Ip6Hash {
  size_t operator()(const Ip6& a) const noexcept;
};

namespace addr {

inline constexpr uint32_t kFirstHostId = 2;          // host ids 0 and 1 are reserved (see above)
inline constexpr uint32_t kLinkV4Base = 0xAC130000;  // 172.19.0.0
inline constexpr int kLinkV4PrefixLen = 16;
inline constexpr uint32_t kMaxLinkSlots = 1u << 15;  // /31 per slot in a /16

Ip6 NetworkPrefix(uint32_t net32);                                       // fdaa:<net32>::
std::string NetworkCidr(uint32_t net32);                                 // "fdaa:<net32>::/48"
Ip6 FlycastAddress(uint32_t net32, uint32_t n);                          // fdaa:<net32>:0:1::<n>
Ip6 FlycastPrefix(uint32_t net32);                                       // fdaa:<net32>:0:1::  (/80)
bool IsFlycast(const Ip6& a);                                            // in some fdaa:<net32>:0:1::/80
Ip6 MachinePrefix(uint32_t net32, uint32_t host32, uint32_t machine32);  // the /112
Ip6 SixPnAddress(uint32_t net32, uint32_t host32, uint32_t machine32);   // ...::2
Ip6 SixPnGateway(uint32_t net32, uint32_t host32, uint32_t machine32);   // ...::1
Ip6 DnsAddress();                                                        // fdaa::3
// net32 of an address inside a privcast network, nullopt outside fdaa::/16 or for net32 0.
std::optional<uint32_t> NetworkOf(const Ip6& a);
std::optional<uint32_t> HostOf(const Ip6& a);  // host32 of a 6PN address

// IPv4 link addresses of machine slot s (host byte order).
uint32_t LinkV4Host(uint32_t slot);
uint32_t LinkV4Machine(uint32_t slot);
std::string V4ToString(uint32_t v4);
std::optional<uint32_t> ParseV4(std::string_view text);

}  // namespace addr
}  // namespace privcast
