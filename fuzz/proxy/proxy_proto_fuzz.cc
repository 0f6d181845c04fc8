// proxy_proto_fuzz: the PROXY header reader never crashes and is bounded; whatever it
// accepts as a TCP4/TCP6 header writes back (v1 and v2) to a header that parses to the same
// addresses; and addresses built from the input round-trip through write -> parse.
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <string_view>

#include "fuzz_check.h"
#include "proxy/codec/proxy_protocol.h"

using namespace privcast::codec;

namespace {

bool SameAddr(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    auto& x = reinterpret_cast<const sockaddr_in&>(a);
    auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  auto& x = reinterpret_cast<const sockaddr_in6&>(a);
  auto& y = reinterpret_cast<const sockaddr_in6&>(b);
  return x.sin6_port == y.sin6_port && std::memcmp(&x.sin6_addr, &y.sin6_addr, 16) == 0;
}

bool Mapped(const sockaddr_storage& s) {
  return s.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<const sockaddr_in6&>(s).sin6_addr);
}
sockaddr_storage Unmap(const sockaddr_storage& s) {
  if (!Mapped(s)) return s;
  const auto& in6 = reinterpret_cast<const sockaddr_in6&>(s);
  sockaddr_storage out{};
  auto& in4 = reinterpret_cast<sockaddr_in&>(out);
  in4.sin_family = AF_INET;
  in4.sin_port = in6.sin6_port;
  std::memcpy(&in4.sin_addr, &in6.sin6_addr.s6_addr[12], 4);
  return out;
}

// The writer reports an all-IPv4 connection (both sides IPv4 or v4-mapped) as IPv4.
void RoundTrip(const sockaddr_storage& c_in, const sockaddr_storage& d_in, int family) {
  sockaddr_storage c = c_in, d = d_in;
  bool v4c = c.ss_family == AF_INET || Mapped(c), v4d = d.ss_family == AF_INET || Mapped(d);
  if (v4c && v4d) {
    c = Unmap(c);
    d = Unmap(d);
    family = AF_INET;
  }
  char buf[kProxyV1MaxLen];
  for (int v = 1; v <= 2; ++v) {
    size_t n = v == 1 ? WriteProxyV1(c, d, buf) : WriteProxyV2(c, d, buf);
    FUZZ_CHECK(n > 0 && n <= kProxyV1MaxLen);
    ProxyHeader h;
    ProxyParseResult r = ParseProxyHeader(std::string_view(buf, n), &h);
    FUZZ_CHECK(r.done());
    FUZZ_CHECK(h.length == n);
    FUZZ_CHECK(h.version == v);
    FUZZ_CHECK(h.family == family);
    FUZZ_CHECK(!h.local);
    FUZZ_CHECK(SameAddr(h.client, c));
    FUZZ_CHECK(SameAddr(h.dest, d));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ProxyHeader h;
  ProxyParseResult r = ParseProxyHeader(in, &h);
  if (r.done()) {
    FUZZ_CHECK(h.length > 0 && h.length <= size);
    FUZZ_CHECK(h.version == 1 || h.version == 2);
    if (h.version == 1) FUZZ_CHECK(h.length <= kProxyV1MaxLen);
    if (h.family == AF_INET || h.family == AF_INET6) RoundTrip(h.client, h.dest, h.family);
    // A shorter prefix of an accepted header is never accepted.
    ProxyHeader tmp;
    FUZZ_CHECK(!ParseProxyHeader(in.substr(0, h.length - 1), &tmp).done());
  } else if (r.status == ParseStatus::kIncomplete) {
    FUZZ_CHECK(size < 16 + 65535 + 1);
  }

  // Addresses from the raw bytes: write -> parse must round-trip.
  if (size >= 37) {
    sockaddr_storage c{}, d{};
    bool six = data[0] & 1;
    if (six) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&c);
      auto* b = reinterpret_cast<sockaddr_in6*>(&d);
      a->sin6_family = b->sin6_family = AF_INET6;
      std::memcpy(&a->sin6_addr, data + 1, 16);
      std::memcpy(&b->sin6_addr, data + 17, 16);
      std::memcpy(&a->sin6_port, data + 33, 2);
      std::memcpy(&b->sin6_port, data + 35, 2);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&c);
      auto* b = reinterpret_cast<sockaddr_in*>(&d);
      a->sin_family = b->sin_family = AF_INET;
      std::memcpy(&a->sin_addr, data + 1, 4);
      std::memcpy(&b->sin_addr, data + 5, 4);
      std::memcpy(&a->sin_port, data + 9, 2);
      std::memcpy(&b->sin_port, data + 11, 2);
    }
    RoundTrip(c, d, six ? AF_INET6 : AF_INET);
  }
  return 0;
}
