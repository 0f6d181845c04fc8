// IpAddr / IpPrefix: a family-tagged IPv4 or IPv6 address, the unit rtnetlink speaks.
//
// privcast's own plan (common/addr.h) is IPv6-first with IPv4 only on the /31 proxy link;
// this type lets one netlink call path carry both. Values only; thread-safe.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/addr.h"

namespace privcast::netns {

struct IpAddr {
  uint8_t family = AF_INET6;    // AF_INET or AF_INET6
  std::array<uint8_t, 16> b{};  // network byte order; IPv4 uses the first 4 bytes

  static IpAddr V6(const Ip6& a);
  static IpAddr V4(uint32_t host_order);  // as common/addr.h returns them
  static std::optional<IpAddr> Parse(std::string_view text);
  size_t size() const { return family == AF_INET ? 4 : 16; }
  bool is_v4() const { return family == AF_INET; }
  bool IsUnspecified() const;  // 0.0.0.0 or ::
  std::string ToString() const;
  bool operator==(const IpAddr&) const = default;
};

struct IpPrefix {
  IpAddr addr;
  int len = 0;
  static IpPrefix V6(const Ip6& a, int len) { return {IpAddr::V6(a), len}; }
  static IpPrefix V4(uint32_t host_order, int len) { return {IpAddr::V4(host_order), len}; }
  std::string ToString() const { return addr.ToString() + "/" + std::to_string(len); }
  bool operator==(const IpPrefix&) const = default;
};

}  // namespace privcast::netns
