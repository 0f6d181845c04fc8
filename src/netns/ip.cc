#include "netns/ip.h"

#include <arpa/inet.h>

#include <cstring>

namespace privcast::netns {

IpAddr IpAddr::V6(const Ip6& a) {
  IpAddr r;
  r.family = AF_INET6;
  r.b = a.b;
  return r;
}

IpAddr IpAddr::V4(uint32_t host_order) {
  IpAddr r;
  r.family = AF_INET;
  uint32_t n = htonl(host_order);
  std::memcpy(r.b.data(), &n, 4);
  return r;
}

std::optional<IpAddr> IpAddr::Parse(std::string_view text) {
  if (auto a = Ip6::Parse(text)) return V6(*a);
  if (auto v = addr::ParseV4(text)) return V4(*v);
  return std::nullopt;
}

bool IpAddr::IsUnspecified() const {
  for (size_t i = 0; i < size(); ++i)
    if (b[i] != 0) return false;
  return true;
}

std::string IpAddr::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family, b.data(), buf, sizeof buf);
  return buf;
}

}  // namespace privcast::netns
