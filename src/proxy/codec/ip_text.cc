// Fast IPv4/IPv6 text formatting, byte-identical to glibc's inet_ntop.
#include "proxy/codec/ip_text.h"

#include <netinet/in.h>

#include <cstring>

namespace privcast::codec {
namespace {

inline char* PutDec(char* q, unsigned v) {  // 0..255
  if (v >= 100) {
    *q++ = static_cast<char>('0' + v / 100);
    *q++ = static_cast<char>('0' + v / 10 % 10);
  } else if (v >= 10) {
    *q++ = static_cast<char>('0' + v / 10);
  }
  *q++ = static_cast<char>('0' + v % 10);
  return q;
}

inline char* PutHex(char* q, unsigned v) {  // 0..0xffff, no leading zeros
  static constexpr char kHex[] = "0123456789abcdef";
  int shift = 12;
  while (shift > 0 && ((v >> shift) & 0xf) == 0) shift -= 4;
  for (; shift >= 0; shift -= 4) *q++ = kHex[(v >> shift) & 0xf];
  return q;
}

}  // namespace

size_t FormatIp4(const uint8_t* a, char* out) {
  char* q = out;
  for (int i = 0; i < 4; ++i) {
    if (i) *q++ = '.';
    q = PutDec(q, a[i]);
  }
  return static_cast<size_t>(q - out);
}

size_t FormatIp6(const uint8_t* a, char* out, bool dotted_v4) {
  unsigned w[8];
  for (int i = 0; i < 8; ++i) w[i] = static_cast<unsigned>(a[2 * i]) << 8 | a[2 * i + 1];
  // Longest run of zero groups (first on a tie); runs of one group are not compressed.
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (w[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && w[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best = -1;
  char* q = out;
  for (int i = 0; i < 8; ++i) {
    if (best >= 0 && i >= best && i < best + best_len) {
      if (i == best) *q++ = ':';
      continue;
    }
    if (i != 0) *q++ = ':';
    // Embedded IPv4: v4-compatible (::a.b.c.d) and v4-mapped (::ffff:a.b.c.d), as glibc.
    if (dotted_v4 && i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
      q += FormatIp4(a + 12, q);
      return static_cast<size_t>(q - out);
    }
    q = PutHex(q, w[i]);
  }
  if (best >= 0 && best + best_len == 8) *q++ = ':';
  return static_cast<size_t>(q - out);
}

size_t FormatIp(const sockaddr_storage& addr, std::span<char> out) {
  if (out.size() < kMaxIpTextLen) return 0;
  if (addr.ss_family == AF_INET) {
    const auto& s = reinterpret_cast<const sockaddr_in&>(addr);
    return FormatIp4(reinterpret_cast<const uint8_t*>(&s.sin_addr), out.data());
  }
  if (addr.ss_family == AF_INET6) {
    const auto& s = reinterpret_cast<const sockaddr_in6&>(addr);
    return FormatIp6(s.sin6_addr.s6_addr, out.data());
  }
  return 0;
}

}  // namespace privcast::codec
