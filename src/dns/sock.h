// Socket addresses for the DNS server and its forwarder: an Endpoint ("ip", port) turned into
// a sockaddr, and back. Header-only, pure functions; any thread.
#pragma once

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/addr.h"
#include "dns/server.h"

namespace privcast::dns {

struct Sock {
  sockaddr_storage ss{};
  socklen_t len = 0;
};

// "fdaa::3", "127.0.0.1", "fe80::1%eth0" → sockaddr; false when `e.ip` is not an address.
inline bool ToSock(const Endpoint& e, Sock* out) {
  std::string ip = e.ip;
  unsigned scope = 0;
  if (auto pct = ip.find('%'); pct != std::string::npos) {
    scope = if_nametoindex(ip.substr(pct + 1).c_str());
    ip.resize(pct);
  }
  std::memset(&out->ss, 0, sizeof out->ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&out->ss);
  auto* s4 = reinterpret_cast<sockaddr_in*>(&out->ss);
  if (inet_pton(AF_INET6, ip.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(e.port);
    s6->sin6_scope_id = scope;
    out->len = sizeof(sockaddr_in6);
    return true;
  }
  if (inet_pton(AF_INET, ip.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(e.port);
    out->len = sizeof(sockaddr_in);
    return true;
  }
  return false;
}

// The source address as an IPv6 address (IPv4 mapped), for addr::NetworkOf and ViewOf.
inline Ip6 SourceIp(const sockaddr_storage& ss) {
  Ip6 a;
  if (ss.ss_family == AF_INET6) {
    std::memcpy(a.b.data(), &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, 16);
  } else if (ss.ss_family == AF_INET) {
    a.b[10] = a.b[11] = 0xff;
    std::memcpy(a.b.data() + 12, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, 4);
  }
  return a;
}

inline uint16_t PortOf(const sockaddr_storage& ss) {
  return ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(ss).sin6_port
                                        : reinterpret_cast<const sockaddr_in&>(ss).sin_port);
}

inline void SetPort(sockaddr_storage* ss, uint16_t port) {
  if (ss->ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(ss)->sin6_port = htons(port);
  else reinterpret_cast<sockaddr_in*>(ss)->sin_port = htons(port);
}

inline bool SameSock(const Sock& a, const Sock& b) { return a.len == b.len && std::memcmp(&a.ss, &b.ss, a.len) == 0; }

// A counter written by the loop thread only, read by anyone: no locked instructions.
struct Counter {
  std::atomic<uint64_t> v{0};
  void Inc(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t Get() const { return v.load(std::memory_order_relaxed); }
};

// Appends one Prometheus metric (HELP, TYPE, value) named privcast_dns_<name>.
inline void AppendMetric(std::string* s, const char* name, const char* type, const char* help, uint64_t v) {
  *s += "# HELP privcast_dns_";
  *s += name;
  *s += " ";
  *s += help;
  *s += "\n# TYPE privcast_dns_";
  *s += name;
  *s += " ";
  *s += type;
  *s += "\nprivcast_dns_";
  *s += name;
  *s += " " + std::to_string(v) + "\n";
}

}  // namespace privcast::dns
