// IP address text without libc: the same output as inet_ntop (RFC 5952 for IPv6: lowercase,
// no leading zeros, the longest run of two or more zero groups as "::", the first on a tie,
// "::ffff:a.b.c.d" for v4-mapped addresses), several times faster. Used for PROXY v1 lines
// and for Fly-Client-IP / X-Forwarded-For values (RequestFacts::client_ip).
//
// Thread-safety: pure functions. No allocation.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace privcast::codec {

inline constexpr size_t kMaxIpTextLen = 45;  // INET6_ADDRSTRLEN - 1

// a: 4 bytes (network order). out must hold 15 bytes. Returns bytes written.
size_t FormatIp4(const uint8_t* a, char* out);
// a: 16 bytes. out must hold kMaxIpTextLen bytes. Returns bytes written. dotted_v4=false
// writes v4-mapped/-compatible addresses as hex groups too ("::ffff:a00:1").
size_t FormatIp6(const uint8_t* a, char* out, bool dotted_v4 = true);
// The address of an AF_INET / AF_INET6 sockaddr (no port, no brackets); 0 for other
// families or when out is smaller than kMaxIpTextLen.
size_t FormatIp(const sockaddr_storage& addr, std::span<char> out);

}  // namespace privcast::codec
