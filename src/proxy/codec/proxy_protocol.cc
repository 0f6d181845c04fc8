// PROXY protocol v1/v2 writer and reader (HAProxy proxy-protocol.txt).
#include "proxy/codec/proxy_protocol.h"

#include "proxy/codec/ip_text.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace privcast::codec {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";

// Both addresses as IPv6 (v4-mapped when needed) or both IPv4; false for anything else.
struct AddrPair {
  int family = AF_UNSPEC;
  in_addr src4{}, dst4{};
  in6_addr src6{}, dst6{};
  uint16_t sport = 0, dport = 0;  // network order
};

void MapV4(const in_addr& a, in6_addr* out) {
  std::memset(out, 0, sizeof(*out));
  out->s6_addr[10] = 0xff;
  out->s6_addr[11] = 0xff;
  std::memcpy(&out->s6_addr[12], &a, 4);
}

bool Normalize(const sockaddr_storage& c, const sockaddr_storage& d, AddrPair* p) {
  auto is_ip = [](const sockaddr_storage& s) { return s.ss_family == AF_INET || s.ss_family == AF_INET6; };
  if (!is_ip(c) || !is_ip(d)) return false;
  auto port = [](const sockaddr_storage& s) {
    return s.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in&>(s).sin_port
                                  : reinterpret_cast<const sockaddr_in6&>(s).sin6_port;
  };
  p->sport = port(c);
  p->dport = port(d);
  if (c.ss_family == AF_INET && d.ss_family == AF_INET) {
    p->family = AF_INET;
    p->src4 = reinterpret_cast<const sockaddr_in&>(c).sin_addr;
    p->dst4 = reinterpret_cast<const sockaddr_in&>(d).sin_addr;
    return true;
  }
  p->family = AF_INET6;
  auto to6 = [](const sockaddr_storage& s, in6_addr* out) {
    if (s.ss_family == AF_INET6) {
      *out = reinterpret_cast<const sockaddr_in6&>(s).sin6_addr;
    } else {
      MapV4(reinterpret_cast<const sockaddr_in&>(s).sin_addr, out);
    }
  };
  to6(c, &p->src6);
  to6(d, &p->dst6);
  if (IN6_IS_ADDR_V4MAPPED(&p->src6) && IN6_IS_ADDR_V4MAPPED(&p->dst6)) {
    // An IPv4 connection seen through a dual-stack socket: tell the app it was IPv4.
    p->family = AF_INET;
    std::memcpy(&p->src4, &p->src6.s6_addr[12], 4);
    std::memcpy(&p->dst4, &p->dst6.s6_addr[12], 4);
  }
  return true;
}

size_t PutPort(char* q, uint16_t net_port) {
  unsigned v = ntohs(net_port);
  char buf[5];
  size_t n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; ++i) q[i] = buf[n - 1 - i];
  return n;
}

ProxyParseResult PErr(const char* why) {
  ProxyParseResult r;
  r.status = ParseStatus::kError;
  r.reason = why;
  return r;
}
ProxyParseResult PDone() {
  ProxyParseResult r;
  r.status = ParseStatus::kDone;
  return r;
}

// Decimal port 0..65535 without leading zeros.
bool ParsePort(std::string_view s, uint16_t* out) {
  if (s.empty() || s.size() > 5) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return false;
  *out = htons(static_cast<uint16_t>(v));
  return true;
}

bool ParseAddr(std::string_view s, int family, sockaddr_storage* out) {
  char buf[INET6_ADDRSTRLEN + 1];
  size_t max = family == AF_INET ? 15 : INET6_ADDRSTRLEN - 1;
  if (s.empty() || s.size() > max) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  std::memset(out, 0, sizeof(*out));
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(out);
    sin->sin_family = AF_INET;
    return inet_pton(AF_INET, buf, &sin->sin_addr) == 1;
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(out);
  sin6->sin6_family = AF_INET6;
  return inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1;
}

void SetPort(sockaddr_storage* s, uint16_t net_port) {
  if (s->ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(s)->sin_port = net_port;
  } else {
    reinterpret_cast<sockaddr_in6*>(s)->sin6_port = net_port;
  }
}

ProxyParseResult ParseV1(std::string_view data, ProxyHeader* out) {
  size_t n = data.size() < kProxyV1MaxLen ? data.size() : kProxyV1MaxLen;
  const void* lf = std::memchr(data.data(), '\n', n);
  if (lf == nullptr) {
    if (data.size() >= kProxyV1MaxLen) return PErr("v1 line too long");
    for (size_t i = kV1Prefix.size(); i < n; ++i)
      if (data[i] < 0x20 && data[i] != '\r') return PErr("v1 invalid character");
    return ProxyParseResult{};
  }
  size_t lfpos = static_cast<size_t>(static_cast<const char*>(lf) - data.data());
  if (lfpos < kV1Prefix.size() + 1 || data[lfpos - 1] != '\r') return PErr("v1 line must end in CRLF");
  std::string_view line = data.substr(kV1Prefix.size(), lfpos - 1 - kV1Prefix.size());
  for (char c : line)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
      return PErr("v1 invalid character");
  *out = ProxyHeader{};
  out->version = 1;
  out->length = lfpos + 1;
  if (line.substr(0, 7) == "UNKNOWN" && (line.size() == 7 || line[7] == ' ')) {
    out->local = true;
    return PDone();
  }
  int family;
  if (line.substr(0, 5) == "TCP4 ") {
    family = AF_INET;
  } else if (line.substr(0, 5) == "TCP6 ") {
    family = AF_INET6;
  } else {
    return PErr("v1 unknown protocol");
  }
  line.remove_prefix(5);
  std::string_view f[4];
  for (int i = 0; i < 4; ++i) {
    size_t sp = line.find(' ');
    if (i < 3) {
      if (sp == std::string_view::npos) return PErr("v1 missing field");
      f[i] = line.substr(0, sp);
      line.remove_prefix(sp + 1);
    } else {
      if (sp != std::string_view::npos) return PErr("v1 extra field");
      f[i] = line;
    }
  }
  uint16_t sport, dport;
  if (!ParseAddr(f[0], family, &out->client) || !ParseAddr(f[1], family, &out->dest)) return PErr("v1 invalid address");
  if (!ParsePort(f[2], &sport) || !ParsePort(f[3], &dport)) return PErr("v1 invalid port");
  SetPort(&out->client, sport);
  SetPort(&out->dest, dport);
  out->family = family;
  return PDone();
}

ProxyParseResult ParseV2(std::string_view data, ProxyHeader* out, const ProxyParseLimits& limits) {
  if (data.size() < 16) return ProxyParseResult{};
  const auto* b = reinterpret_cast<const uint8_t*>(data.data());
  if ((b[12] >> 4) != 2) return PErr("v2 bad version");
  uint8_t cmd = b[12] & 0x0f;
  if (cmd > 1) return PErr("v2 bad command");
  uint8_t fam = b[13] >> 4, proto = b[13] & 0x0f;
  if (fam > 3 || proto > 2) return PErr("v2 bad address family or protocol");
  size_t len = static_cast<size_t>(b[14]) << 8 | b[15];
  if (16 + len > limits.max_v2_len) return PErr("v2 header too long");
  if (data.size() < 16 + len) return ProxyParseResult{};
  *out = ProxyHeader{};
  out->version = 2;
  out->length = 16 + len;
  const uint8_t* a = b + 16;
  size_t need = fam == 1 ? 12 : fam == 2 ? 36 : fam == 3 ? 216 : 0;
  if (len < need) return PErr("v2 address block too short");
  if (cmd == 0) {
    out->local = true;
    return PDone();
  }
  if (proto != 1 || (fam != 1 && fam != 2)) return PDone();  // not TCP/IP: UNSPEC
  if (fam == 1) {
    auto* c = reinterpret_cast<sockaddr_in*>(&out->client);
    auto* d = reinterpret_cast<sockaddr_in*>(&out->dest);
    c->sin_family = d->sin_family = AF_INET;
    std::memcpy(&c->sin_addr, a, 4);
    std::memcpy(&d->sin_addr, a + 4, 4);
    std::memcpy(&c->sin_port, a + 8, 2);
    std::memcpy(&d->sin_port, a + 10, 2);
    out->family = AF_INET;
  } else {
    auto* c = reinterpret_cast<sockaddr_in6*>(&out->client);
    auto* d = reinterpret_cast<sockaddr_in6*>(&out->dest);
    c->sin6_family = d->sin6_family = AF_INET6;
    std::memcpy(&c->sin6_addr, a, 16);
    std::memcpy(&d->sin6_addr, a + 16, 16);
    std::memcpy(&c->sin6_port, a + 32, 2);
    std::memcpy(&d->sin6_port, a + 34, 2);
    out->family = AF_INET6;
  }
  return PDone();
}

}  // namespace

size_t WriteProxyV1(const sockaddr_storage& client, const sockaddr_storage& dest, std::span<char> out) {
  char buf[kProxyV1MaxLen + 1];
  AddrPair ap;
  size_t n;
  if (!Normalize(client, dest, &ap)) {
    static constexpr std::string_view kUnknown = "PROXY UNKNOWN\r\n";
    std::memcpy(buf, kUnknown.data(), kUnknown.size());
    n = kUnknown.size();
  } else {
    const bool v4 = ap.family == AF_INET;
    // NOLINTNEXTLINE(bugprone-not-null-terminated-result): header bytes, not a C string
    std::memcpy(buf, v4 ? "PROXY TCP4 " : "PROXY TCP6 ", 11);
    n = 11;
    if (v4) {
      n += FormatIp4(reinterpret_cast<const uint8_t*>(&ap.src4), buf + n);
      buf[n++] = ' ';
      n += FormatIp4(reinterpret_cast<const uint8_t*>(&ap.dst4), buf + n);
    } else {
      // Pure hex groups (no dotted tail for a v4-mapped side): the v1 grammar allows only
      // "4 hexadecimal digits ... delimited by colons" with one "::".
      n += FormatIp6(ap.src6.s6_addr, buf + n, /*dotted_v4=*/false);
      buf[n++] = ' ';
      n += FormatIp6(ap.dst6.s6_addr, buf + n, /*dotted_v4=*/false);
    }
    buf[n++] = ' ';
    n += PutPort(buf + n, ap.sport);
    buf[n++] = ' ';
    n += PutPort(buf + n, ap.dport);
    buf[n++] = '\r';
    buf[n++] = '\n';
  }
  if (out.size() < n) return 0;
  std::memcpy(out.data(), buf, n);
  return n;
}

size_t WriteProxyV2(const sockaddr_storage& client, const sockaddr_storage& dest, std::span<char> out) {
  uint8_t buf[kProxyV2MaxWriteLen];
  std::memcpy(buf, kProxyV2Signature.data(), 12);
  buf[12] = 0x21;  // version 2, PROXY
  AddrPair ap;
  size_t len = 0;
  if (!Normalize(client, dest, &ap)) {
    buf[13] = 0x00;  // UNSPEC
  } else if (ap.family == AF_INET) {
    buf[13] = 0x11;  // TCP over IPv4
    std::memcpy(buf + 16, &ap.src4, 4);
    std::memcpy(buf + 20, &ap.dst4, 4);
    std::memcpy(buf + 24, &ap.sport, 2);
    std::memcpy(buf + 26, &ap.dport, 2);
    len = 12;
  } else {
    buf[13] = 0x21;  // TCP over IPv6
    std::memcpy(buf + 16, &ap.src6, 16);
    std::memcpy(buf + 32, &ap.dst6, 16);
    std::memcpy(buf + 48, &ap.sport, 2);
    std::memcpy(buf + 50, &ap.dport, 2);
    len = 36;
  }
  buf[14] = static_cast<uint8_t>(len >> 8);
  buf[15] = static_cast<uint8_t>(len);
  size_t n = 16 + len;
  if (out.size() < n) return 0;
  std::memcpy(out.data(), buf, n);
  return n;
}

ProxyParseResult ParseProxyHeader(std::string_view data, ProxyHeader* out, const ProxyParseLimits& limits) {
  if (data.empty()) return ProxyParseResult{};
  if (data[0] == 'P') {
    size_t n = data.size() < kV1Prefix.size() ? data.size() : kV1Prefix.size();
    if (data.substr(0, n) != kV1Prefix.substr(0, n)) return PErr("not a PROXY header");
    if (data.size() < kV1Prefix.size()) return ProxyParseResult{};
    return ParseV1(data, out);
  }
  size_t n = data.size() < kProxyV2Signature.size() ? data.size() : kProxyV2Signature.size();
  if (data.substr(0, n) != kProxyV2Signature.substr(0, n)) return PErr("not a PROXY header");
  return ParseV2(data, out, limits);
}

}  // namespace privcast::codec
