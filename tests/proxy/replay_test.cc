// Unit tests of fly-replay's pure part (proxy/replay.h) and of SuspectHosts (proxy/host_suspects.h).
#include "proxy/replay.h"

#include <gtest/gtest.h>

#include "proxy/codec/http1.h"
#include "proxy/codec/rewrite.h"
#include "proxy/host_suspects.h"
#include "proxy/worker.h"

namespace privcast::proxy {
namespace {

TEST(ReplayParse, FieldsAsFlyDocumentsThem) {
  ReplayDirective d;
  std::string err;
  ASSERT_TRUE(ParseReplay("region=syd", &d, &err)) << err;
  EXPECT_EQ(d.region, "syd");
  ASSERT_TRUE(ParseReplay(" instance=00bb33ff ; state=abc=1 ;elsewhere=true", &d, &err)) << err;
  EXPECT_EQ(d.instance, "00bb33ff");
  EXPECT_EQ(d.state, "abc=1");  // only the first '=' separates
  EXPECT_TRUE(d.elsewhere);
  ASSERT_TRUE(ParseReplay("region=\"iad,ord,any\";app=other;timeout=2s", &d, &err)) << err;  // timeout: ignored
  EXPECT_EQ(d.region, "iad,ord,any");
  EXPECT_EQ(d.app, "other");
  ASSERT_TRUE(ParseReplay("prefer_instance=m1", &d, &err)) << err;
  EXPECT_EQ(d.prefer_instance, "m1");
  ASSERT_TRUE(ParseReplay("Region=fra", &d, &err)) << err;  // keys are case-insensitive
  EXPECT_EQ(d.region, "fra");
}

TEST(ReplayParse, MalformedOrTargetlessIsAnError) {
  ReplayDirective d;
  std::string err;
  EXPECT_FALSE(ParseReplay("", &d, &err));
  EXPECT_FALSE(ParseReplay("state=x", &d, &err));  // no target
  EXPECT_FALSE(ParseReplay("elsewhere=false", &d, &err));
  EXPECT_FALSE(ParseReplay("elsewhere=maybe", &d, &err));
  EXPECT_FALSE(ParseReplay("syd", &d, &err));
  EXPECT_FALSE(ParseReplay("region=syd\x01", &d, &err));
}

TEST(ReplaySource, InstanceRegionTimeState) {
  EXPECT_EQ(ReplaySource("m1", "ams", 1700000000123456, ""), "instance=m1;region=ams;t=1700000000123456");
  EXPECT_EQ(ReplaySource("m1", "ams", 5, "s1"), "instance=m1;region=ams;t=5;state=s1");
}

TEST(ReplaySource, AddedToTheHeadReplacingAnEarlierOne) {
  std::string req = "POST /x HTTP/1.1\r\nHost: a\r\nfly-replay-src: old\r\nContent-Length: 3\r\n\r\nabc";
  std::string out = WithReplaySource(req, "instance=m1;region=ams;t=1");
  EXPECT_EQ(
      out, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nfly-replay-src: instance=m1;region=ams;t=1\r\n\r\nabc");
  EXPECT_EQ(WithReplaySource(out, "x"),
            "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nfly-replay-src: x\r\n\r\nabc");
  // The request line is never taken for a field, whatever it contains.
  EXPECT_EQ(WithReplaySource("GET /fly-replay-src: HTTP/1.1\r\n\r\n", "y"),
            "GET /fly-replay-src: HTTP/1.1\r\nfly-replay-src: y\r\n\r\n");
}

TEST(ReplaySource, AClientsOwnCopyIsDropped) {
  // Only the proxy says where a replay came from: the rewriter drops a client's fly-replay-src.
  std::string req = "GET / HTTP/1.1\r\nHost: a\r\nFly-Replay-Src: instance=spoof\r\nX-A: 1\r\n\r\n";
  codec::RequestParser parser;
  auto head = std::make_unique<codec::RequestHead>();
  ASSERT_TRUE(parser.Parse(req, head.get()).done());
  codec::RequestFacts f;
  f.client_ip = "10.0.0.1";
  f.region = "ams";
  f.request_id = "01234567890123456789012345";
  std::string out(codec::MaxRewrittenRequestSize(*head, f), '\0');
  out.resize(codec::RewriteRequest(*head, f, std::span<char>(out.data(), out.size())));
  EXPECT_EQ(out.find("spoof"), std::string::npos) << out;
  EXPECT_NE(out.find("X-A: 1"), std::string::npos) << out;
}

// A session with a snapshot of three apps: web and api in org "a", evil in org "b".
struct TestSession final : Session {
  using Session::Session;
  void OnRouted(Lease) override {}
  void OnRouteFailed(int) override {}
  void Abort() override {}
  void OnDrain() override {}
  void OnDeadline() override {}
};

struct Fixture {
  std::shared_ptr<Snapshot> snap = std::make_shared<Snapshot>();
  std::shared_ptr<RoutingState> rs = std::make_shared<RoutingState>();
  std::unique_ptr<TestSession> s;

  Fixture() {
    snap->local_region = "ams";
    AddApp("web", "a", 80);
    AddApp("api", "a", 8080);  // serves another port: its first http service
    AddApp("evil", "b", 80);
    AddMachine(0, "w-ams", "ams");
    AddMachine(0, "w-syd", "syd");
    AddMachine(1, "a-fra", "fra");
    AddMachine(2, "e-ams", "ams");
    snap->Index();
    rs->snap = snap;
    sockaddr_in6 peer{}, local{};
    local.sin6_port = htons(80);
    s = std::make_unique<TestSession>(nullptr, rs, 0, &snap->apps[0].services[0], &snap->apps[0].services[0].ports[0],
                                      -1, peer, local);
  }
  void AddApp(const std::string& name, const std::string& org, uint16_t port) {
    AppView a;
    a.index = static_cast<uint32_t>(snap->apps.size());
    a.name = name;
    a.org = org;
    ServiceSpec svc;
    PortSpec p;
    p.start_port = p.end_port = port;
    p.http = true;
    svc.ports.push_back(p);
    a.services.push_back(svc);
    snap->apps.push_back(a);
  }
  void AddMachine(uint32_t app, const std::string& id, const std::string& region) {
    MachineView m;
    m.index = static_cast<uint32_t>(snap->machines.size());
    m.id = id;
    m.app_index = app;
    m.region = region;
    m.process_group = "app";
    snap->apps[app].machines.push_back(m.index);
    snap->machines.push_back(m);
  }
  ReplayFailure Apply(std::string_view header, const MachineState* answered = nullptr) {
    ReplayDirective d;
    std::string err;
    EXPECT_TRUE(ParseReplay(header, &d, &err)) << err;
    return ApplyReplay(s.get(), d, answered);
  }
};

TEST(ReplayApply, RegionForcesTheFirstListedRegionWithAMachine) {
  Fixture f;
  ASSERT_EQ(f.Apply("region=syd").status, 0);
  EXPECT_EQ(f.s->hints.force_region, "syd");
  ASSERT_EQ(f.Apply("region=iad,syd,ams").status, 0);  // iad has none
  EXPECT_EQ(f.s->hints.force_region, "syd");
  ASSERT_EQ(f.Apply("region=iad,any").status, 0);  // none listed has one: anywhere, iad preferred
  EXPECT_EQ(f.s->hints.force_region, "");
  EXPECT_EQ(f.s->hints.prefer_region, "iad");
  ASSERT_EQ(f.Apply("region=iad").status, 0);  // none at all: forced anyway (routing answers 503)
  EXPECT_EQ(f.s->hints.force_region, "iad");
}

TEST(ReplayApply, ReplacesTheClientsHints) {
  Fixture f;
  f.s->hint_storage[0] = "fra";
  f.s->hints.prefer_region = f.s->hint_storage[0];
  ASSERT_EQ(f.Apply("instance=w-syd").status, 0);
  EXPECT_EQ(f.s->hints.force_instance, "w-syd");
  EXPECT_EQ(f.s->hints.prefer_region, "");
  ASSERT_EQ(f.Apply("prefer_instance=w-ams").status, 0);
  EXPECT_EQ(f.s->hints.prefer_instance, "w-ams");
  EXPECT_EQ(f.s->hints.force_instance, "");
}

TEST(ReplayApply, ElsewhereExcludesTheAnsweringMachine) {
  Fixture f;
  MachineState st("w-ams", "web");
  ASSERT_EQ(f.Apply("elsewhere=true", &st).status, 0);
  ASSERT_EQ(f.s->tried.size(), 1u);
  EXPECT_EQ(f.s->tried[0], &st);
}

TEST(ReplayApply, AppOfTheSameOrgOnly) {
  Fixture f;
  ASSERT_EQ(f.Apply("app=api").status, 0);
  EXPECT_EQ(f.s->app_index, 1u);  // api serves 8080, not the dialled 80: its first http service
  EXPECT_EQ(f.s->svc, &f.snap->apps[1].services[0]);
  Fixture g;
  ReplayFailure other = g.Apply("app=evil");
  ReplayFailure missing = g.Apply("app=nosuch");
  EXPECT_EQ(other.status, 502);  // another org: exactly like a name that does not exist
  EXPECT_STREQ(other.reason, missing.reason);
  EXPECT_EQ(g.s->app_index, 0u);
  EXPECT_EQ(ResolveReplayApp(*g.snap, g.snap->apps[0], "evil"), nullptr);
  EXPECT_EQ(ResolveReplayApp(*g.snap, g.snap->apps[0], "api"), &g.snap->apps[1]);
}

TEST(ReplayApply, LoopsEndAfterMaxReplays) {
  Fixture f;
  for (int i = 0; i < kMaxReplays; ++i) ASSERT_EQ(f.Apply("region=ams").status, 0) << i;
  EXPECT_EQ(f.Apply("region=ams").status, 502);
}

TEST(SuspectHosts, MarkedUntilTheBackoffOrTheHostLeavesRouting) {
  SuspectHosts h;
  MonoTime t0{};
  EXPECT_FALSE(h.Suspect(7, t0));
  h.Mark(7, t0);
  EXPECT_TRUE(h.Suspect(7, t0 + kSuspectBackoff / 2));
  EXPECT_FALSE(h.Suspect(7, t0 + kSuspectBackoff));
  EXPECT_FALSE(h.Suspect(8, t0));
  Snapshot live;
  MachineView m;
  m.host_id = 7;
  m.remote = true;
  live.machines.push_back(m);
  h.Retain(live, t0);
  EXPECT_TRUE(h.Suspect(7, t0));              // still live: kept
  live.machines[0].carries_services = false;  // its lease ended: out of routing
  h.Retain(live, t0);
  EXPECT_TRUE(h.empty());
}

}  // namespace
}  // namespace privcast::proxy
