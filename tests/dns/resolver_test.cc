#include "dns/resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/dns/fixture.h"

namespace privcast::dns {
namespace {

using namespace dnstest;  // NOLINT
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override { zone_ = Zone::Build(TwoOrgs()); }
  Answer Q(ClientView v, const std::string& name, uint16_t type = kTypeAAAA, ResolveOptions o = {}) {
    Answer a = Ask(zone_.get(), v, name, type, o);
    EXPECT_TRUE(a.parsed) << name;
    return a;
  }
  ZonePtr zone_;
};

const char* kWebAms = "fdaa:0:10:0:2:0:101:2";
const char* kWebFra = "fdaa:0:10:0:2:0:102:2";
const char* kWebIad = "fdaa:0:10:0:2:0:104:2";

TEST_F(ResolverTest, FlycastPerNetwork) {
  auto a = Q(Net(kAcme), "web.flycast");
  EXPECT_EQ(a.rcode(), kNoError);
  EXPECT_TRUE(a.msg.header.flags & kFlagAA);
  EXPECT_THAT(a.Aaaa(), ElementsAre("fdaa:0:10:0:1::1"));
  EXPECT_EQ(a.msg.answers[0].ttl, kTtlFlycast);
  // api is exposed to both networks, each sees its own address.
  EXPECT_THAT(Q(Net(kAcme), "api.flycast").Aaaa(), ElementsAre("fdaa:0:10:0:1::2"));
  EXPECT_THAT(Q(Net(kBeta), "api.flycast").Aaaa(), ElementsAre("fdaa:0:20:0:1::9"));
  // Host view: every flycast address of the app.
  EXPECT_THAT(Q(Host(), "api.flycast").Aaaa(), ElementsAre("fdaa:0:10:0:1::2", "fdaa:0:20:0:1::9"));
}

TEST_F(ResolverTest, OrgBLearnsNothingOfOrgA) {
  // web is not exposed to beta: indistinguishable from an app that does not exist.
  auto hidden = Q(Net(kBeta), "web.flycast");
  auto missing = Q(Net(kBeta), "nosuchapp.flycast");
  EXPECT_EQ(hidden.rcode(), kNxDomain);
  EXPECT_EQ(missing.rcode(), kNxDomain);
  EXPECT_TRUE(hidden.HasSoaAuthority());
  EXPECT_EQ(hidden.msg.answers.size(), 0u);
  EXPECT_EQ(hidden.msg.authority, missing.msg.authority);
  for (const char* n :
       {"web.internal", "global.web.internal", "ams.web.internal", "vms.web.internal", "regions.web.internal",
        "148e123a1b2c01.vm.web.internal", "app.process.web.internal", "top1.nearest.of.web.internal", "api.internal"}) {
    auto a = Q(Net(kBeta), n, kTypeAAAA);
    EXPECT_EQ(a.rcode(), kNxDomain) << n;
    auto t = Q(Net(kBeta), n, kTypeTXT);
    EXPECT_EQ(t.rcode(), kNxDomain) << n;
  }
  EXPECT_EQ(Q(Net(kBeta), "_apps.internal", kTypeTXT).Txt(), "db");
  std::string inst = Q(Net(kBeta), "_instances.internal", kTypeTXT).Txt();
  EXPECT_EQ(inst, "instance=4c4c4c4c4c4c01,app=db,ip=fdaa:0:20:0:2:0:401:2,region=ams");
  // And acme sees nothing of beta's db.
  EXPECT_EQ(Q(Net(kAcme), "db.flycast").rcode(), kNxDomain);
  EXPECT_EQ(Q(Net(kAcme), "db.internal").rcode(), kNxDomain);
}

TEST_F(ResolverTest, InternalMachineSets) {
  // Started machines only, nearest region first (local region ams).
  EXPECT_THAT(Q(Net(kAcme), "web.internal").Aaaa(), ElementsAre(kWebAms, kWebFra, kWebIad));
  EXPECT_THAT(Q(Net(kAcme), "global.web.internal").Aaaa(), ElementsAre(kWebAms, kWebFra, kWebIad));
  EXPECT_EQ(Q(Net(kAcme), "web.internal").msg.answers[0].ttl, kTtlMachines);
  EXPECT_THAT(Q(Net(kAcme), "fra.web.internal").Aaaa(), ElementsAre(kWebFra));
  EXPECT_THAT(Q(Net(kAcme), "top1.nearest.of.web.internal").Aaaa(), ElementsAre(kWebAms));
  EXPECT_THAT(Q(Net(kAcme), "top2.nearest.of.web.internal").Aaaa(), ElementsAre(kWebAms, kWebFra));
  EXPECT_THAT(Q(Net(kAcme), "top9.nearest.of.web.internal").Aaaa(), ElementsAre(kWebAms, kWebFra, kWebIad));
  EXPECT_THAT(Q(Net(kAcme), "148e123a1b2c02.vm.web.internal").Aaaa(), ElementsAre(kWebFra));
  EXPECT_THAT(Q(Net(kAcme), "app.process.web.internal").Aaaa(), ElementsAre(kWebAms, kWebFra));
  EXPECT_THAT(Q(Net(kAcme), "worker.process.web.internal").Aaaa(), ElementsAre(kWebIad));
  EXPECT_THAT(Q(Host(), "web.internal").Aaaa(), ElementsAre(kWebAms, kWebFra, kWebIad));
}

TEST_F(ResolverTest, NxDomainVersusNoData) {
  struct Case {
    const char* name;
    uint16_t type;
    uint8_t rcode;
  } cases[] = {
      {"web.flycast", kTypeA, kNoError},  // exists, no A
      {"web.flycast", kTypeTXT, kNoError},
      {"web.internal", kTypeA, kNoError},
      {"web.internal", kTypeTXT, kNoError},
      {"idle.internal", kTypeAAAA, kNoError},                   // app exists, nothing started
      {"148e123a1b2c03.vm.web.internal", kTypeAAAA, kNoError},  // stopped machine
      {"ffffffffffffff.vm.web.internal", kTypeAAAA, kNxDomain},
      {"lax.web.internal", kTypeAAAA, kNxDomain},  // no machine there
      {"nosuch.process.web.internal", kTypeAAAA, kNxDomain},
      {"vm.web.internal", kTypeAAAA, kNoError},  // empty non-terminals
      {"nearest.of.web.internal", kTypeAAAA, kNoError},
      {"top0.nearest.of.web.internal", kTypeAAAA, kNxDomain},
      {"topx.nearest.of.web.internal", kTypeAAAA, kNxDomain},
      {"a.b.web.flycast", kTypeAAAA, kNxDomain},
      {"x.y.z.w.v.web.internal", kTypeAAAA, kNxDomain},
      {"nosuchapp.internal", kTypeAAAA, kNxDomain},
      {"vms.web.internal", kTypeAAAA, kNoError},
      {"_apps.internal", kTypeAAAA, kNoError},
      {"internal", kTypeAAAA, kNoError},
      {"flycast", kTypeA, kNoError},
  };
  for (const auto& c : cases) {
    auto a = Q(Net(kAcme), c.name, c.type);
    EXPECT_EQ(a.rcode(), c.rcode) << c.name;
    EXPECT_TRUE(a.msg.answers.empty()) << c.name;
    ASSERT_TRUE(a.HasSoaAuthority()) << c.name;
    std::string zone = std::string(c.name).find("flycast") != std::string::npos ? "flycast." : "internal.";
    EXPECT_EQ(a.msg.authority[0].name.ToText(), zone) << c.name;
    EXPECT_EQ(a.msg.authority[0].ttl, kTtlNegative);
  }
}

TEST_F(ResolverTest, SoaAtApex) {
  auto a = Q(Net(kAcme), "internal", kTypeSOA);
  ASSERT_EQ(a.msg.answers.size(), 1u);
  EXPECT_EQ(a.msg.answers[0].type, kTypeSOA);
  EXPECT_TRUE(a.msg.authority.empty());
}

TEST_F(ResolverTest, TxtRecords) {
  EXPECT_EQ(Q(Net(kAcme), "_apps.internal", kTypeTXT).Txt(), "api,idle,web");
  EXPECT_EQ(Q(Host(), "_apps.internal", kTypeTXT).Txt(), "api,db,idle,web");
  EXPECT_EQ(Q(Net(kAcme), "regions.web.internal", kTypeTXT).Txt(), "ams,fra,iad");
  EXPECT_EQ(Q(Net(kAcme), "vms.web.internal", kTypeTXT).Txt(),
            "148e123a1b2c01 ams,148e123a1b2c02 fra,148e123a1b2c04 iad");
  int nstr = 0;
  std::string inst = Q(Net(kAcme), "_instances.internal", kTypeTXT).Txt(&nstr);
  EXPECT_EQ(inst,
            "instance=2a2a2a2a2a2a01,app=api,ip=fdaa:0:10:0:2:0:201:2,region=fra;"
            "instance=148e123a1b2c01,app=web,ip=" +
                std::string(kWebAms) +
                ",region=ams;"
                "instance=148e123a1b2c02,app=web,ip=" +
                std::string(kWebFra) +
                ",region=fra;"
                "instance=148e123a1b2c04,app=web,ip=" +
                std::string(kWebIad) + ",region=iad");
  EXPECT_EQ(nstr, static_cast<int>((inst.size() + 254) / 255));
  EXPECT_GE(nstr, 2);  // long text is split into several ≤255-byte strings
}

TEST_F(ResolverTest, CaseInsensitiveAndCasePreserving) {
  auto a = Q(Net(kAcme), "WeB.FlyCAST");
  EXPECT_THAT(a.Aaaa(), ElementsAre("fdaa:0:10:0:1::1"));
  EXPECT_EQ(a.msg.questions[0].name.ToText(), "WeB.FlyCAST.");  // echoed as asked
  EXPECT_THAT(Q(Net(kAcme), "FRA.Web.INTERNAL").Aaaa(), ElementsAre(kWebFra));
  EXPECT_THAT(Q(Net(kAcme), "148E123A1B2C02.VM.web.internal").Aaaa(), ElementsAre(kWebFra));
}

TEST_F(ResolverTest, TruncationOverUdp) {
  auto big = ManyApps(60, 1);
  auto z = Zone::Build(big);
  // _instances for 60 machines is ~4 KB: TC over UDP (512 without EDNS, 1232 with), whole over TCP.
  auto noedns = Ask(z.get(), Net(kAcme), MakeQuery("_instances.internal", kTypeTXT, false));
  ASSERT_TRUE(noedns.parsed);
  EXPECT_TRUE(noedns.msg.header.flags & kFlagTC);
  EXPECT_TRUE(noedns.outcome.truncated);
  EXPECT_LE(noedns.size, 512u);
  EXPECT_TRUE(noedns.msg.answers.empty());
  auto edns = Ask(z.get(), Net(kAcme), MakeQuery("_instances.internal", kTypeTXT, true, 4096));
  EXPECT_TRUE(edns.msg.header.flags & kFlagTC);
  EXPECT_LE(edns.size, 1232u);                // our ceiling, whatever the client offers
  ASSERT_EQ(edns.msg.additional.size(), 1u);  // OPT kept
  EXPECT_EQ(edns.msg.additional[0].klass, 1232);
  ResolveOptions tcp;
  tcp.tcp = true;
  auto full = Ask(z.get(), Net(kAcme), MakeQuery("_instances.internal", kTypeTXT, true), tcp);
  EXPECT_FALSE(full.msg.header.flags & kFlagTC);
  EXPECT_GT(full.size, 2000u);
  std::string txt = full.Txt();
  EXPECT_EQ(std::count(txt.begin(), txt.end(), ';'), 59);
}

TEST_F(ResolverTest, ManyAaaaTruncateWithoutEdns) {
  auto z = Zone::Build(ManyApps(1, 40));
  auto a = Ask(z.get(), Net(kAcme), MakeQuery("app0.internal", kTypeAAAA, false));
  EXPECT_TRUE(a.msg.header.flags & kFlagTC);
  auto b = Ask(z.get(), Net(kAcme), MakeQuery("app0.internal", kTypeAAAA, true, 1232));
  EXPECT_FALSE(b.msg.header.flags & kFlagTC);
  EXPECT_EQ(b.Aaaa().size(), 40u);
}

TEST_F(ResolverTest, OtherZones) {
  auto a = Q(Net(kAcme), "example.com", kTypeA);
  EXPECT_EQ(a.rcode(), kRefused);
  EXPECT_FALSE(a.msg.header.flags & kFlagRA);
  ResolveOptions up;
  up.has_upstream = true;
  auto f = Ask(zone_.get(), Net(kAcme), "example.com", kTypeA, up);
  EXPECT_EQ(f.outcome.action, Outcome::kForward);
  EXPECT_EQ(f.size, 0u);
  // Clients outside every view are refused even our zones, and never forwarded.
  ClientView none;
  EXPECT_EQ(Q(none, "web.flycast").rcode(), kRefused);
  EXPECT_EQ(Ask(zone_.get(), none, "example.com", kTypeA, up).outcome.action, Outcome::kReply);
  // Before any snapshot: SERVFAIL for our zones.
  auto nz = Ask(nullptr, Net(kAcme), "web.flycast", kTypeAAAA);
  EXPECT_EQ(nz.rcode(), kServFail);
}

TEST_F(ResolverTest, ErrorsAndEdns) {
  auto bad = MakeQuery("web.flycast", kTypeAAAA, false);
  bad[5] = 2;
  auto a = Ask(zone_.get(), Net(kAcme), bad);
  EXPECT_EQ(a.rcode(), kFormErr);
  auto v1 = MakeQuery("web.flycast", kTypeAAAA, true);
  v1[v1.size() - 5] = 1;  // EDNS version 1
  auto b = Ask(zone_.get(), Net(kAcme), v1);
  ASSERT_TRUE(b.parsed);
  ASSERT_EQ(b.msg.additional.size(), 1u);
  EXPECT_EQ(b.msg.additional[0].ttl >> 24, 1u);  // extended rcode 1 → BADVERS (16)
  EXPECT_EQ(b.outcome.rcode, kBadVers);
  auto e = Q(Net(kAcme), "web.flycast");
  ASSERT_EQ(e.msg.additional.size(), 1u);
  EXPECT_EQ(e.msg.additional[0].type, kTypeOPT);
  EXPECT_EQ(e.msg.additional[0].klass, kDefaultEdnsUdpSize);
  EXPECT_EQ(e.msg.header.id, 0x1234);
  EXPECT_TRUE(e.msg.header.flags & kFlagRD);  // RD echoed
}

TEST_F(ResolverTest, PrewarmOutcome) {
  auto idle = Q(Net(kAcme), "idle.flycast");
  EXPECT_THAT(idle.Aaaa(), ElementsAre("fdaa:0:10:0:1::3"));  // answered though all stopped
  ASSERT_GE(idle.outcome.prewarm_app, 0);
  EXPECT_EQ(zone_->apps[idle.outcome.prewarm_app].name, "idle");
  EXPECT_EQ(Q(Net(kAcme), "web.flycast").outcome.prewarm_app, -1);   // has started machines
  EXPECT_EQ(Q(Net(kBeta), "idle.flycast").outcome.prewarm_app, -1);  // not visible: no hint
  EXPECT_EQ(Q(Net(kAcme), "idle.internal").outcome.prewarm_app, -1);
}

TEST(ZoneTest, ViewOf) {
  auto z = Zone::Build(TwoOrgs());
  auto v = [&](const char* ip, bool outside = false) { return ViewOf(*z, *Ip6::Parse(ip), outside); };
  EXPECT_EQ(v("fdaa:0:10:0:2:0:101:2").kind, ClientView::kNetwork);
  EXPECT_EQ(v("fdaa:0:10:0:2:0:101:2").net32, kAcme);
  EXPECT_EQ(v("fdaa:0:20::99").net32, kBeta);
  EXPECT_EQ(v("fdaa:0:30::1").kind, ClientView::kNone);  // unknown network
  EXPECT_EQ(v("::1").kind, ClientView::kHost);
  EXPECT_EQ(v("::ffff:127.0.0.1").kind, ClientView::kHost);
  EXPECT_EQ(v("fdaa::3").kind, ClientView::kHost);
  EXPECT_EQ(v("2001:db8::1").kind, ClientView::kNone);
  EXPECT_EQ(v("2001:db8::1", true).kind, ClientView::kHost);
  EXPECT_EQ(v("fdaa:0:30::1", true).kind, ClientView::kNone);
}

TEST(ZoneTest, NewSnapshotChangesAnswers) {
  auto s = TwoOrgs(1);
  auto z1 = Zone::Build(s);
  EXPECT_EQ(Ask(z1.get(), Net(kAcme), "idle.internal", kTypeAAAA).msg.answers.size(), 0u);
  auto s2 = std::make_shared<Snapshot>(*s);
  s2->revision = 2;
  s2->machines[s2->apps[2].machines[0]].state = MachineRunState::kStarted;
  auto z2 = Zone::Build(s2);
  auto a = Ask(z2.get(), Net(kAcme), "idle.internal", kTypeAAAA);
  EXPECT_THAT(a.Aaaa(), ElementsAre("fdaa:0:10:0:2:0:301:2"));
  EXPECT_EQ(z2->revision(), 2);
}

}  // namespace
}  // namespace privcast::dns
