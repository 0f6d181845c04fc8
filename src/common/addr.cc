#include "common/addr.h"

#include <arpa/inet.h>

#include <cstring>

namespace privcast {

std::optional<Ip6> Ip6::Parse(std::string_view text) {
  if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  Ip6 a;
  if (inet_pton(AF_INET6, buf, a.b.data()) != 1) return std::nullopt;
  return a;
}

std::string Ip6::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, b.data(), buf, sizeof buf);
  return buf;
}

size_t Ip6Hash::operator()(const Ip6& a) const noexcept {
  uint64_t hi, lo;
  std::memcpy(&hi, a.b.data(), 8);
  std::memcpy(&lo, a.b.data() + 8, 8);
  uint64_t h = hi * 0x9E3779B97F4A7C15ull ^ (lo + 0x632BE59BD9B4E019ull + (hi << 6) + (hi >> 2));
  return static_cast<size_t>(h ^ (h >> 29));
}

namespace addr {
namespace {
void Set32(Ip6& a, int group, uint32_t v) {
  a.SetGroup(group, static_cast<uint16_t>(v >> 16));
  a.SetGroup(group + 1, static_cast<uint16_t>(v));
}
uint32_t Get32(const Ip6& a, int group) { return static_cast<uint32_t>(a.Group(group)) << 16 | a.Group(group + 1); }
}  // namespace

Ip6 NetworkPrefix(uint32_t net32) {
  Ip6 a;
  a.SetGroup(0, 0xfdaa);
  Set32(a, 1, net32);
  return a;
}

std::string NetworkCidr(uint32_t net32) { return NetworkPrefix(net32).ToString() + "/48"; }

Ip6 FlycastPrefix(uint32_t net32) {
  Ip6 a = NetworkPrefix(net32);
  a.SetGroup(4, 1);
  return a;
}

Ip6 FlycastAddress(uint32_t net32, uint32_t n) {
  Ip6 a = FlycastPrefix(net32);
  Set32(a, 6, n);
  return a;
}

bool IsFlycast(const Ip6& a) {
  return a.Group(0) == 0xfdaa && Get32(a, 1) != 0 && a.Group(3) == 0 && a.Group(4) == 1 && a.Group(5) == 0;
}

Ip6 MachinePrefix(uint32_t net32, uint32_t host32, uint32_t machine32) {
  Ip6 a = NetworkPrefix(net32);
  Set32(a, 3, host32);
  Set32(a, 5, machine32);
  return a;
}

Ip6 SixPnAddress(uint32_t net32, uint32_t host32, uint32_t machine32) {
  Ip6 a = MachinePrefix(net32, host32, machine32);
  a.SetGroup(7, 2);
  return a;
}

Ip6 SixPnGateway(uint32_t net32, uint32_t host32, uint32_t machine32) {
  Ip6 a = MachinePrefix(net32, host32, machine32);
  a.SetGroup(7, 1);
  return a;
}

Ip6 DnsAddress() {
  Ip6 a;
  a.SetGroup(0, 0xfdaa);
  a.SetGroup(7, 3);
  return a;
}

std::optional<uint32_t> NetworkOf(const Ip6& a) {
  if (a.Group(0) != 0xfdaa) return std::nullopt;
  uint32_t n = Get32(a, 1);
  if (n == 0) return std::nullopt;
  return n;
}

std::optional<uint32_t> HostOf(const Ip6& a) {
  if (!NetworkOf(a) || IsFlycast(a)) return std::nullopt;
  uint32_t h = Get32(a, 3);
  if (h < kFirstHostId) return std::nullopt;
  return h;
}

uint32_t LinkV4Host(uint32_t slot) { return kLinkV4Base + 2 * slot; }
uint32_t LinkV4Machine(uint32_t slot) { return kLinkV4Base + 2 * slot + 1; }

std::string V4ToString(uint32_t v4) {
  in_addr a{htonl(v4)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::optional<uint32_t> ParseV4(std::string_view text) {
  if (text.size() >= INET_ADDRSTRLEN) return std::nullopt;
  char buf[INET_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  in_addr a;
  if (inet_pton(AF_INET, buf, &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

}  // namespace addr
}  // namespace privcast
