// Integration tests (label `root`): the server runs in-process inside a fresh, anonymous
// network namespace of this test process (unshare(CLONE_NEWNET): it disappears with the
// process on every path, failures included). lo carries fdaa::3 and one client address per
// org network; real `dig` / `kdig` run inside it bound to those sources. The fake upstream
// is a thread of this process on 127.0.0.1 in the same namespace.
#include "dns/server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/fd.h"
#include "tests/dns/fixture.h"

namespace privcast::dns {
namespace {

using namespace dnstest;  // NOLINT
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const char* kAcmeClient = "fdaa:0:10:0:2:0:901:2";
const char* kBetaClient = "fdaa:0:20:0:2:0:902:2";

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

bool g_netns_ok = false;
std::string g_netns_error;

class NetnsEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    if (unshare(CLONE_NEWNET) != 0) {
      g_netns_error = std::string("unshare(CLONE_NEWNET): ") + strerror(errno);
      return;
    }
    std::string r = Shell(
        "ip link set lo up && ip -6 addr add fdaa::3/128 dev lo && "
        "ip -6 addr add " +
        std::string(kAcmeClient) +
        "/128 dev lo && "
        "ip -6 addr add " +
        std::string(kBetaClient) +
        "/128 dev lo && "
        "ip -6 route add unreachable fdaa::/16 && echo OK");
    if (r.find("OK") == std::string::npos) {
      g_netns_error = "netns setup: " + r;
      return;
    }
    g_netns_ok = true;
  }
};
const auto* g_env = ::testing::AddGlobalTestEnvironment(new NetnsEnv);

struct DigResult {
  std::string status;
  std::string flags;
  std::vector<std::string> answers;  // rdata of answer-section records
  std::string raw;
};

DigResult ParseDig(const std::string& out) {
  DigResult r;
  r.raw = out;
  std::istringstream in(out);
  std::string line;
  bool in_answer = false;
  while (std::getline(in, line)) {
    if (auto p = line.find("status: "); p != std::string::npos) {
      r.status = line.substr(p + 8, line.find(',', p) - p - 8);
    }
    if (auto p = line.find(";; flags: "); p != std::string::npos)
      r.flags = line.substr(p + 10, line.find(';', p + 3) - p - 10);
    if (line.rfind(";; ANSWER SECTION:", 0) == 0 || line.rfind(";; Answer section:", 0) == 0) {
      in_answer = true;
      continue;
    }
    if (in_answer) {
      if (line.empty() || line[0] == ';') {
        in_answer = false;
        continue;
      }
      std::istringstream ls(line);
      std::string owner, ttl, klass, type, rest;
      ls >> owner >> ttl >> klass >> type;
      std::getline(ls, rest);
      rest.erase(0, rest.find_first_not_of(" \t"));
      r.answers.push_back(rest);
    }
  }
  return r;
}

class DnsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_netns_ok) GTEST_SKIP() << "needs root and network namespaces: " << g_netns_error;
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }
  void StartServer(std::shared_ptr<Snapshot> snap, ServerOptions o = {}, PrewarmHook* hook = nullptr) {
    o.listen = {{"fdaa::3", 0}, {"127.0.0.1", 0}};
    if (o.upstreams.empty() && o.resolv_conf == "/etc/resolv.conf") o.forward = false;
    auto s = Server::Create(o, hook);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s.value());
    server_->Publish(std::move(snap));
    ASSERT_TRUE(server_->Start().ok());
    port_ = server_->endpoints()[0].port;
    ASSERT_NE(port_, 0);
    port4_ = server_->endpoints()[1].port;
  }
  DigResult Dig(const std::string& src, const std::string& name, const std::string& type,
                const std::string& extra = "") {
    return ParseDig(Shell("dig -b " + src + " @fdaa::3 -p " + std::to_string(port_) + " +tries=1 +time=3 +nocookie " +
                          extra + " " + name + " " + type));
  }
  FakeClock clock_;  // for tests that freeze time; outlives server_ (declared before it)
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
  uint16_t port4_ = 0;  // the 127.0.0.1 listener
};

TEST_F(DnsServerTest, EveryNameFormPerOrg) {
  StartServer(TwoOrgs());
  const std::string a = kAcmeClient, b = kBetaClient;
  auto r = Dig(a, "web.flycast", "AAAA");
  EXPECT_EQ(r.status, "NOERROR") << r.raw;
  EXPECT_THAT(r.flags, HasSubstr("aa"));
  EXPECT_THAT(r.answers, ElementsAre("fdaa:0:10:0:1::1"));
  EXPECT_THAT(Dig(a, "api.flycast", "AAAA").answers, ElementsAre("fdaa:0:10:0:1::2"));
  EXPECT_THAT(Dig(b, "api.flycast", "AAAA").answers, ElementsAre("fdaa:0:20:0:1::9"));
  EXPECT_THAT(Dig(a, "web.internal", "AAAA").answers,
              ElementsAre("fdaa:0:10:0:2:0:101:2", "fdaa:0:10:0:2:0:102:2", "fdaa:0:10:0:2:0:104:2"));
  EXPECT_THAT(Dig(a, "global.web.internal", "AAAA").answers,
              ElementsAre("fdaa:0:10:0:2:0:101:2", "fdaa:0:10:0:2:0:102:2", "fdaa:0:10:0:2:0:104:2"));
  EXPECT_THAT(Dig(a, "fra.web.internal", "AAAA").answers, ElementsAre("fdaa:0:10:0:2:0:102:2"));
  EXPECT_THAT(Dig(a, "top2.nearest.of.web.internal", "AAAA").answers,
              ElementsAre("fdaa:0:10:0:2:0:101:2", "fdaa:0:10:0:2:0:102:2"));
  EXPECT_THAT(Dig(a, "148e123a1b2c04.vm.web.internal", "AAAA").answers, ElementsAre("fdaa:0:10:0:2:0:104:2"));
  EXPECT_THAT(Dig(a, "worker.process.web.internal", "AAAA").answers, ElementsAre("fdaa:0:10:0:2:0:104:2"));
  EXPECT_THAT(Dig(a, "_apps.internal", "TXT").answers, ElementsAre("\"api,idle,web\""));
  EXPECT_THAT(Dig(a, "regions.web.internal", "TXT").answers, ElementsAre("\"ams,fra,iad\""));
  EXPECT_THAT(Dig(a, "vms.web.internal", "TXT").answers,
              ElementsAre("\"148e123a1b2c01 ams,148e123a1b2c02 fra,148e123a1b2c04 iad\""));
  auto inst = Dig(b, "_instances.internal", "TXT");
  EXPECT_THAT(inst.answers, ElementsAre("\"instance=4c4c4c4c4c4c01,app=db,ip=fdaa:0:20:0:2:0:401:2,region=ams\""));
  // Org B sees nothing of org A.
  EXPECT_THAT(Dig(b, "_apps.internal", "TXT").answers, ElementsAre("\"db\""));
  for (std::string n :
       {"web.flycast", "web.internal", "global.web.internal", "fra.web.internal", "top1.nearest.of.web.internal",
        "148e123a1b2c01.vm.web.internal", "app.process.web.internal", "api.internal"}) {
    auto x = Dig(b, n, "AAAA");
    EXPECT_EQ(x.status, "NXDOMAIN") << n << x.raw;
    EXPECT_TRUE(x.answers.empty()) << n;
  }
  EXPECT_EQ(Dig(b, "vms.web.internal", "TXT").status, "NXDOMAIN");
  EXPECT_EQ(Dig(a, "db.flycast", "AAAA").status, "NXDOMAIN");
  // NODATA with the SOA.
  auto nodata = Dig(a, "web.flycast", "A");
  EXPECT_EQ(nodata.status, "NOERROR");
  EXPECT_TRUE(nodata.answers.empty());
  // The serial is acme's view's own (docs/dns.md "SOA"), never the store revision (7).
  ZonePtr z = Zone::Build(TwoOrgs());
  EXPECT_THAT(nodata.raw, HasSubstr("flycast.\t\t5\tIN\tSOA\tns.flycast. hostmaster.flycast. " +
                                    std::to_string(z->Serial(Net(kAcme))) + " "));
  // Case-insensitive.
  EXPECT_THAT(Dig(a, "WEB.FlyCast", "AAAA").answers, ElementsAre("fdaa:0:10:0:1::1"));
  // The host (loopback) view sees every app.
  auto host = ParseDig(Shell("dig @127.0.0.1 -p " + std::to_string(port4_) + " +tries=1 +time=3 _apps.internal TXT"));
  EXPECT_THAT(host.answers, ElementsAre("\"api,db,idle,web\""));
  // TCP too.
  auto t = ParseDig(Shell("kdig +tcp -b " + a + " @fdaa::3 -p " + std::to_string(port_) + " web.flycast AAAA"));
  EXPECT_THAT(t.answers, ElementsAre("fdaa:0:10:0:1::1")) << t.raw;
  // Other zones without an upstream: REFUSED at once.
  EXPECT_EQ(Dig(a, "example.com", "A").status, "REFUSED");
  std::string m = server_->MetricsText();
  EXPECT_THAT(m, HasSubstr("privcast_dns_queries_total{type=\"AAAA\",rcode=\"NXDOMAIN\"} 9"));
  EXPECT_THAT(m, HasSubstr("privcast_dns_snapshot_revision 7"));
}

TEST_F(DnsServerTest, PublishChangesAnswers) {
  auto s = TwoOrgs(1);
  StartServer(s);
  EXPECT_TRUE(Dig(kAcmeClient, "idle.internal", "AAAA").answers.empty());
  auto s2 = std::make_shared<Snapshot>(*s);
  s2->revision = 2;
  s2->machines[s2->apps[2].machines[0]].state = MachineRunState::kStarted;
  server_->Publish(s2);
  std::vector<std::string> got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (got.empty() && std::chrono::steady_clock::now() < deadline)
    got = Dig(kAcmeClient, "idle.internal", "AAAA").answers;
  EXPECT_THAT(got, ElementsAre("fdaa:0:10:0:2:0:301:2"));
}

// A fake upstream on 127.0.0.1: A 192.0.2.1 for every name except slow.example and
// slow*.example (no reply) and nx*.example (NXDOMAIN with a SOA: TTL 60, MINIMUM 30).
class FakeUpstream {
 public:
  explicit FakeUpstream(uint16_t port = 0) {
    fd_.reset(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    socklen_t l = sizeof a;
    getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &l);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
  }
  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }
  int queries() const { return queries_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_.get(), POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      uint8_t buf[4096];
      sockaddr_storage from{};
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom(fd_.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
      Query q;
      if (n <= 0 || ParseQuery(buf, static_cast<size_t>(n), &q) != ParseStatus::kOk) continue;
      ++queries_;
      std::string name = q.qname.ToText();
      if (name.rfind("slow", 0) == 0) continue;
      uint8_t out[512];
      Builder b(out, sizeof out, sizeof out);
      b.SetHeader(q.header.id, kFlagQR | kFlagRD | kFlagRA);
      b.AddQuestion(q.qname, q.qtype, q.qclass);
      if (name.rfind("nx", 0) == 0) {
        Name zone, mname, rname;
        zone.FromText("example.");
        mname.FromText("ns.example.");
        rname.FromText("hostmaster.example.");
        b.AddSoa(Section::kAuthority, zone, mname, rname, 1, 3600, 600, 86400, 30, 60);
        b.SetRcode(kNxDomain);
        sendto(fd_.get(), out, b.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
        continue;
      }
      uint8_t a4[4] = {192, 0, 2, 1};
      if (q.qtype == kTypeA) b.AddRecord(Section::kAnswer, q.qname, kTypeA, kClassIN, 300, a4, 4);
      sendto(fd_.get(), out, b.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
  }
  UniqueFd fd_;
  bool ok_ = false;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

TEST_F(DnsServerTest, ForwardsToUpstreamWithTimeout) {
  FakeUpstream up;
  ASSERT_TRUE(up.ok());
  ServerOptions o;
  o.upstreams = {{"127.0.0.1", up.port()}};
  o.forward_timeout = std::chrono::milliseconds(300);
  StartServer(TwoOrgs(), o);
  auto r = Dig(kAcmeClient, "www.example", "A");
  EXPECT_EQ(r.status, "NOERROR") << r.raw;
  EXPECT_THAT(r.answers, ElementsAre("192.0.2.1"));
  EXPECT_THAT(r.flags, HasSubstr("ra"));
  auto t = ParseDig(
      Shell("kdig +tcp -b " + std::string(kAcmeClient) + " @fdaa::3 -p " + std::to_string(port_) + " tcp.example A"));
  EXPECT_THAT(t.answers, ElementsAre("192.0.2.1")) << t.raw;
  auto start = std::chrono::steady_clock::now();
  auto slow = Dig(kAcmeClient, "slow.example", "A");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(slow.status, "SERVFAIL") << slow.raw;
  EXPECT_LT(took, std::chrono::seconds(3));  // our timeout, not dig's
  // Our own zones are never forwarded.
  int before = up.queries();
  EXPECT_EQ(Dig(kAcmeClient, "nosuch.flycast", "AAAA").status, "NXDOMAIN");
  EXPECT_EQ(up.queries(), before);
  std::string m = server_->MetricsText();
  EXPECT_THAT(m, HasSubstr("privcast_dns_forwarded_total 3"));
  EXPECT_THAT(m, HasSubstr("privcast_dns_forward_failures_total 1"));
}

TEST_F(DnsServerTest, UpstreamFromResolvConf) {
  FakeUpstream up(53);  // port 53 of 127.0.0.1 in our own namespace
  ASSERT_TRUE(up.ok());
  char path[] = "/tmp/pc-dns-resolv-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string text = "# test\nsearch example\nnameserver 127.0.0.1\noptions ndots:1\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  ServerOptions o;
  o.resolv_conf = path;
  o.upstreams.clear();
  auto s = Server::Create(
      [&] {
        ServerOptions x = o;
        x.listen = {{"fdaa::3", 0}};
        return x;
      }(),
      nullptr);
  unlink(path);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  server_ = std::move(s.value());
  ASSERT_EQ(server_->upstreams().size(), 1u);
  EXPECT_EQ(server_->upstreams()[0].ip, "127.0.0.1");
  server_->Publish(TwoOrgs());
  ASSERT_TRUE(server_->Start().ok());
  port_ = server_->endpoints()[0].port;
  EXPECT_THAT(Dig(kBetaClient, "host.example", "A").answers, ElementsAre("192.0.2.1"));
}

TEST_F(DnsServerTest, TruncatedUdpRetriedOverTcp) {
  StartServer(ManyApps(60, 1));
  const std::string src = "fdaa:0:10:0:2:0:901:2";
  auto udp = Dig(src, "_instances.internal", "TXT", "+ignore +noedns");
  EXPECT_THAT(udp.flags, HasSubstr("tc")) << udp.raw;
  EXPECT_TRUE(udp.answers.empty());
  auto tcp = ParseDig(
      Shell("kdig +tcp -b " + src + " @fdaa::3 -p " + std::to_string(port_) + " _instances.internal TXT"));
  ASSERT_EQ(tcp.answers.size(), 1u) << tcp.raw;
  EXPECT_THAT(tcp.answers[0], HasSubstr("instance=00000000000000,app=app0,ip=fdaa:0:10:0:2:0:1:2,region=ams"));
  EXPECT_THAT(tcp.answers[0], HasSubstr("app=app59"));
  // dig's own retry (no +ignore) lands on TCP and gets everything.
  auto retried = Dig(src, "_instances.internal", "TXT");
  ASSERT_EQ(retried.answers.size(), 1u) << retried.raw;
  EXPECT_THAT(server_->MetricsText(), HasSubstr("privcast_dns_truncated_total 2"));
}

class CountingHook : public PrewarmHook {
 public:
  void OnFlycastLookup(const std::string& app, const std::string& service) override {
    std::lock_guard<std::mutex> g(mu);
    apps.push_back(service.empty() ? app : service + ".svc." + app);
  }
  std::vector<std::string> Apps() {
    std::lock_guard<std::mutex> g(mu);
    return apps;
  }
  std::mutex mu;
  std::vector<std::string> apps;
};

TEST_F(DnsServerTest, PrewarmRateLimitedPerApp) {
  CountingHook hook;
  ServerOptions o;
  o.prewarm_interval = std::chrono::hours(1);
  StartServer(TwoOrgs(), o, &hook);
  EXPECT_THAT(Dig(kAcmeClient, "idle.flycast", "AAAA").answers, ElementsAre("fdaa:0:10:0:1::3"));
  EXPECT_THAT(Dig(kAcmeClient, "idle.flycast", "AAAA").answers, ElementsAre("fdaa:0:10:0:1::3"));
  Dig(kAcmeClient, "web.flycast", "AAAA");   // has started machines: no pre-warm
  Dig(kBetaClient, "idle.flycast", "AAAA");  // not visible to beta: no pre-warm
  EXPECT_THAT(hook.Apps(), ElementsAre("idle"));
  std::string m = server_->MetricsText();
  EXPECT_THAT(m, HasSubstr("privcast_dns_prewarms_total 1"));
  EXPECT_THAT(m, HasSubstr("privcast_dns_prewarms_suppressed_total 1"));
}

TEST_F(DnsServerTest, PrewarmCanBeDisabled) {
  CountingHook hook;
  ServerOptions o;
  o.prewarm = false;
  StartServer(TwoOrgs(), o, &hook);
  EXPECT_THAT(Dig(kAcmeClient, "idle.flycast", "AAAA").answers, ElementsAre("fdaa:0:10:0:1::3"));
  EXPECT_TRUE(hook.Apps().empty());
}

// Raw client helpers.
UniqueFd UdpClient(const char* src) {
  UniqueFd fd(socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  inet_pton(AF_INET6, src, &a.sin6_addr);
  bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  timeval tv{2, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

sockaddr_in6 ServerAddr(uint16_t port) {
  sockaddr_in6 s{};
  s.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "fdaa::3", &s.sin6_addr);
  s.sin6_port = htons(port);
  return s;
}

TEST_F(DnsServerTest, MalformedPacketsNeverStall) {
  StartServer(TwoOrgs());
  UniqueFd c = UdpClient(kAcmeClient);
  sockaddr_in6 srv = ServerAddr(port_);
  auto send = [&](const std::vector<uint8_t>& b) {
    sendto(c.get(), b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&srv), sizeof srv);
  };
  std::vector<std::vector<uint8_t>> bad = {
      {},
      {1, 2, 3},
      {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 28, 0, 1},          // self-pointer
      {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xC0, 16, 0, 28, 0, 1},  // forward pointer
      {0x12, 0x34, 1, 0, 0, 9, 0, 9, 0, 9, 0, 9, 0},                              // counts without data
      {0x12, 0x34, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0},                              // a response
  };
  bad.push_back(std::vector<uint8_t>(5000, 0x3f));  // oversized
  for (const auto& b : bad) send(b);
  // Bad counts get FORMERR (drain replies until the one with the valid id below).
  auto q = MakeQuery("web.flycast", kTypeAAAA, true, 1232, 0x7777);
  send(q);
  bool formerr = false, answered = false;
  for (int i = 0; i < 10 && !answered; ++i) {
    uint8_t buf[2048];
    ssize_t n = recv(c.get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    Message m;
    if (!ParseMessage(buf, static_cast<size_t>(n), &m)) continue;
    if (m.header.rcode() == kFormErr) formerr = true;
    if (m.header.id == 0x7777) answered = m.answers.size() == 1;
  }
  EXPECT_TRUE(formerr);
  EXPECT_TRUE(answered);
  std::string metrics = server_->MetricsText();
  EXPECT_THAT(metrics, HasSubstr("privcast_dns_malformed_total 7"));
}

UniqueFd TcpClient(const char* src, uint16_t port) {
  UniqueFd fd(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  inet_pton(AF_INET6, src, &a.sin6_addr);
  bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  timeval tv{3, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in6 s = ServerAddr(port);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&s), sizeof s) != 0) fd.reset();
  return fd;
}

bool ReadFull(int fd, uint8_t* p, size_t n) {
  while (n) {
    ssize_t r = recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

TEST_F(DnsServerTest, TcpPipelineIdleTimeoutAndCap) {
  ServerOptions o;
  o.tcp_idle_timeout = std::chrono::seconds(10);
  o.max_tcp_connections = 2;
  o.clock = &clock_;  // the idle timeout passes when the test says so
  StartServer(TwoOrgs(), o);
  UniqueFd c = TcpClient(kAcmeClient, port_);
  ASSERT_TRUE(c);
  // Three queries in one write, answers in order.
  std::vector<uint8_t> out;
  const char* names[] = {"web.flycast", "api.flycast", "idle.flycast"};
  for (int i = 0; i < 3; ++i) {
    auto q = MakeQuery(names[i], kTypeAAAA, false, 0, static_cast<uint16_t>(100 + i));
    out.push_back(static_cast<uint8_t>(q.size() >> 8));
    out.push_back(static_cast<uint8_t>(q.size()));
    out.insert(out.end(), q.begin(), q.end());
  }
  ASSERT_EQ(send(c.get(), out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  const char* want[] = {"fdaa:0:10:0:1::1", "fdaa:0:10:0:1::2", "fdaa:0:10:0:1::3"};
  for (int i = 0; i < 3; ++i) {
    uint8_t len[2];
    ASSERT_TRUE(ReadFull(c.get(), len, 2));
    std::vector<uint8_t> m(static_cast<size_t>(len[0] << 8 | len[1]));
    ASSERT_TRUE(ReadFull(c.get(), m.data(), m.size()));
    Message msg;
    ASSERT_TRUE(ParseMessage(m.data(), m.size(), &msg));
    EXPECT_EQ(msg.header.id, 100 + i);
    ASSERT_EQ(msg.answers.size(), 1u);
    Ip6 a;
    std::copy(msg.answers[0].rdata.begin(), msg.answers[0].rdata.end(), a.b.begin());
    EXPECT_EQ(a.ToString(), want[i]);
  }
  // The cap: a second connection is served, a third is closed at once.
  UniqueFd c2 = TcpClient(kAcmeClient, port_);
  UniqueFd c3 = TcpClient(kAcmeClient, port_);
  ASSERT_TRUE(c2 && c3);
  uint8_t b;
  EXPECT_EQ(recv(c3.get(), &b, 1, 0), 0);  // EOF
  // Idle timeout: once 10 s pass on the server's clock, the first connection is closed by the
  // server (EOF, not the client's receive timeout).
  clock_.Advance(std::chrono::milliseconds(10'100));
  EXPECT_EQ(recv(c.get(), &b, 1, 0), 0);
  std::string m = server_->MetricsText();
  EXPECT_THAT(m, HasSubstr("privcast_dns_tcp_rejected_total 1"));
  EXPECT_THAT(m, HasSubstr("privcast_dns_tcp_idle_closed_total"));
}

TEST_F(DnsServerTest, StopWithPendingForwards) {
  FakeUpstream up;
  ServerOptions o;
  o.upstreams = {{"127.0.0.1", up.port()}};
  o.forward_timeout = std::chrono::seconds(30);
  StartServer(TwoOrgs(), o);
  UniqueFd c = UdpClient(kAcmeClient);
  sockaddr_in6 srv = ServerAddr(port_);
  auto q = MakeQuery("slow.example", kTypeA, false, 0, 0x4242);
  sendto(c.get(), q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&srv), sizeof srv);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (up.queries() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // wait for the event (bounded)
  ASSERT_EQ(up.queries(), 1);
  server_->Stop();
  uint8_t buf[512];
  ssize_t n = recv(c.get(), buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  Message m;
  ASSERT_TRUE(ParseMessage(buf, static_cast<size_t>(n), &m));
  EXPECT_EQ(m.header.id, 0x4242);
  EXPECT_EQ(m.header.rcode(), kServFail);
}

TEST_F(DnsServerTest, ResolvConfChangeIsPickedUp) {
  FakeUpstream up1(53);  // 127.0.0.1:53 answers 192.0.2.1
  ASSERT_TRUE(up1.ok());
  char dir[] = "/tmp/pc-dns-rc-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/resolv.conf";
  auto write_file = [&](const std::string& text) {  // atomic replace, like resolvconf does
    std::string tmp = path + ".tmp";
    std::ofstream(tmp) << text;
    ASSERT_EQ(rename(tmp.c_str(), path.c_str()), 0);
  };
  write_file("nameserver 127.0.0.1\n");
  ServerOptions o;
  o.resolv_conf = path;
  o.resolv_conf_check_interval = std::chrono::seconds(5);
  o.clock = &clock_;  // the check runs when the test moves the clock
  o.listen = {{"fdaa::3", 0}};
  auto s = Server::Create(o, nullptr);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  server_ = std::move(s.value());
  server_->Publish(TwoOrgs());
  ASSERT_TRUE(server_->Start().ok());
  port_ = server_->endpoints()[0].port;
  EXPECT_THAT(Dig(kAcmeClient, "a.example", "A").answers, ElementsAre("192.0.2.1"));
  // Now no nameserver at all: REFUSED once the change is seen (bounded wait).
  write_file("# nothing\n");
  clock_.Advance(std::chrono::seconds(5));  // the check is due: then wait for its effect
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!server_->upstreams().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(server_->upstreams().empty());
  EXPECT_EQ(Dig(kAcmeClient, "b.example", "A").status, "REFUSED");
  write_file("nameserver 127.0.0.1\n");
  clock_.Advance(std::chrono::seconds(5));
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server_->upstreams().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_THAT(Dig(kAcmeClient, "c.example", "A").answers, ElementsAre("192.0.2.1"));
  unlink(path.c_str());
  rmdir(dir);
}

ServerOptions ForwardingTo(const FakeUpstream& up, std::chrono::milliseconds timeout) {
  ServerOptions o;
  o.upstreams = {{"127.0.0.1", up.port()}};
  o.forward_timeout = timeout;
  return o;
}

// Sends `name` from `c` and returns the reply with that id (other replies are skipped);
// the socket's 2 s receive timeout bounds the wait. rcode -1: no reply.
int AskRcode(int c, uint16_t port, const std::string& name, uint16_t id) {
  sockaddr_in6 srv = ServerAddr(port);
  auto q = MakeQuery(name, kTypeA, false, 0, id);
  sendto(c, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&srv), sizeof srv);
  for (;;) {
    uint8_t buf[1500];
    ssize_t n = recv(c, buf, sizeof buf, 0);
    if (n <= 0) return -1;
    Message m;
    if (ParseMessage(buf, static_cast<size_t>(n), &m) && m.header.id == id) return m.header.rcode();
  }
}

// The metrics as the loop has them now (MetricsText waits for the loop to publish its
// per-network figures: no polling). `needle` and `clock` are kept for the call sites' clarity.
std::string WaitMetrics(Server& s, const std::string& /*needle*/, FakeClock* /*clock*/ = nullptr) {
  return s.MetricsText();
}

// One network flooding names whose upstream never answers used to fill
// the shared pending table, and every other network got SERVFAIL. Now beta's flood is held
// to beta's in-flight quota (REFUSED beyond it) and acme keeps resolving.
TEST_F(DnsServerTest, FloodingNetworkSpendsOnlyItsOwnForwardBudget) {
  FakeUpstream up;
  FakeClock& clock = clock_;  // frozen: nothing times out, so in-flight counts are exact
  ServerOptions o = ForwardingTo(up, std::chrono::seconds(60));
  o.max_pending_forwards = 8;
  o.forward_inflight_per_network = 4;
  o.forward_qps_per_network = 0;
  o.clock = &clock;
  StartServer(TwoOrgs(), o);
  UniqueFd b = UdpClient(kBetaClient);
  sockaddr_in6 srv = ServerAddr(port_);
  for (int i = 0; i < 10; ++i) {
    auto q = MakeQuery("slow" + std::to_string(i) + ".example", kTypeA, false, 0, static_cast<uint16_t>(100 + i));
    sendto(b.get(), q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&srv), sizeof srv);
  }
  int refused = 0;
  for (int i = 0; i < 6; ++i) {
    uint8_t buf[1500];
    ssize_t n = recv(b.get(), buf, sizeof buf, 0);
    Message m;
    if (n > 0 && ParseMessage(buf, static_cast<size_t>(n), &m) && m.header.rcode() == kRefused) ++refused;
  }
  EXPECT_EQ(refused, 6);
  UniqueFd a = UdpClient(kAcmeClient);
  EXPECT_EQ(AskRcode(a.get(), port_, "www.example", 0x4141), kNoError);
  EXPECT_EQ(up.queries(), 5);  // beta's 4 in flight and acme's one
  std::string m = WaitMetrics(*server_, "limit=\"inflight\"", &clock);
  EXPECT_THAT(m, HasSubstr(
                     "privcast_dns_forward_refused_by_network_total{network=\"fdaa:0:20::/48\",limit=\"inflight\"} 6"));
  EXPECT_THAT(m, HasSubstr("privcast_dns_forward_refused_total 6"));
  EXPECT_THAT(m, HasSubstr("privcast_dns_queries_total{type=\"A\",rcode=\"REFUSED\"} 6"));
  EXPECT_THAT(m, ::testing::Not(HasSubstr("fdaa:0:10::/48")));
}

TEST_F(DnsServerTest, ForwardRateLimitPerNetwork) {
  FakeUpstream up;
  FakeClock& clock = clock_;
  ServerOptions o;
  o.upstreams = {{"127.0.0.1", up.port()}};
  o.forward_qps_per_network = 5;
  o.clock = &clock;
  StartServer(TwoOrgs(), o);
  UniqueFd b = UdpClient(kBetaClient);
  int ok = 0, refused = 0;
  for (int i = 0; i < 8; ++i) {
    int r = AskRcode(b.get(), port_, "b" + std::to_string(i) + ".example", static_cast<uint16_t>(200 + i));
    if (r == kNoError) ++ok;
    if (r == kRefused) ++refused;
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(refused, 3);
  UniqueFd a = UdpClient(kAcmeClient);
  EXPECT_EQ(AskRcode(a.get(), port_, "a.example", 0x4242), kNoError);  // acme's own bucket
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(AskRcode(b.get(), port_, "b-later.example", 0x4343), kNoError);
  EXPECT_THAT(WaitMetrics(*server_, "limit=\"rate\"", &clock),
              HasSubstr("privcast_dns_forward_refused_by_network_total{network=\"fdaa:0:20::/48\",limit=\"rate\"} 3"));
}

TEST_F(DnsServerTest, NegativeAndServFailAnswersCachedPerNetwork) {
  FakeUpstream up;
  StartServer(TwoOrgs(), ForwardingTo(up, std::chrono::milliseconds(200)));
  UniqueFd a = UdpClient(kAcmeClient);
  EXPECT_EQ(AskRcode(a.get(), port_, "nx1.example", 1), kNxDomain);
  int seen = up.queries();
  EXPECT_EQ(AskRcode(a.get(), port_, "NX1.example", 2), kNxDomain);
  EXPECT_EQ(up.queries(), seen);  // from the cache
  UniqueFd b = UdpClient(kBetaClient);
  EXPECT_EQ(AskRcode(b.get(), port_, "nx1.example", 3), kNxDomain);
  EXPECT_EQ(up.queries(), seen + 1);                                  // beta never sees acme's cache
  EXPECT_EQ(AskRcode(a.get(), port_, "slow.example", 4), kServFail);  // timed out
  seen = up.queries();
  EXPECT_EQ(AskRcode(a.get(), port_, "slow.example", 5), kServFail);
  EXPECT_EQ(up.queries(), seen);
  std::string m = server_->MetricsText();
  EXPECT_THAT(m, HasSubstr("privcast_dns_cache_hits_total 2"));
}

TEST(DnsResolvConfTest, Parse) {
  auto v = ParseResolvConf(
      "# c\nnameserver 10.0.0.1\nnameserver  ::1\nsearch x\nnameserver bogus\n"
      "nameserver 10.0.0.2\nnameserver 10.0.0.3\n");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].ip, "10.0.0.1");
  EXPECT_EQ(v[1].ip, "::1");
  EXPECT_EQ(v[2].ip, "10.0.0.2");
  EXPECT_EQ(v[2].port, 53);
}

}  // namespace
}  // namespace privcast::dns
