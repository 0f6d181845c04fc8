// Root integration tests of the proxy engine: the Proxy runs in-process inside a private
// network namespace (test_util.h) with a hand-built Snapshot, real backends on 127.0.0.x and
// real clients bound to 6PN-style source addresses on lo.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <sstream>
#include <tuple>

#include "common/service_scope.h"
#include "proxy/http_session.h"
#include "proxy/proxy.h"
#include "test_util.h"

namespace privcast::proxy {
namespace {

using namespace privcast::proxy::testing;
using namespace std::chrono_literals;

constexpr uint32_t kLo1 = 0x7f000001;  // 127.0.0.1
constexpr uint32_t kLo2 = 0x7f000002;
constexpr uint32_t kLo3 = 0x7f000003;

class FakeWaker : public MachineWaker {
 public:
  std::function<bool(const std::string&)> on_wake;  // returns success
  std::chrono::milliseconds delay{50};
  std::atomic<int> wakes{0};
  std::function<void()> on_call;  // runs on the worker's thread, inside Wake()
  ~FakeWaker() override { Join(); }
  void Join() {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  void Wake(const std::string& id, uint16_t, Poster* reply_to, std::function<void(Status)> done) override {
    wakes++;
    if (on_call) on_call();
    std::lock_guard<std::mutex> l(mu_);
    threads_.emplace_back([this, id, reply_to, done] {
      std::this_thread::sleep_for(delay);
      bool ok = on_wake ? on_wake(id) : true;
      reply_to->Post([done, ok] { done(ok ? Status::Ok() : Unavailable("start failed")); });
    });
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

class FakeStopper : public MachineStopper {
 public:
  void Stop(const std::string& id, bool suspend, const std::string& reason) override {
    std::lock_guard<std::mutex> l(mu);
    stops.push_back(id + (suspend ? " suspend " : " stop ") + reason);
  }
  std::mutex mu;
  std::vector<std::string> stops;
};

// Every test runs twice: writes batched through io_uring (the default) and one send() per
// write (batch_sends = false, and what hosts without io_uring get).
class ProxyIT : public ::testing::TestWithParam<bool> {
 protected:
  static void SetUpTestSuite() { ok_ = EnterTestNetns(&why_); }
  void SetUp() override {
    if (!ok_) GTEST_SKIP() << why_;
  }
  std::unique_ptr<Proxy> Make(ProxyOptions o = {}, int workers = 2, Clock* clock = RealClock::Get()) {
    o.workers = workers;
    o.autostop_thread = false;
    o.batch_sends = GetParam();
    auto p = std::make_unique<Proxy>(o, &waker_, &stopper_, clock);
    p->SetEventCallback([this](const ProxyEvent& e) {
      std::lock_guard<std::mutex> l(ev_mu_);
      events_.push_back(e.message);
    });
    return p;
  }
  bool Up(Proxy& p, SnapshotPtr s, uint16_t port, int workers = 2) {
    p.Publish(s);
    if (!p.Start().ok()) return false;
    return WaitFor([&] { return Listening(port) == workers; });
  }
  std::vector<std::string> Events() {
    std::lock_guard<std::mutex> l(ev_mu_);
    return events_;
  }
  static inline bool ok_ = false;
  static inline std::string why_;
  FakeWaker waker_;
  FakeStopper stopper_;
  std::mutex ev_mu_;
  std::vector<std::string> events_;
};

INSTANTIATE_TEST_SUITE_P(Writes, ProxyIT, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "Batched" : "Direct"; });

const std::string kGet = "GET / HTTP/1.1\r\nHost: web.flycast\r\n\r\n";

// True when the peer reset the connection (seen by send or by recv, whichever comes first).
bool GotReset(int fd) {
  if (fd == -ECONNRESET) return true;  // Dial's connect() already saw the reset
  if (fd < 0) return false;
  if (::send(fd, kGet.data(), kGet.size(), MSG_NOSIGNAL) < 0) return errno == ECONNRESET || errno == EPIPE;
  char buf[64];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n < 0 && errno == ECONNRESET;
}

TEST_P(ProxyIT, AdmitsOwnNetworkRefusesOthersWithReset) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  ASSERT_TRUE(be.ok());
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));

  int st = 0;
  std::string r = Request(kClientNet1, 80, kGet, &st);
  EXPECT_EQ(st, 200);
  EXPECT_EQ(BodyOf(r), "m1");

  // Another network: the handshake completes in the kernel, then the proxy resets at once
  // (so quickly that connect() itself may report it).
  int fd = Dial(kClientNet2, kFlycast, 80);
  EXPECT_TRUE(GotReset(fd));
  if (fd >= 0) ::close(fd);

  // An address that is not an allocated flycast address: reset too.
  fd = Dial(kClientNet1, kFlycastUnknown, 80);
  EXPECT_TRUE(GotReset(fd));
  if (fd >= 0) ::close(fd);

  EXPECT_TRUE(WaitFor([&] {
    return p->RenderMetrics().find("privcast_proxy_admission_refused_total{app=\"web\",source_network=\"2\"} 1") !=
           std::string::npos;
  })) << p->RenderMetrics();
  EXPECT_EQ(be.requests.load(), 1);
}

// A per-service address (ADR 0013): routed only to its service's machines, admitting only its
// service's ports, counted per service.
TEST_P(ProxyIT, PerServiceAddressRoutesOnlyToThatServicesMachines) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend web(kLo1, bp, "web");
  HttpBackend api(kLo2, bp, "api");
  ASSERT_TRUE(web.ok() && api.ok());
  ServiceSpec both = HttpService(80, bp);  // serves every group
  ServiceSpec web_only = HttpService(81, bp);
  web_only.processes = {"web"};
  auto snap = std::make_shared<Snapshot>(*MakeSnapshot(1, both, {{"m-web", kLo1}, {"m-api", kLo2}}));
  snap->machines[0].process_group = "web";
  snap->machines[1].process_group = "api";
  snap->apps[0].services.push_back(web_only);
  snap->apps[0].process_groups = {"api", "web"};
  snap->flycast[0].service = "api";
  snap->flycast[0].services = *ServiceScope(snap->apps[0].services, snap->apps[0].process_groups, "api");
  auto p = Make();
  ASSERT_TRUE(Up(*p, snap, 80));
  for (int i = 0; i < 10; ++i) {
    int st = 0;
    EXPECT_EQ(BodyOf(Request(kClientNet1, 80, kGet, &st)), "api");
    EXPECT_EQ(st, 200);
  }
  // Port 81 belongs to a service of the app that does not serve api: reset on this address.
  EXPECT_TRUE(WaitFor([&] {
    int fd = Dial(kClientNet1, kFlycast, 81);
    bool reset = GotReset(fd);
    if (fd >= 0) ::close(fd);
    return reset;
  }));
  EXPECT_EQ(web.requests.load(), 0);
  const std::string m = p->RenderMetrics();
  EXPECT_NE(m.find("privcast_proxy_service_connections_total{app=\"web\",service=\"api\"} 10"), std::string::npos) << m;
  EXPECT_NE(m.find("privcast_proxy_service_admission_refused_total{app=\"web\",service=\"api\"} "), std::string::npos)
      << m;
}

TEST_P(ProxyIT, ReleasingTheAddressStopsNewConnections) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  auto p = Make();
  auto snap = MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}});
  ASSERT_TRUE(Up(*p, snap, 80));
  // Same app, no flycast entry any more (but another app keeps port 80 open).
  auto s2 = std::make_shared<Snapshot>(*snap);
  s2->revision = 2;
  s2->flycast.clear();
  s2->apps[0].flycast.clear();
  AppView other = s2->apps[0];
  other.name = "other";
  other.machines.clear();
  other.flycast = {0};
  s2->apps.push_back(other);
  FlycastEntry fe;
  fe.address = *Ip6::Parse("fdaa:0:1:0:1::7");
  fe.net32 = kNet1;
  fe.app_index = 1;
  s2->flycast.push_back(fe);
  s2->Index();
  p->Publish(s2);
  EXPECT_TRUE(WaitFor([&] {
    int fd = Dial(kClientNet1, kFlycast, 80);
    bool reset = GotReset(fd);
    if (fd >= 0) ::close(fd);
    return reset;
  }));
}

TEST_P(ProxyIT, FlyHeadersReachTheAppAndComeBack) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));
  int st = 0;
  std::string r = Request(kClientNet1, 80,
                          "GET /headers HTTP/1.1\r\nHost: web.flycast\r\nFly-Client-IP: 6.6.6.6\r\n"
                          "X-Forwarded-For: 10.0.0.1\r\n\r\n",
                          &st);
  ASSERT_EQ(st, 200);
  std::string head = BodyOf(r);
  EXPECT_EQ(HeaderValue("x\r\n" + head, "Fly-Client-IP"), kClientNet1) << head;
  EXPECT_EQ(HeaderValue("x\r\n" + head, "X-Forwarded-For"), std::string("10.0.0.1, ") + kClientNet1) << head;
  EXPECT_EQ(HeaderValue("x\r\n" + head, "Fly-Region"), "ams");
  EXPECT_EQ(HeaderValue("x\r\n" + head, "X-Forwarded-Port"), "80");
  EXPECT_EQ(HeaderValue("x\r\n" + head, "Fly-Forwarded-Port"), "80");
  EXPECT_EQ(HeaderValue("x\r\n" + head, "X-Forwarded-Proto"), "http");
  EXPECT_EQ(HeaderValue("x\r\n" + head, "Via"), "1.1 privcast");
  EXPECT_FALSE(HeaderValue("x\r\n" + head, "X-Request-Start").empty());
  std::string rid = HeaderValue("x\r\n" + head, "Fly-Request-Id");
  EXPECT_EQ(rid.size(), 26u);
  EXPECT_EQ(HeaderValue(r, "Fly-Request-Id"), rid);
  EXPECT_EQ(HeaderValue(r, "Server"), "privcast");
}

TEST_P(ProxyIT, KeepAliveBothSidesReusesAppConnections) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));
  int fd = Dial(kClientNet1, kFlycast, 80);
  ASSERT_GE(fd, 0);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(SendAll(fd, kGet));
    int st = 0;
    EXPECT_EQ(BodyOf(ReadResponse(fd, &st)), "m1");
    EXPECT_EQ(st, 200);
  }
  // Pipelined: three requests in one write, three responses in order.
  ASSERT_TRUE(SendAll(fd,
                      "GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nA"
                      "GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nB"
                      "GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nC"));
  EXPECT_EQ(BodyOf(ReadResponse(fd)), "A");
  EXPECT_EQ(BodyOf(ReadResponse(fd)), "B");
  EXPECT_EQ(BodyOf(ReadResponse(fd)), "C");
  ::close(fd);
  EXPECT_EQ(be.connections.load(), 1);
  EXPECT_EQ(be.requests.load(), 23);
  EXPECT_TRUE(WaitFor([&] { return p->MachineLoad("m1") == 0; }));
}

TEST_P(ProxyIT, ChunkedAndLargeBodiesStream) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));
  int fd = Dial(kClientNet1, kFlycast, 80);
  ASSERT_GE(fd, 0);
  SendAll(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n");
  std::this_thread::sleep_for(10ms);  // a second TCP segment, not synchronisation
  SendAll(fd, "3\r\nefg\r\n0\r\n\r\n");
  int st = 0;
  EXPECT_EQ(BodyOf(ReadResponse(fd, &st)), "abcdefg");
  EXPECT_EQ(st, 200);
  SendAll(fd, "GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string r = ReadResponse(fd, &st);
  EXPECT_EQ(HeaderValue(r, "Transfer-Encoding"), "chunked");
  EXPECT_EQ(BodyOf(r), "hello world!");
  // 4 MiB content-length body both ways (bigger than every buffer).
  std::string big(4 << 20, 'x');
  std::mt19937 rng(7);
  for (auto& c : big) c = static_cast<char>('a' + rng() % 26);
  std::thread sender([&] {
    SendAll(fd, "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: " +
                    std::to_string(big.size()) + "\r\n\r\n" + big);
  });
  r = ReadResponse(fd, &st);
  sender.join();
  EXPECT_EQ(st, 200);
  EXPECT_TRUE(BodyOf(r) == big);
  ::close(fd);
}

TEST_P(ProxyIT, ASlowReaderGetsALargeResponseWhole) {
  // A client with a tiny receive window: the proxy's socket to it fills long before 16 MiB are
  // through, so the rest goes out only on EPOLLOUT edges (registered once the first write
  // comes up short), and the app side waits meanwhile (backpressure, nothing buffered whole).
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));
  int fd = BoundSocket(kClientNet1);
  ASSERT_GE(fd, 0);
  int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);  // before connect: sets the window
  ASSERT_EQ(Connect(fd, kFlycast, 80), 0);
  const size_t n = 16 << 20;
  ASSERT_TRUE(SendAll(fd, "GET /big/" + std::to_string(n) + " HTTP/1.1\r\nHost: a\r\n\r\n"));
  int st = 0;
  std::string r = ReadResponse(fd, &st);
  EXPECT_EQ(st, 200);
  std::string body = BodyOf(r);
  ASSERT_EQ(body.size(), n);
  bool intact = true;
  for (size_t i = 0; i < n && intact; ++i) intact = body[i] == static_cast<char>('a' + i % 26);
  EXPECT_TRUE(intact);
  // The connection is still good for the next request.
  ASSERT_TRUE(SendAll(fd, kGet));
  EXPECT_EQ(BodyOf(ReadResponse(fd, &st)), "m1");
  ::close(fd);
}

// The TCP flags of every segment with a payload sent from `sport` to `dport` on lo, read from an
// AF_PACKET capture (lo frames: a 14-byte zero Ethernet header, IPv6, TCP).
std::vector<uint8_t> PayloadSegmentFlags(int cap, uint16_t sport, uint16_t dport) {
  std::vector<uint8_t> flags;
  unsigned char f[2048];
  for (;;) {
    ssize_t n = ::recv(cap, f, sizeof f, MSG_DONTWAIT);
    if (n < 0) break;
    if (n < 14 + 40 + 20 || f[12] != 0x86 || f[13] != 0xdd || f[14 + 6] != IPPROTO_TCP) continue;
    const unsigned char* t = f + 14 + 40;
    size_t ip_payload = (size_t{f[14 + 4]} << 8) | f[14 + 5];
    size_t tcp_header = (t[12] >> 4) * 4u;
    uint16_t sp = static_cast<uint16_t>((t[0] << 8) | t[1]), dp = static_cast<uint16_t>((t[2] << 8) | t[3]);
    if (sp == sport && dp == dport && ip_payload > tcp_header) flags.push_back(t[13]);
  }
  return flags;
}

TEST_P(ProxyIT, ALastResponseLeavesWithTheFin) {
  // Connection: close → the response's last bytes are sent with MSG_MORE and leave in the
  // same segment as the FIN of the close that follows (one segment, one client wakeup).
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));
  int cap = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  ASSERT_GE(cap, 0) << std::strerror(errno);
  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ALL);
  ll.sll_ifindex = static_cast<int>(::if_nametoindex("lo"));
  ASSERT_EQ(::bind(cap, reinterpret_cast<sockaddr*>(&ll), sizeof ll), 0);
  for (bool keep_alive : {true, false}) {
    int fd = Dial(kClientNet1, kFlycast, 80);
    ASSERT_GE(fd, 0);
    sockaddr_in6 me{};
    socklen_t len = sizeof me;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len);
    ASSERT_TRUE(SendAll(fd, keep_alive ? kGet : "GET / HTTP/1.1\r\nHost: web.flycast\r\nConnection: close\r\n\r\n"));
    int st = 0;
    std::string r = ReadResponse(fd, &st);
    EXPECT_EQ(st, 200);
    EXPECT_EQ(BodyOf(r), "m1");
    if (!keep_alive) {
      char c;
      EXPECT_EQ(::recv(fd, &c, 1, 0), 0);  // the FIN came (ReadResponse stops at Content-Length)
    }
    std::vector<uint8_t> segs = PayloadSegmentFlags(cap, 80, ntohs(me.sin6_port));
    ASSERT_FALSE(segs.empty());
    constexpr uint8_t kFin = 0x01;
    EXPECT_EQ((segs.back() & kFin) != 0, !keep_alive) << (keep_alive ? "keep-alive" : "close");
    ::close(fd);
  }
  ::close(cap);
}

// A client's `Connection: close` (or HTTP/1.0, or a keep-alive client that
// hangs up) ends the client connection, not the app connection. In both concurrency modes the
// app connection goes back to the pool, the app never sees the client's close, and the proxy
// never leaves an app connection in TIME-WAIT (the daemon ran out of ephemeral ports with
// 16 599 of them after 5 s of new-connection-per-request load).
TEST_P(ProxyIT, ClientsThatCloseLeaveTheAppConnectionPooled) {
  constexpr uint32_t kBe = 0x7f000009;  // 127.0.0.9: this test's own backend address
  const std::string kClose = "GET / HTTP/1.1\r\nHost: web.flycast\r\nConnection: close\r\n\r\n";
  const std::string kHttp10 = "GET / HTTP/1.0\r\nHost: web.flycast\r\n\r\n";
  const std::string kSlowClose = "GET /slow HTTP/1.1\r\nHost: web.flycast\r\nConnection: close\r\n\r\n";
  for (ConcurrencyType type : {ConcurrencyType::kConnections, ConcurrencyType::kRequests}) {
    SCOPED_TRACE(type == ConcurrencyType::kConnections ? "connections concurrency" : "requests concurrency");
    uint16_t bp = FreePort(kBe);
    HttpBackend be(kBe, bp, "m1");
    ASSERT_TRUE(be.ok());
    ProxyOptions o;
    o.upstream_pool_per_machine = 2;
    auto p = Make(o);  // two workers, each with its own pool
    ServiceSpec svc = HttpService(80, bp);
    svc.concurrency = type;
    ASSERT_TRUE(Up(*p, MakeSnapshot(1, svc, {{"m1", kBe}}), 80));

    // One client at a time, one request each: close, HTTP/1.0, keep-alive then hang up.
    constexpr int kClients = 30;
    for (int i = 0; i < kClients; ++i) {
      int kind = i % 3;
      int fd = Dial(kClientNet1, kFlycast, 80);
      ASSERT_GE(fd, 0);
      ASSERT_TRUE(SendAll(fd, kind == 0 ? kClose : kind == 1 ? kHttp10 : kGet));
      int st = 0;
      EXPECT_EQ(BodyOf(ReadResponse(fd, &st)), "m1");
      EXPECT_EQ(st, 200);
      if (kind != 2) {
        char c;
        EXPECT_EQ(::recv(fd, &c, 1, 0), 0) << "the client's connection ends after its response";
      }
      std::string head = be.LastHead();
      std::transform(head.begin(), head.end(), head.begin(), ::tolower);
      EXPECT_EQ(head.find("connection: close"), std::string::npos) << head;
      if (kind == 1) {
        EXPECT_NE(head.find("connection: keep-alive"), std::string::npos) << head;
      }
      ::close(fd);
      // The session is gone, so its app connection is back in its worker's pool.
      ASSERT_TRUE(WaitFor([&] { return p->OpenConnections() == 0; }));
    }
    EXPECT_EQ(be.requests.load(), kClients);
    EXPECT_LE(be.connections.load(), 2) << "at most one app connection per worker";

    // Six at once, held by the app until all six are there: six app connections, then more
    // idle ones than the pools keep (2 per worker): the proxy closes the rest.
    std::vector<std::future<int>> fs;
    for (int i = 0; i < 6; ++i)
      fs.push_back(std::async(std::launch::async, [&] {
        int fd = Dial(kClientNet1, kFlycast, 80);
        int st = 0;
        if (fd >= 0 && SendAll(fd, kSlowClose)) ReadResponse(fd, &st);
        if (fd >= 0) ::close(fd);
        return st;
      }));
    ASSERT_TRUE(WaitFor([&] { return be.requests.load() == kClients + 6; }));
    be.Release();
    for (auto& f : fs) EXPECT_EQ(f.get(), 200);
    ASSERT_TRUE(WaitFor([&] { return p->OpenConnections() == 0; }));
    p.reset();  // and the pooled ones go with the proxy
    EXPECT_EQ(ClosedFirstTowards(kBe, bp), 0) << "app connections the proxy closed first (TIME-WAIT & co)";
  }
}

TEST_P(ProxyIT, MalformedTooLargeAndStalledHeads) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  ProxyOptions o;
  o.header_timeout = 200ms;
  auto p = Make(o);
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));
  int st = 0;
  Request(kClientNet1, 80, "GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n", &st);
  EXPECT_EQ(st, 400);
  st = 0;
  Request(kClientNet1, 80, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(20000, 'b') + "\r\n\r\n", &st);
  EXPECT_EQ(st, 431);
  int fd = Dial(kClientNet1, kFlycast, 80);
  SendAll(fd, "GET / HTTP/1.1\r\nHost: a\r\n");
  st = 0;
  ReadResponse(fd, &st);
  EXPECT_EQ(st, 408);
  ::close(fd);
  // The worker keeps serving everyone else.
  st = 0;
  EXPECT_EQ(BodyOf(Request(kClientNet1, 80, kGet, &st)), "m1");
  EXPECT_EQ(be.requests.load(), 1);
}

TEST_P(ProxyIT, ForceHttpsRedirects) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  auto svc = HttpService(80, bp);
  svc.ports[0].force_https = true;
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, svc, {{"m1", kLo1}}), 80));
  int st = 0;
  std::string r = Request(kClientNet1, 80, "GET /x?y=1 HTTP/1.1\r\nHost: web.flycast\r\n\r\n", &st);
  EXPECT_EQ(st, 301);
  EXPECT_EQ(HeaderValue(r, "Location"), "https://web.flycast/x?y=1");
}

TEST_P(ProxyIT, HardLimitQueuesThen503) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  auto svc = HttpService(80, bp);
  svc.soft_limit = 1;
  svc.hard_limit = 1;
  ProxyOptions o;
  o.queue_timeout = 300ms;
  auto p = Make(o);
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, svc, {{"m1", kLo1}}), 80));
  auto slow = std::async(std::launch::async, [] {
    int st = 0;
    Request(kClientNet1, 80, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n", &st);
    return st;
  });
  ASSERT_TRUE(WaitFor([&] { return p->MachineLoad("m1") == 1; }));
  int st = 0;
  std::string r = Request(kClientNet1, 80, kGet, &st);
  EXPECT_EQ(st, 503);
  EXPECT_EQ(HeaderValue(r, "Retry-After"), "1");
  // A queued request is served as soon as capacity frees up.
  auto queued = std::async(std::launch::async, [] {
    int s = 0;
    Request(kClientNet1, 80, kGet, &s);
    return s;
  });
  ASSERT_TRUE(WaitFor(
      [&] { return p->RenderMetrics().find("privcast_proxy_queue_depth{app=\"web\"} 1") != std::string::npos; }));
  be.Release();
  EXPECT_EQ(slow.get(), 200);
  EXPECT_EQ(queued.get(), 200);
}

TEST_P(ProxyIT, ColdStartWakesOnceAndServesEveryoneWithZero5xx) {
  uint16_t bp = FreePort(kLo1);
  std::unique_ptr<HttpBackend> be;
  std::mutex mu;
  waker_.delay = 100ms;
  waker_.on_wake = [&](const std::string&) {
    std::lock_guard<std::mutex> l(mu);
    if (!be) be = std::make_unique<HttpBackend>(kLo1, bp, "woken");
    return be->ok();
  };
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1, MachineRunState::kStopped}}), 80));
  std::vector<std::future<std::tuple<int, std::string, std::string>>> fs;
  for (int i = 0; i < 30; ++i)
    fs.push_back(std::async(std::launch::async, [] {
      int st = 0;
      std::string why;
      std::string r = Request(kClientNet1, 80, kGet, &st, &why);
      return std::make_tuple(st, BodyOf(r), why);
    }));
  for (auto& f : fs) {
    auto [st, body, why] = f.get();
    EXPECT_EQ(st, 200) << why;
    EXPECT_EQ(body, "woken");
  }
  // Seen once in CI (ASan phase): every request without a response and no wake. Say what the
  // proxy saw if it happens again.
  if (HasFailure()) ADD_FAILURE() << p->RenderMetrics();
  EXPECT_GE(waker_.wakes.load(), 1);
  EXPECT_LE(waker_.wakes.load(), 2);  // one per worker at most; the daemon coalesces those
  waker_.Join();
  auto ev = Events();
  bool starting = false, started = false;
  for (auto& e : ev) {
    starting |= e == "Starting machine m1";
    started |= e.rfind("machine m1 started in ", 0) == 0;
  }
  EXPECT_TRUE(starting);
  EXPECT_TRUE(started);
  EXPECT_NE(p->RenderMetrics().find("privcast_proxy_wake_seconds_count{app=\"web\"}"), std::string::npos);
  p.reset();
  std::lock_guard<std::mutex> l(mu);
  be.reset();
}

TEST_P(ProxyIT, WakeFailureFailsOverThen503) {
  uint16_t bp = FreePort(kLo1);
  waker_.delay = 10ms;
  waker_.on_wake = [](const std::string&) { return false; };
  auto p = Make();
  ASSERT_TRUE(Up(*p,
                 MakeSnapshot(1, HttpService(80, bp),
                              {{"m1", kLo1, MachineRunState::kStopped}, {"m2", kLo2, MachineRunState::kSuspended}}),
                 80));
  int st = 0;
  Request(kClientNet1, 80, kGet, &st);
  EXPECT_EQ(st, 503);
  waker_.Join();
  EXPECT_EQ(waker_.wakes.load(), 2);  // tried m1, then m2
}

TEST_P(ProxyIT, ConnectFailureRetriesAnotherMachine) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "good");
  auto p = Make();
  // m-dead has nothing listening; every request must still succeed.
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m-dead", kLo3}, {"m-good", kLo1}}), 80));
  for (int i = 0; i < 20; ++i) {
    int st = 0;
    EXPECT_EQ(BodyOf(Request(kClientNet1, 80, kGet, &st)), "good");
    EXPECT_EQ(st, 200);
  }
}

// Fly-Replay (proxy/replay.h): the answer asking for a replay never reaches the client; the
// request (with its body) does reach the other machine, with fly-replay-src.
TEST_P(ProxyIT, FlyReplayResendsTheRequestElsewhere) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend a(kLo1, bp, "a");
  HttpBackend b(kLo2, bp, "b");
  ASSERT_TRUE(a.ok() && b.ok());
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m-a", kLo1}, {"m-b", kLo2}}), 80));
  for (int i = 0; i < 6; ++i) {
    int st = 0;
    std::string r = Request(kClientNet1, 80,
                            "POST /replay HTTP/1.1\r\nHost: web.flycast\r\nx-replay: elsewhere=true;state=s\r\n"
                            "Content-Length: 5\r\n\r\nhello",
                            &st);
    EXPECT_EQ(st, 200) << r;
    std::string body = BodyOf(r);
    ASSERT_GE(body.size(), 2u) << r;
    std::string other = body[0] == 'a' ? "m-b" : "m-a";  // the machine that asked
    EXPECT_EQ(body.find(body.substr(0, 1) + "|instance=" + other + ";region="), 0u) << body;
    EXPECT_NE(body.find(";state=s|hello"), std::string::npos) << body;
    EXPECT_EQ(r.find("fly-replay:"), std::string::npos) << r;
    EXPECT_EQ(r.find("asked"), std::string::npos) << r;
  }
  int st = 0;
  std::string r =
      Request(kClientNet1, 80,
              "GET /replay HTTP/1.1\r\nHost: web.flycast\r\nx-replay: instance=m-a\r\nx-replay-always: 1\r\n\r\n", &st);
  EXPECT_EQ(st, 502) << r;  // a loop ends
  EXPECT_NE(r.find("Privcast-Replay-Error: too many replays"), std::string::npos) << r;
  EXPECT_NE(p->RenderMetrics().find("privcast_proxy_replays_total 11\n"), std::string::npos);  // 6 + 5 (the loop)
}

TEST_P(ProxyIT, WebSocketUpgradeTunnels) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));
  int fd = Dial(kClientNet1, kFlycast, 80);
  SendAll(fd,
          "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  int st = 0;
  std::string head = ReadResponse(fd, &st);
  EXPECT_EQ(st, 101);
  EXPECT_EQ(HeaderValue(head, "Upgrade"), "websocket");
  for (int i = 0; i < 3; ++i) {
    std::string msg = "frame-" + std::to_string(i);
    SendAll(fd, msg);
    std::string got;
    char buf[64];
    while (got.size() < msg.size()) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    EXPECT_EQ(got, msg);
  }
  ::shutdown(fd, SHUT_WR);
  char c;
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0);  // half-close propagated, app closed its side
  ::close(fd);
}

void TcpRoundTrip(bool splice) {
  uint16_t bp = FreePort(kLo1);
  EchoBackend be(kLo1, bp);
  FakeWaker w;
  FakeStopper s;
  ProxyOptions o;
  o.workers = 2;
  o.autostop_thread = false;
  o.splice = splice;
  Proxy p(o, &w, &s);
  p.Publish(MakeSnapshot(1, TcpService(5432, bp), {{"m1", kLo1}}));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return Listening(5432) == 2; }));
  std::string data(3 << 20, 0);
  std::mt19937 rng(3);
  for (auto& c : data) c = static_cast<char>(rng());
  int fd = Dial(kClientNet1, kFlycast, 5432);
  ASSERT_GE(fd, 0);
  std::thread sender([&] {
    SendAll(fd, data);
    ::shutdown(fd, SHUT_WR);  // half-close: the app sees EOF, then answers
  });
  std::string got;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  sender.join();
  ::close(fd);
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
  EXPECT_TRUE(WaitFor([&] { return p.OpenConnections() == 0 && p.MachineLoad("m1") == 0; }));
}

TEST_P(ProxyIT, RawTcpSpliceRelaysExactlyWithHalfClose) { TcpRoundTrip(true); }
TEST_P(ProxyIT, RawTcpCopyRelaysExactlyWithHalfClose) { TcpRoundTrip(false); }

TEST_P(ProxyIT, ProxyProtocolV1AndV2ParsedByNginx) {
  ProxyProtocolNginx nginx;
  ServiceSpec svc = TcpService(8001, nginx.port);
  PortSpec v2 = svc.ports[0];
  v2.start_port = v2.end_port = 8002;
  v2.proxy_proto = true;
  v2.proxy_proto_version = 2;
  svc.ports[0].proxy_proto = true;
  svc.ports.push_back(v2);
  auto p = Make();
  p->Publish(MakeSnapshot(1, svc, {{"m1", kLo1}}));
  ASSERT_TRUE(p->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return Listening(8001) == 2 && Listening(8002) == 2; }));
  ASSERT_TRUE(nginx.WaitReady());
  for (uint16_t port : {8001, 8002}) {
    int fd = Dial(kClientNet1, kFlycast, port);
    ASSERT_GE(fd, 0);
    sockaddr_in6 me{};
    socklen_t len = sizeof me;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len);
    SendAll(fd, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    int st = 0;
    std::string r = ReadResponse(fd, &st);
    ::close(fd);
    EXPECT_EQ(st, 200) << "port " << port;
    EXPECT_EQ(BodyOf(r), std::string(kClientNet1) + " " + std::to_string(ntohs(me.sin6_port))) << "port " << port;
  }
}

TEST_P(ProxyIT, AutostopStopsIdleMachineNeverWithOpenConnection) {
  uint16_t bp = FreePort(kLo1);
  EchoBackend be(kLo1, bp);
  FakeClock clock;
  ProxyOptions o;
  o.workers = 2;
  o.autostop_thread = false;
  o.autostop_idle = std::chrono::minutes(5);
  Proxy p(o, &waker_, &stopper_, &clock);
  auto svc = TcpService(5433, bp);
  svc.auto_stop = AutoStop::kStop;
  p.Publish(MakeSnapshot(1, svc, {{"m1", kLo1}}));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return Listening(5433) == 2; }));
  int fd = Dial(kClientNet1, kFlycast, 5433);
  ASSERT_TRUE(WaitFor([&] { return p.MachineLoad("m1") == 1; }));
  clock.Advance(std::chrono::minutes(10));
  EXPECT_EQ(p.RunAutostopPass(), 0);  // open connection
  ::shutdown(fd, SHUT_WR);
  char c;
  while (::recv(fd, &c, 1, 0) > 0) {
  }
  ::close(fd);
  ASSERT_TRUE(WaitFor([&] { return p.MachineLoad("m1") == 0; }));
  clock.Advance(std::chrono::minutes(4));
  EXPECT_EQ(p.RunAutostopPass(), 0);  // idle 4 min < 5
  clock.Advance(std::chrono::minutes(2));
  EXPECT_EQ(p.RunAutostopPass(), 1);
  std::lock_guard<std::mutex> l(stopper_.mu);
  ASSERT_EQ(stopper_.stops.size(), 1u);
  EXPECT_EQ(stopper_.stops[0], "m1 stop idle 360s");
  EXPECT_EQ(p.RunAutostopPass(), 0);  // asked once per snapshot revision
}

TEST_P(ProxyIT, HealthCheckFailureRemovesMachineFromRotation) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend good(kLo1, bp, "good");
  auto svc = HttpService(80, bp);
  TcpCheckSpec tc;
  tc.interval_ms = 50;
  tc.timeout_ms = 200;
  svc.tcp_checks.push_back(tc);
  // A machine of the app that carries no services (machine run) gets neither checks nor traffic,
  // even though it listens on the internal port.
  HttpBackend adhoc(kLo2, bp, "adhoc");
  ProxyOptions o;
  o.health_checks = true;
  auto p = Make(o);
  auto snap = std::make_shared<Snapshot>(*MakeSnapshot(1, svc, {{"m-bad", kLo3}, {"m-good", kLo1}, {"m-adhoc", kLo2}}));
  snap->machines[2].carries_services = false;
  ASSERT_TRUE(Up(*p, snap, 80));
  ASSERT_TRUE(WaitFor([&] { return !p->MachineHealthy("m-bad"); }));
  EXPECT_TRUE(p->MachineHealthy("m-good"));
  for (int i = 0; i < 10; ++i) {
    int st = 0;
    EXPECT_EQ(BodyOf(Request(kClientNet1, 80, kGet, &st)), "good");
  }
  EXPECT_NE(p->RenderMetrics().find("privcast_proxy_machine_healthy{app=\"web\",machine=\"m-bad\"} 0"),
            std::string::npos);
  // What `status` shows: each check's last result, by machine (exposed through the API).
  std::map<std::string, std::string> got;
  ASSERT_TRUE(WaitFor([&] {
    got.clear();
    for (const auto& r : p->HealthChecks()) got[r.machine_id + " " + r.name] = r.status;
    return got.size() == 2 && got.begin()->second != "pending" && std::next(got.begin())->second != "pending";
  }));
  std::string name = "servicecheck-00-tcp-" + std::to_string(bp);
  EXPECT_EQ(got["m-bad " + name], "critical");
  EXPECT_EQ(got["m-good " + name], "passing");
  EXPECT_EQ(got.count("m-adhoc " + name), 0u);
}

// Every snapshot after the first used to crash the checker (it read entries it
// had just moved out). Publish many snapshots while tcp and http checks run: the checks that
// stay keep their verdict, dropped ones go, re-added ones start over, traffic follows.
TEST_P(ProxyIT, HealthChecksSurviveManySnapshots) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend good(kLo1, bp, "good");
  auto svc = HttpService(80, bp);
  TcpCheckSpec tc;
  tc.interval_ms = 20;
  tc.timeout_ms = 200;
  svc.tcp_checks.push_back(tc);
  HttpCheckSpec hc;
  hc.interval_ms = 20;
  hc.timeout_ms = 200;
  hc.path = "/healthz";
  svc.http_checks.push_back(hc);
  ProxyOptions o;
  o.health_checks = true;
  auto p = Make(o);
  const std::vector<TestMachine> both = {{"m-bad", kLo3}, {"m-good", kLo1}};
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, svc, both), 80));
  ASSERT_TRUE(WaitFor([&] { return !p->MachineHealthy("m-bad"); }));
  auto verdicts = [&] {
    std::map<std::string, std::string> v;  // "machine tcp|http" → output
    for (const CheckResult& c : p->HealthChecks())
      v[c.machine_id + (c.name.find("-tcp-") != std::string::npos ? " tcp" : " http")] = c.output;
    return v;
  };
  for (int rev = 2; rev <= 40; ++rev) {
    p->Publish(MakeSnapshot(rev, svc, both));
    auto v = verdicts();  // also waits until the checker applied `rev`
    ASSERT_EQ(v.size(), 4u) << "revision " << rev;
    EXPECT_FALSE(p->MachineHealthy("m-bad")) << "a kept check lost its verdict at revision " << rev;
    EXPECT_TRUE(p->MachineHealthy("m-good"));
    int st = 0;
    EXPECT_EQ(BodyOf(Request(kClientNet1, 80, kGet, &st)), "good");
  }
  EXPECT_EQ(verdicts()["m-good tcp"], "connected");
  // m-bad stops: its checks go and it is no longer held unhealthy.
  p->Publish(MakeSnapshot(41, svc, {{"m-bad", kLo3, MachineRunState::kStopped}, {"m-good", kLo1}}));
  EXPECT_EQ(verdicts().size(), 2u);
  EXPECT_TRUE(p->MachineHealthy("m-bad"));
  // It starts again: fresh checks, failing again.
  p->Publish(MakeSnapshot(42, svc, both));
  EXPECT_EQ(verdicts().size(), 4u);
  ASSERT_TRUE(WaitFor([&] { return !p->MachineHealthy("m-bad"); }));
  // The config drops the http check: the tcp one stays and still decides.
  auto tcp_only = svc;
  tcp_only.http_checks.clear();
  p->Publish(MakeSnapshot(43, tcp_only, both));
  auto v = verdicts();
  EXPECT_EQ(v.size(), 2u);
  EXPECT_EQ(v.count("m-bad tcp"), 1u);
  EXPECT_FALSE(p->MachineHealthy("m-bad"));
  // No checks at all: every machine healthy.
  p->Publish(MakeSnapshot(44, HttpService(80, bp), both));
  EXPECT_TRUE(verdicts().empty());
  EXPECT_TRUE(p->MachineHealthy("m-bad"));
}

TEST_P(ProxyIT, PreferInstanceHeaderAndUnavailableFlag) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend a(kLo1, bp, "a");
  HttpBackend b(kLo2, bp, "b");
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"ma", kLo1}, {"mb", kLo2}}), 80));
  for (int i = 0; i < 5; ++i) {
    int st = 0;
    std::string r = Request(kClientNet1, 80, "GET / HTTP/1.1\r\nHost: a\r\nfly-force-instance-id: mb\r\n\r\n", &st);
    EXPECT_EQ(BodyOf(r), "b");
  }
  int st = 0;
  std::string r = Request(kClientNet1, 80, "GET / HTTP/1.1\r\nHost: a\r\nfly-prefer-instance-id: nope\r\n\r\n", &st);
  EXPECT_EQ(st, 200);
  EXPECT_EQ(HeaderValue(r, "Fly-Preferred-Instance-Unavailable"), "true");
}

TEST_P(ProxyIT, DrainClosesIdleKeepAliveAndFinishes) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  auto p = Make();
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));
  int fd = Dial(kClientNet1, kFlycast, 80);
  SendAll(fd, kGet);
  ASSERT_FALSE(ReadResponse(fd).empty());
  p->StopAccepting();
  ASSERT_TRUE(WaitFor([&] { return Listening(80) == 0; }));
  EXPECT_TRUE(p->Drain(2s));
  char c;
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0);
  ::close(fd);
}

// Counter value from the metrics text ("name value" line), or -1.
long long Metric(const std::string& text, const std::string& name) {
  auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::atoll(text.c_str() + at + name.size() + 2);
}

TEST_P(ProxyIT, OutOfDescriptorsPausesTheListenerThenServes) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  ASSERT_TRUE(be.ok());
  FakeClock clock;  // the 100 ms pauses end when the test moves time
  auto p = Make({}, 2, &clock);
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));
  // The client socket exists before the descriptors run out; connect() needs no new one.
  int fd = BoundSocket(kClientNet1);
  ASSERT_GE(fd, 0);

  // Use up every descriptor: the limit just above the highest open one, the holes filled.
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  int top = ::dup(fd);
  ASSERT_GE(top, 0);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(top) + 1;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> fillers{top};
  for (int f; (f = ::dup(fd)) >= 0;) fillers.push_back(f);
  auto restore = [&] {
    for (int f : fillers) ::close(f);
    fillers.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved);
  };

  int connect_error = Connect(fd, kFlycast, 80);  // the kernel's handshake
  bool connected = connect_error == 0;
  bool paused = connected &&
                WaitFor([&] { return Metric(p->RenderMetrics(), "privcast_proxy_accept_errors_total") >= 1; });
  // While paused the worker does not spin on the full queue: the listener is retried once per
  // 100 ms pause, i.e. one more failed accept each time the clock passes a pause, and none
  // while it stands still.
  auto errors = [&] { return Metric(p->RenderMetrics(), "privcast_proxy_accept_errors_total"); };
  long long e0 = errors();
  bool retried = true;
  for (int i = 1; i <= 3 && connected && paused; ++i) {
    clock.Advance(100ms);  // wakes the workers: the pause ends, accept fails again
    retried = retried && WaitFor([&] { return errors() >= e0 + i; });
  }
  long long e1 = errors();
  restore();
  ASSERT_TRUE(connected) << std::strerror(-connect_error);
  ASSERT_TRUE(paused) << p->RenderMetrics();
  EXPECT_TRUE(retried) << p->RenderMetrics();
  EXPECT_LE(e1 - e0, 3 + 2) << "accept errors over three pauses";  // the other worker's, at most

  // Descriptors back: the paused listener resumes after its pause and the client is served.
  clock.Advance(100ms);
  ASSERT_TRUE(SendAll(fd, kGet));
  int st = 0;
  std::string r = ReadResponse(fd, &st);
  EXPECT_EQ(st, 200) << r;
  EXPECT_EQ(BodyOf(r), "m1");
  ::close(fd);
}

// ---------------------------------------------------------------------------------------------
// Fair sharing: slow heads and bodies end, a network over its limits is reset
// while another network is served, and the proxy stops accepting at its descriptor budget.

// True once the peer has sent something (or closed): poll without waiting.
bool Answered(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

// Dials the app and sends `head`, then piece(i) every 20 ms (the client's pace, not a
// synchronisation) until the proxy answers or `max` pieces went out. Returns how many went out;
// *status gets the answer's status (0 for none).
int TrickleUntilAnswered(const std::string& head, const std::function<std::string(int)>& piece, int max, int* status) {
  *status = 0;
  int fd = Dial(kClientNet1, kFlycast, 80);
  if (fd < 0 || !SendAll(fd, head)) return -1;
  int n = 0;
  for (; n < max && !Answered(fd); ++n) {
    if (!SendAll(fd, piece(n))) break;
    std::this_thread::sleep_for(20ms);
  }
  ReadResponse(fd, status);
  ::close(fd);
  return n;
}

TEST_P(ProxyIT, AHeadTrickledALineAtATimeStillGets408) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  ProxyOptions o;
  o.header_timeout = 300ms;
  auto p = Make(o);
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));
  // A header line every 20 ms, far more often than the timeout: a slow-head attack. A
  // deadline that each read restarts never fires while it goes on (200 lines = 4 s).
  int st = 0;
  int lines = TrickleUntilAnswered(
      "GET / HTTP/1.1\r\nHost: a\r\n", [](int i) { return "X-Slow: " + std::to_string(i) + "\r\n"; }, 200, &st);
  ASSERT_GE(lines, 0);
  EXPECT_EQ(st, 408);
  EXPECT_LT(lines, 200) << "the 408 came only once the client stopped sending";
  EXPECT_EQ(be.requests.load(), 0);
  // A head that is complete in time is served.
  st = 0;
  EXPECT_EQ(BodyOf(Request(kClientNet1, 80, kGet, &st)), "m1");
}

TEST_P(ProxyIT, ABodyBelowTheMinimumRateGets408) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  ProxyOptions o;
  o.body_timeout = 300ms;
  o.body_min_rate = 1000;  // bytes/s
  auto p = Make(o);
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}), 80));
  // 4 bytes every 20 ms (≤ 200 bytes/s, a fifth of the minimum) for up to 4 s: bytes keep
  // coming, so only a rate (not a gap between reads) can end it.
  int st = 0;
  int sent = TrickleUntilAnswered(
      "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n", [](int) { return std::string("abcd"); }, 200,
      &st);
  ASSERT_GE(sent, 0);
  EXPECT_EQ(st, 408);
  EXPECT_LT(sent, 200) << "the body was never timed out";
  // A body that comes at once is served whole.
  std::string body(100000, 'x');
  st = 0;
  std::string r = Request(kClientNet1, 80, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + body,
                          &st);
  EXPECT_EQ(st, 200);
  EXPECT_EQ(BodyOf(r).size(), body.size());
}

// The test snapshot plus a second flycast address of "web", allocated on network 2.
SnapshotPtr TwoNetworkSnapshot(uint16_t bp) {
  auto s = std::make_shared<Snapshot>(*MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1}}));
  FlycastEntry fe;
  fe.address = *Ip6::Parse(kFlycastUnknown);
  fe.net32 = 2;
  fe.app_index = 0;
  s->apps[0].flycast.push_back(static_cast<uint32_t>(s->flycast.size()));
  s->flycast.push_back(fe);
  s->Index();
  return s;
}

// One request from network 2 to its own address of "web"; the status, 0 when none came.
int RequestFromNet2() {
  int fd = Dial(kClientNet2, kFlycastUnknown, 80);
  if (fd < 0) return 0;
  int st = 0;
  if (SendAll(fd, kGet)) ReadResponse(fd, &st);
  ::close(fd);
  return st;
}

const char* kRefusedNet1Conns = "privcast_proxy_network_refused_total{source_network=\"1\",reason=\"connections\"}";
const char* kRefusedNet1Rate = "privcast_proxy_network_refused_total{source_network=\"1\",reason=\"rate\"}";
const char* kRefusedNet2Conns = "privcast_proxy_network_refused_total{source_network=\"2\",reason=\"connections\"}";
const char* kRefusedNet2Rate = "privcast_proxy_network_refused_total{source_network=\"2\",reason=\"rate\"}";

TEST_P(ProxyIT, ANetworkAtItsConnectionLimitIsResetOthersAreServed) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  ProxyOptions o;
  o.max_conns_per_network = 3;
  o.conn_rate_per_network = 0;
  auto p = Make(o);
  ASSERT_TRUE(Up(*p, TwoNetworkSnapshot(bp), 80));
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) {  // served and kept open (keep-alive)
    int fd = Dial(kClientNet1, kFlycast, 80);
    ASSERT_GE(fd, 0);
    int st = 0;
    ASSERT_TRUE(SendAll(fd, kGet));
    ReadResponse(fd, &st);
    EXPECT_EQ(st, 200);
    held.push_back(fd);
  }
  EXPECT_TRUE(GotReset(Dial(kClientNet1, kFlycast, 80))) << "a fourth connection of network 1";
  EXPECT_EQ(RequestFromNet2(), 200) << "network 2 is not network 1's limit";
  std::string m = p->RenderMetrics();
  EXPECT_EQ(Metric(m, kRefusedNet1Conns), 1) << m;
  EXPECT_EQ(Metric(m, kRefusedNet2Conns), 0) << m;
  EXPECT_EQ(Metric(m, "privcast_proxy_network_open_connections{source_network=\"1\"}"), 3) << m;
  // A slot comes back when its connection closes.
  ::close(held.back());
  held.pop_back();
  ASSERT_TRUE(WaitFor([&] {
    return Metric(p->RenderMetrics(), "privcast_proxy_network_open_connections{source_network=\"1\"}") == 2;
  }));
  int st = 0;
  EXPECT_EQ(BodyOf(Request(kClientNet1, 80, kGet, &st)), "m1");
  for (int fd : held) ::close(fd);
}

TEST_P(ProxyIT, ANetworkOverItsConnectionRateIsResetUntilTokensRefill) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  FakeClock clock;  // the bucket refills only when the test says time passed
  ProxyOptions o;
  o.workers = 2;
  o.autostop_thread = false;
  o.batch_sends = GetParam();
  o.max_conns_per_network = 0;
  o.conn_rate_per_network = 1;
  o.conn_burst_per_network = 2;
  Proxy p(o, &waker_, &stopper_, &clock);
  ASSERT_TRUE(Up(p, TwoNetworkSnapshot(bp), 80));
  int st = 0;
  for (int i = 0; i < 2; ++i) {
    st = 0;
    EXPECT_EQ(BodyOf(Request(kClientNet1, 80, kGet, &st)), "m1") << "burst " << i;
  }
  EXPECT_TRUE(GotReset(Dial(kClientNet1, kFlycast, 80))) << "a third new connection in the same instant";
  EXPECT_EQ(RequestFromNet2(), 200) << "network 2 has its own bucket";
  EXPECT_EQ(RequestFromNet2(), 200);
  std::string m = p.RenderMetrics();
  EXPECT_EQ(Metric(m, kRefusedNet1Rate), 1) << m;
  EXPECT_EQ(Metric(m, kRefusedNet2Rate), 0) << m;
  clock.Advance(1s);  // one token back
  st = 0;
  EXPECT_EQ(BodyOf(Request(kClientNet1, 80, kGet, &st)), "m1");
  EXPECT_TRUE(GotReset(Dial(kClientNet1, kFlycast, 80)));
  EXPECT_EQ(Metric(p.RenderMetrics(), kRefusedNet1Rate), 2);
}

TEST_P(ProxyIT, AtItsDescriptorBudgetTheProxyStopsAcceptingThenResumes) {
  uint16_t bp = FreePort(kLo1);
  HttpBackend be(kLo1, bp, "m1");
  ProxyOptions o;
  // Two HTTP connections (2 descriptors each) fit: an accept needs room for the most one
  // connection can take (6); with 4 in use a third does not, until one closes (its app
  // connection goes to the pool: 3 in use).
  o.fd_budget = 9;
  auto p = Make(o);
  auto svc = HttpService(80, bp);
  svc.concurrency = ConcurrencyType::kConnections;  // each client keeps its app connection: 2 per client
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, svc, {{"m1", kLo1}}), 80));
  std::vector<int> held;
  for (int i = 0; i < 2; ++i) {
    int fd = Dial(kClientNet1, kFlycast, 80);
    ASSERT_GE(fd, 0);
    int st = 0;
    ASSERT_TRUE(SendAll(fd, kGet));
    ReadResponse(fd, &st);
    EXPECT_EQ(st, 200);
    held.push_back(fd);
  }
  EXPECT_EQ(Metric(p->RenderMetrics(), "privcast_proxy_fds"), 4);
  int third = Dial(kClientNet1, kFlycast, 80);  // the kernel completes the handshake
  ASSERT_GE(third, 0);
  ASSERT_TRUE(SendAll(third, kGet));
  // Paused, and still paused after its 100 ms re-check: the request waits in the kernel.
  ASSERT_TRUE(WaitFor([&] { return Metric(p->RenderMetrics(), "privcast_proxy_budget_pauses_total") >= 2; }))
      << p->RenderMetrics();
  EXPECT_FALSE(Answered(third));
  EXPECT_EQ(Metric(p->RenderMetrics(), "privcast_proxy_accept_errors_total"), 0);
  ::close(held[0]);
  int st = 0;
  std::string r = ReadResponse(third, &st);
  EXPECT_EQ(st, 200) << r;
  ::close(third);
  ::close(held[1]);
}

TEST_P(ProxyIT, AListenerClosedWithAnEventPendingIsFreedAfterTheBatch) {
  // One epoll batch holding, in this order, the posted snapshot that releases port 80 and the
  // port-80 listener's readiness: the listener must outlive the batch (ASan sees it if not).
  // The worker is held inside an earlier batch — a first client's wake call — while both are
  // set up. That batch must not include the listener (epoll would queue it again at once, ahead
  // of the post), so the first request is completed only after its start has been read.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> held{false};
  waker_.on_call = [&] {
    held = true;
    released.wait();
  };
  uint16_t bp = FreePort(kLo1);
  auto p = Make({}, 1);
  ASSERT_TRUE(Up(*p, MakeSnapshot(1, HttpService(80, bp), {{"m1", kLo1, MachineRunState::kStopped}}), 80, 1));
  int first = Dial(kClientNet1, kFlycast, 80);
  ASSERT_GE(first, 0);
  ASSERT_TRUE(SendAll(first, "GET / HTTP/1.1\r\n"));
  ASSERT_TRUE(WaitFor([] { return Unread(80) == 0; }));  // accepted and read by the worker
  ASSERT_TRUE(SendAll(first, "Host: web.flycast\r\n\r\n"));
  bool was_held = WaitFor([&] { return held.load(); });
  int second = -1;
  bool queued = false;
  if (was_held) {
    p->Publish(MakeSnapshot(2, HttpService(81, bp), {{"m1", kLo1, MachineRunState::kStopped}}));
    second = Dial(kClientNet1, kFlycast, 80);  // waits on the listener being released
    queued = second >= 0 && WaitFor([] { return AcceptQueue(80) == 1; });
  }
  release.set_value();
  ASSERT_TRUE(was_held);
  ASSERT_TRUE(queued);
  EXPECT_TRUE(GotReset(second));  // accepted by the release's drain, then refused: port gone
  ::close(second);
  ::close(first);
  // The port is released only once the drain has emptied the old queue; a client dialling before
  // that lands in the old listener and is refused, as it should be (snapshot 2 has no port 80).
  ASSERT_TRUE(WaitFor([] { return Listening(80) == 0; }));
  // The worker lives on: the port comes back and serves.
  HttpBackend be(kLo1, bp, "m1");
  p->Publish(MakeSnapshot(3, HttpService(80, bp), {{"m1", kLo1}}));
  ASSERT_TRUE(WaitFor([] { return Listening(80) == 1; }));
  int st = 0;
  std::string r = Request(kClientNet1, 80, kGet, &st);
  EXPECT_EQ(st, 200) << r;
  waker_.Join();  // its reply goes to the worker's loop: before the proxy goes
}

TEST(ProxyMemory, IdleKeepAliveSessionIsSmall) {
  // An idle keep-alive client connection holds its HttpSession and no buffer (buffers go back
  // to the worker pool when empty). Budget: 8 KiB per idle connection.
  EXPECT_LE(sizeof(HttpSession), 1024u) << sizeof(HttpSession);
  RecordProperty("http_session_bytes", static_cast<int>(sizeof(HttpSession)));
}

}  // namespace
}  // namespace privcast::proxy
