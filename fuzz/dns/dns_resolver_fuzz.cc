// Resolver on random queries against a fixed snapshot: never crashes, every reply parses,
// stays within the transport's limit, echoes the id, and a network client never receives an
// address of another network.
#include <cstdint>
#include <vector>

#include "dns/resolver.h"
#include "fuzz/dns/fuzz_check.h"
#include "tests/dns/fixture.h"

using namespace privcast;
using namespace privcast::dns;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ZonePtr zone = Zone::Build(dnstest::TwoOrgs());
  static const ZonePtr big = Zone::Build(dnstest::ManyApps(60, 1));
  if (size < 1) return 0;
  uint8_t sel = data[0];
  ++data;
  --size;
  ClientView views[] = {dnstest::Net(dnstest::kAcme), dnstest::Net(dnstest::kBeta), dnstest::Host(), ClientView{}};
  ClientView v = views[sel & 3];
  ResolveOptions opt;
  opt.tcp = sel & 4;
  opt.has_upstream = sel & 8;
  const Zone* z = (sel & 16) ? big.get() : zone.get();
  Query q;
  ParseStatus st = ParseQuery(data, size, &q);
  static std::vector<uint8_t> out(kMaxMessage);
  Outcome o;
  size_t n = Resolve(z, v, st, q, data, size, opt, out.data(), out.size(), &o);
  if (o.action != Outcome::kReply) {
    FUZZ_CHECK(n == 0);
    return 0;
  }
  size_t limit = opt.tcp ? kMaxMessage : (q.has_edns ? std::min<size_t>(q.udp_size, opt.edns_udp_size) : 512);
  FUZZ_CHECK(n >= kHeaderSize && n <= limit);
  Message m;
  FUZZ_CHECK(ParseMessage(out.data(), n, &m));
  FUZZ_CHECK(m.header.id == q.header.id);
  FUZZ_CHECK(m.header.flags & kFlagQR);
  if (v.kind == ClientView::kNetwork) {
    for (const auto& rr : m.answers) {
      if (rr.type != kTypeAAAA) continue;
      Ip6 a;
      std::copy(rr.rdata.begin(), rr.rdata.end(), a.b.begin());
      FUZZ_CHECK(addr::NetworkOf(a) == v.net32);  // never another network's address
    }
  }
  return 0;
}
