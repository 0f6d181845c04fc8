// Fair forwarding building blocks, without sockets: ForwardQuota (per
// network in-flight and per-second limits), NegativeCache (RFC 2308 negative and SERVFAIL
// caching, per network) and the per-view SOA serial of Zone.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dns/neg_cache.h"
#include "dns/quota.h"
#include "tests/dns/fixture.h"

namespace privcast::dns {
namespace {

using namespace dnstest;  // NOLINT
using std::chrono::milliseconds;
using std::chrono::seconds;
using V = ForwardQuota::Verdict;

const MonoTime kT0 = MonoTime(seconds(1000));

TEST(ForwardQuotaTest, InflightIsPerNetwork) {
  ForwardQuota q({/*inflight=*/3, /*qps=*/0});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(q.Acquire(kBeta, kT0), V::kOk);
  EXPECT_EQ(q.Acquire(kBeta, kT0), V::kInflight);
  EXPECT_EQ(q.Acquire(kBeta, kT0), V::kInflight);
  // Beta's flood spends beta's budget only.
  EXPECT_EQ(q.Acquire(kAcme, kT0), V::kOk);
  EXPECT_EQ(q.Acquire(ForwardQuota::kHostKey, kT0), V::kOk);
  q.Release(kBeta);
  EXPECT_EQ(q.inflight(kBeta), 2u);
  EXPECT_EQ(q.Acquire(kBeta, kT0), V::kOk);
  auto r = q.RefusalCounts();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].view, kBeta);
  EXPECT_EQ(r[0].inflight, 2u);
  EXPECT_EQ(r[0].rate, 0u);
  EXPECT_EQ(q.refusals(), 2u);
}

TEST(ForwardQuotaTest, RateIsATokenBucketPerNetwork) {
  ForwardQuota q({/*inflight=*/0, /*qps=*/10});
  int ok = 0;
  for (int i = 0; i < 15; ++i) {
    if (q.Acquire(kBeta, kT0) == V::kOk) ++ok;
    q.Release(kBeta);
  }
  EXPECT_EQ(ok, 10);  // one second's burst
  EXPECT_EQ(q.Acquire(kAcme, kT0), V::kOk);
  EXPECT_EQ(q.Acquire(kBeta, kT0 + milliseconds(50)), V::kRate);  // half a token
  EXPECT_EQ(q.Acquire(kBeta, kT0 + milliseconds(100)), V::kOk);   // one more token
  EXPECT_EQ(q.Acquire(kBeta, kT0 + milliseconds(100)), V::kRate);
  ok = 0;
  for (int i = 0; i < 20; ++i)
    if (q.Acquire(kBeta, kT0 + seconds(60)) == V::kOk) ++ok;
  EXPECT_EQ(ok, 10);  // refilled, never beyond the burst
  auto r = q.RefusalCounts();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].rate, 5u + 2u + 10u);
}

// An upstream's reply to `query`: rcode, optionally a SOA (ttl, minimum) in authority.
std::vector<uint8_t> Reply(const std::vector<uint8_t>& query, uint8_t rcode, int soa_ttl, uint32_t minimum,
                           bool with_answer = false) {
  Message q;
  EXPECT_TRUE(ParseMessage(query.data(), query.size(), &q));
  Message m;
  m.header.id = q.header.id;
  m.header.flags = static_cast<uint16_t>(kFlagQR | kFlagRD | kFlagRA | rcode);
  m.questions = q.questions;
  if (with_answer) {
    Record a;
    a.name = q.questions[0].name;
    a.type = kTypeA;
    a.klass = kClassIN;
    a.ttl = 300;
    a.rdata = {192, 0, 2, 1};
    m.answers.push_back(a);
  }
  if (soa_ttl >= 0) {
    Record soa;
    soa.name.FromText("example.");
    soa.type = kTypeSOA;
    soa.klass = kClassIN;
    soa.ttl = static_cast<uint32_t>(soa_ttl);
    Name mn, rn;
    mn.FromText("ns.example.");
    rn.FromText("hostmaster.example.");
    soa.rdata.assign(mn.data, mn.data + mn.len);
    soa.rdata.insert(soa.rdata.end(), rn.data, rn.data + rn.len);
    for (uint32_t v : {2026u, 3600u, 600u, 86400u, minimum})
      for (int s = 24; s >= 0; s -= 8) soa.rdata.push_back(static_cast<uint8_t>(v >> s));
    m.authority.push_back(soa);
  }
  std::vector<uint8_t> out;
  EXPECT_TRUE(BuildMessage(m, &out));
  return out;
}

struct Hit {
  size_t size = 0;
  uint8_t rcode = 0;
  Message msg;
};

Hit Lookup(NegativeCache& c, uint32_t view, const std::vector<uint8_t>& query, MonoTime now) {
  Hit h;
  Query q;
  EXPECT_EQ(ParseQuery(query.data(), query.size(), &q), ParseStatus::kOk);
  std::vector<uint8_t> out(kMaxMessage);
  h.size = c.Answer(view, q, query.data(), query.size(), 1232, 1232, out.data(), out.size(), now, &h.rcode);
  if (h.size) {
    EXPECT_TRUE(ParseMessage(out.data(), h.size, &h.msg));
  }
  return h;
}

void Store(NegativeCache& c, uint32_t view, const std::vector<uint8_t>& query, const std::vector<uint8_t>& reply,
           MonoTime now) {
  Query q;
  ASSERT_EQ(ParseQuery(query.data(), query.size(), &q), ParseStatus::kOk);
  c.StoreReply(view, q, reply.data(), reply.size(), now);
}

TEST(NegativeCacheTest, NxDomainForTheSoaMinimumPerNetwork) {
  NegativeCache c({seconds(300), seconds(5), 100});
  auto query = MakeQuery("nope.example", kTypeA, true, 1232, 0x1111);
  Store(c, kBeta, query, Reply(query, kNxDomain, /*ttl=*/60, /*minimum=*/30), kT0);
  EXPECT_EQ(c.size(), 1u);
  // Another client of the same network, another id and casing: the cached answer, rebuilt.
  auto again = MakeQuery("NOPE.example", kTypeA, true, 1232, 0x2222);
  Hit h = Lookup(c, kBeta, again, kT0 + seconds(10));
  ASSERT_GT(h.size, 0u);
  EXPECT_EQ(h.rcode, kNxDomain);
  EXPECT_EQ(h.msg.header.id, 0x2222);
  EXPECT_EQ(h.msg.header.rcode(), kNxDomain);
  EXPECT_TRUE(h.msg.header.flags & kFlagRA);
  EXPECT_EQ(h.msg.questions[0].name.ToText(), "NOPE.example.");
  ASSERT_EQ(h.msg.authority.size(), 1u);
  EXPECT_EQ(h.msg.authority[0].type, kTypeSOA);
  EXPECT_EQ(h.msg.authority[0].ttl, 20u);  // min(60, 30) - 10 s
  ASSERT_EQ(h.msg.additional.size(), 1u);  // OPT echoed
  // Never across networks; other types are other keys.
  EXPECT_EQ(Lookup(c, kAcme, again, kT0).size, 0u);
  EXPECT_EQ(Lookup(c, kBeta, MakeQuery("nope.example", kTypeAAAA), kT0).size, 0u);
  // Expired at min(ttl, minimum).
  EXPECT_EQ(Lookup(c, kBeta, again, kT0 + seconds(30)).size, 0u);
  EXPECT_EQ(c.size(), 0u);
}

TEST(NegativeCacheTest, NoDataCappedAndWhatIsNotKept) {
  NegativeCache c({seconds(50), seconds(5), 100});
  auto q1 = MakeQuery("nodata.example", kTypeAAAA);
  Store(c, kAcme, q1, Reply(q1, kNoError, 3600, 3600), kT0);
  Hit h = Lookup(c, kAcme, q1, kT0 + seconds(49));
  EXPECT_EQ(h.rcode, kNoError);
  EXPECT_TRUE(h.msg.answers.empty());
  EXPECT_EQ(Lookup(c, kAcme, q1, kT0 + seconds(50)).size, 0u);  // capped at 50 s
  auto q2 = MakeQuery("nosoa.example", kTypeA);
  Store(c, kAcme, q2, Reply(q2, kNxDomain, -1, 0), kT0);  // no SOA: RFC 2308 §5
  auto q3 = MakeQuery("positive.example", kTypeA);
  Store(c, kAcme, q3, Reply(q3, kNoError, 60, 60, true), kT0);  // an answer: not ours
  auto q4 = MakeQuery("refused.example", kTypeA);
  Store(c, kAcme, q4, Reply(q4, kRefused, 60, 60), kT0);
  EXPECT_EQ(c.size(), 0u);
  // DO=1 asks for DNSSEC proofs we do not keep.
  Message dm;
  auto q5 = MakeQuery("signed.example", kTypeA);
  ASSERT_TRUE(ParseMessage(q5.data(), q5.size(), &dm));
  dm.additional[0].ttl = 0x8000;  // DO
  std::vector<uint8_t> q5do;
  ASSERT_TRUE(BuildMessage(dm, &q5do));
  Store(c, kAcme, q5do, Reply(q5do, kNxDomain, 60, 60), kT0);
  EXPECT_EQ(c.size(), 0u);
}

TEST(NegativeCacheTest, ServFailIsKeptBriefly) {
  NegativeCache c({seconds(300), seconds(5), 100});
  auto q = MakeQuery("broken.example", kTypeA, false, 0, 0x3333);
  Query pq;
  ASSERT_EQ(ParseQuery(q.data(), q.size(), &pq), ParseStatus::kOk);
  c.StoreServFail(kAcme, pq, kT0);
  Hit h = Lookup(c, kAcme, q, kT0 + seconds(4));
  EXPECT_EQ(h.rcode, kServFail);
  EXPECT_EQ(h.msg.header.id, 0x3333);
  EXPECT_TRUE(h.msg.additional.empty());  // no OPT without EDNS
  EXPECT_EQ(Lookup(c, kAcme, q, kT0 + seconds(5)).size, 0u);
  // An upstream's own SERVFAIL counts too.
  Store(c, kBeta, q, Reply(q, kServFail, -1, 0), kT0);
  EXPECT_EQ(Lookup(c, kBeta, q, kT0).rcode, kServFail);
  NegativeCache off({seconds(300), seconds(0), 100});
  off.StoreServFail(kAcme, pq, kT0);
  EXPECT_EQ(off.size(), 0u);
}

TEST(NegativeCacheTest, OneNetworkCannotEvictAnother) {
  NegativeCache c({seconds(300), seconds(5), 8});
  auto mine = MakeQuery("mine.example", kTypeA);
  Store(c, kAcme, mine, Reply(mine, kNxDomain, 60, 60), kT0);
  for (int i = 0; i < 100; ++i) {
    auto q = MakeQuery("r" + std::to_string(i) + ".example", kTypeA);
    Store(c, kBeta, q, Reply(q, kNxDomain, 60, 60), kT0);
  }
  EXPECT_EQ(c.size(), 9u);  // beta holds its 8, acme its 1
  EXPECT_GT(Lookup(c, kAcme, mine, kT0).size, 0u);
  auto newest = MakeQuery("r99.example", kTypeA);
  EXPECT_GT(Lookup(c, kBeta, newest, kT0).size, 0u);
  EXPECT_EQ(Lookup(c, kBeta, MakeQuery("r0.example", kTypeA), kT0).size, 0u);  // oldest went
}

TEST(NegativeCacheTest, AllNetworksTogetherAreBoundedAndShareFairly) {
  NegativeCache c({seconds(300), seconds(5), /*entries_per_view=*/10, /*entries_total=*/10});
  auto nx = [&](uint32_t view, const std::string& name) {
    auto q = MakeQuery(name, kTypeA);
    Store(c, view, q, Reply(q, kNxDomain, 60, 60), kT0);
    return Lookup(c, view, q, kT0).size > 0;
  };
  for (int i = 0; i < 100; ++i) nx(kBeta, "b" + std::to_string(i) + ".example");
  EXPECT_EQ(c.size(), 10u);              // beta alone may use everything
  EXPECT_TRUE(nx(kAcme, "a0.example"));  // at the bound: acme, under its share, takes beta's oldest
  EXPECT_EQ(c.size(), 10u);
  for (int i = 0; i < 50; ++i) nx(kBeta, "c" + std::to_string(i) + ".example");
  EXPECT_EQ(c.size(), 10u);  // beta, over its share, pays with its own
  EXPECT_TRUE(nx(kAcme, "a1.example"));
  EXPECT_TRUE(nx(kAcme, "a0.example"));  // still there
  for (int i = 2; i < 9; ++i) nx(kAcme, "a" + std::to_string(i) + ".example");
  EXPECT_EQ(c.size(), 10u);
  EXPECT_TRUE(nx(kBeta, "d.example"));  // beta keeps at least its share's worth of room
}

uint32_t SoaSerial(const Zone& z, ClientView v) {
  Answer a = Ask(&z, v, "flycast", kTypeSOA);
  EXPECT_TRUE(a.parsed);
  EXPECT_EQ(a.msg.answers.size(), 1u);
  if (a.msg.answers.empty()) return 0;
  const auto& rd = a.msg.answers[0].rdata;
  const uint8_t* p = rd.data() + rd.size() - 20;
  return static_cast<uint32_t>(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

TEST(ZoneSerialTest, PerViewAndRevealsNothingAboutOtherNetworks) {
  auto s1 = TwoOrgs(7);
  auto z1 = Zone::Build(s1);
  // Acme creates an app and starts a machine: a new store revision, a new Snapshot.
  auto s2 = std::make_shared<Snapshot>(*s1);
  s2->revision = 8;
  uint32_t extra = AddApp(*s2, "extra", "acme", kAcme);
  AddFlycast(*s2, extra, kAcme, 4);
  AddMachine(*s2, extra, "5d5d5d5d5d5d01", "ams", "app", MachineRunState::kStarted, 0x501);
  s2->Index();
  auto z2 = Zone::Build(s2);
  EXPECT_EQ(SoaSerial(*z1, Net(kBeta)), SoaSerial(*z2, Net(kBeta)));  // beta sees no move
  EXPECT_NE(SoaSerial(*z1, Net(kAcme)), SoaSerial(*z2, Net(kAcme)));
  EXPECT_NE(SoaSerial(*z1, Host()), SoaSerial(*z2, Host()));
  // The same in negative answers (their authority SOA), and never the store revision.
  Answer nx = Ask(z2.get(), Net(kBeta), "nosuch.flycast", kTypeAAAA);
  ASSERT_TRUE(nx.HasSoaAuthority());
  EXPECT_EQ(nx.msg.authority[0].rdata, Ask(z1.get(), Net(kBeta), "nosuch.flycast", kTypeAAAA).msg.authority[0].rdata);
  // A machine stopping in acme moves acme's serial only.
  auto s3 = std::make_shared<Snapshot>(*s2);
  s3->revision = 9;
  s3->machines[s3->apps[0].machines[0]].state = MachineRunState::kStopped;
  auto z3 = Zone::Build(s3);
  EXPECT_EQ(SoaSerial(*z2, Net(kBeta)), SoaSerial(*z3, Net(kBeta)));
  EXPECT_NE(SoaSerial(*z2, Net(kAcme)), SoaSerial(*z3, Net(kAcme)));
  // A republish with nothing changed keeps every serial.
  auto s4 = std::make_shared<Snapshot>(*s3);
  s4->revision = 10;
  auto z4 = Zone::Build(s4);
  EXPECT_EQ(SoaSerial(*z3, Net(kAcme)), SoaSerial(*z4, Net(kAcme)));
  EXPECT_EQ(SoaSerial(*z3, Host()), SoaSerial(*z4, Host()));
  // Beta's api flycast address (another org's app allocated on beta) is part of beta's view.
  auto s5 = std::make_shared<Snapshot>(*s4);
  s5->flycast[s5->apps[1].flycast[1]].address = addr::FlycastAddress(kBeta, 10);
  auto z5 = Zone::Build(s5);
  EXPECT_NE(SoaSerial(*z4, Net(kBeta)), SoaSerial(*z5, Net(kBeta)));
}

}  // namespace
}  // namespace privcast::dns
