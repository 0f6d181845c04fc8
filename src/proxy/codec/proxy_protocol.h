// PROXY protocol v1 (text) and v2 (binary) headers, byte-exact to HAProxy's
// proxy-protocol.txt: the `proxy_proto` handler writes one in front of the connection to the
// app so it learns the real client address; the reader exists for tests, fuzzing and a
// future accept-proxy listener.
//
// v1: "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" (TCP6 alike; at most 107 bytes), or
//     "PROXY UNKNOWN\r\n" when the addresses are not both IP.
// v2: 12-byte signature, 0x21 (version 2, PROXY), family/transport 0x11 TCP over IPv4 or
//     0x21 TCP over IPv6, 16-bit big-endian address length (12 or 36), addresses, ports.
//     Non-IP addresses are written as PROXY + UNSPEC with an empty address block.
// Mixed families (one IPv4, one IPv6) are written as IPv6 with the IPv4 one v4-mapped.
//
// Reader: strict and bounded (v1 line <= 107 bytes incl. CRLF, single spaces, dotted-quad
// IPv4 without leading zeros, ports 0..65535 without leading zeros, address family matching
// the protocol; v2 version 2, command LOCAL or PROXY, address block large enough for the
// family, total length <= max_v2_len). TLVs are skipped, not interpreted.
//
// Thread-safety: pure functions. No allocation, no exceptions.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "proxy/codec/http1.h"  // ParseStatus

namespace privcast::codec {

inline constexpr size_t kProxyV1MaxLen = 107;
inline constexpr size_t kProxyV2MaxWriteLen = 16 + 36;  // what the writer ever produces
inline constexpr std::string_view kProxyV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

// Write a header for a connection from `client` to `dest` (the address the client dialled).
// Returns bytes written, or 0 when `out` is too small (size out with the constants above).
size_t WriteProxyV1(const sockaddr_storage& client, const sockaddr_storage& dest, std::span<char> out);
size_t WriteProxyV2(const sockaddr_storage& client, const sockaddr_storage& dest, std::span<char> out);

struct ProxyHeader {
  uint8_t version = 0;        // 1 or 2
  bool local = false;         // v2 LOCAL command, or v1 UNKNOWN: no client address conveyed
  int family = AF_UNSPEC;     // AF_INET, AF_INET6 or AF_UNSPEC (UNKNOWN / UNSPEC / UNIX / UDP)
  sockaddr_storage client{};  // valid when family != AF_UNSPEC (port in network order)
  sockaddr_storage dest{};
  size_t length = 0;  // bytes of the header; the payload starts at data[length]
};

struct ProxyParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  const char* reason = "";
  bool done() const { return status == ParseStatus::kDone; }
};

struct ProxyParseLimits {
  size_t max_v2_len = 16 + 536;  // signature+fixed part + address block incl. TLVs
};

// data: bytes received so far from the start of the connection. kIncomplete while a valid
// prefix of a header; kError as soon as it cannot become one.
ProxyParseResult ParseProxyHeader(std::string_view data, ProxyHeader* out, const ProxyParseLimits& limits = {});

}  // namespace privcast::codec
