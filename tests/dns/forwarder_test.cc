// Forwarder (dns/forwarder.h) on its own: a loop on a FakeClock, upstreams that are UDP sockets
// the test reads and answers itself. Timeouts, retries, the per-network rate and in-flight
// limits and the SERVFAIL cache are driven by advancing the clock: nothing here waits for time.
#include "dns/forwarder.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "tests/dns/fixture.h"

namespace privcast::dns {
namespace {

using dnstest::MakeQuery;
using std::chrono::seconds;

// A UDP socket on 127.0.0.1 standing in for an upstream resolver.
class Upstream {
 public:
  Upstream() {
    fd_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    timeval tv{5, 0};  // a bound on a broken test, never reached by a passing one
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  uint16_t port() const { return port_; }
  // Receives one query (or an empty vector after the bound above) and remembers its sender.
  std::vector<uint8_t> Receive() {
    std::vector<uint8_t> b(1500);
    from_len_ = sizeof from_;
    ssize_t n = ::recvfrom(fd_.get(), b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&from_), &from_len_);
    b.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return b;
  }
  // Answers `query` (as received) with rcode and no records.
  void Answer(std::vector<uint8_t> query, uint8_t rcode) {
    query[2] |= 0x80;
    query[3] = static_cast<uint8_t>((query[3] & 0xf0) | rcode);
    ::sendto(fd_.get(), query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&from_), from_len_);
  }

 private:
  UniqueFd fd_;
  uint16_t port_ = 0;
  sockaddr_storage from_{};
  socklen_t from_len_ = 0;
};

struct Delivered {
  uint16_t id = 0;
  uint8_t rcode = 0;
  uint16_t qtype = 0;
};

class ForwarderTest : public ::testing::Test {
 protected:
  // Runs fn on the loop after the timers due at its wakeup (see tests/loop/event_loop_test.cc).
  template <class F>
  auto Call(F fn) {
    std::promise<decltype(fn())> p;
    loop_.Post([&] { loop_.AddTimer(loop_.Now(), [&] { loop_.Defer([&] { p.set_value(fn()); }); }); });
    return p.get_future().get();
  }
  void Start(ServerOptions o) {
    opts_ = std::move(o);
    ASSERT_TRUE(loop_.Init().ok());
    fwd_ = std::make_unique<Forwarder>(opts_, &loop_, &clock_,
                                       [this](const ReplyTo&, const uint8_t* msg, size_t len, uint16_t qtype,
                                              uint8_t rcode) {
                                         ASSERT_GE(len, 2u);
                                         std::lock_guard<std::mutex> g(mu_);
                                         got_.push_back({static_cast<uint16_t>(msg[0] << 8 | msg[1]), rcode, qtype});
                                       });
    ASSERT_TRUE(fwd_->Init({}).ok());
    thread_ = std::thread([this] { loop_.Run(); });
  }
  void TearDown() override {
    if (thread_.joinable()) {
      Call([&] {
        fwd_->FailAll();
        return 0;
      });
      loop_.Stop();
      thread_.join();
    }
    fwd_.reset();
  }
  // Asks `name` from network `net`; returns the immediate rcode, or -1 when forwarded.
  int Ask(const std::string& name, uint32_t net, uint16_t id) {
    return Call([&] {
      auto msg = MakeQuery(name, kTypeA, false, 0, id);
      Query q;
      EXPECT_EQ(ParseQuery(msg.data(), msg.size(), &q), ParseStatus::kOk);
      uint8_t out[1500];
      Outcome o;
      fwd_->ForwardOrAnswer(msg.data(), msg.size(), q, net, ReplyTo{}, out, sizeof out, &o);
      return o.action == Outcome::kForward ? -1 : static_cast<int>(o.rcode);
    });
  }
  std::vector<Delivered> Got() {
    std::lock_guard<std::mutex> g(mu_);
    return got_;
  }
  std::string Metrics() {
    Call([&] {
      fwd_->PublishStats();
      return 0;
    });
    std::string s;
    fwd_->AppendMetrics(&s);
    return s;
  }

  FakeClock clock_;
  loop::EventLoop loop_{&clock_};
  ServerOptions opts_;
  std::unique_ptr<Forwarder> fwd_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Delivered> got_;
};

TEST_F(ForwarderTest, AnswerComesBackWithTheClientsId) {
  Upstream up;
  ServerOptions o;
  o.upstreams = {{"127.0.0.1", up.port()}};
  Start(o);
  EXPECT_EQ(Ask("www.example", 7, 0xbeef), -1);
  auto q = up.Receive();
  ASSERT_GE(q.size(), 12u);
  EXPECT_NE(q[0] << 8 | q[1], 0xbeef);  // our own random id goes upstream
  auto spoof = q;
  spoof[12 + 1] ^= 0x20;  // same id, another question (case aside): ignored
  spoof[13] = 'x';
  up.Answer(spoof, kNxDomain);
  up.Answer(q, kNoError);
  auto got = Call([&] { return Got(); });
  for (int i = 0; i < 100 && got.empty(); ++i) got = Call([&] { return Got(); });  // the answer's event
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, 0xbeef);
  EXPECT_EQ(got[0].rcode, kNoError);
  EXPECT_EQ(got[0].qtype, kTypeA);
}

TEST_F(ForwarderTest, TimeoutTriesTheNextUpstreamThenServFailWhichIsCached) {
  Upstream a, b;
  ServerOptions o;
  o.upstreams = {{"127.0.0.1", a.port()}, {"127.0.0.1", b.port()}};
  o.forward_timeout = std::chrono::milliseconds(1500);
  Start(o);
  EXPECT_EQ(Ask("dead.example", 7, 0x0101), -1);
  clock_.Advance(std::chrono::milliseconds(1499));
  EXPECT_TRUE(Call([&] { return Got().empty(); }));  // not yet: the clock says 1.499 s
  clock_.Advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(Call([&] { return Got().empty(); }));  // the other upstream's try
  clock_.Advance(std::chrono::milliseconds(1500));
  auto got = Call([&] { return Got(); });
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, 0x0101);
  EXPECT_EQ(got[0].rcode, kServFail);
  // One query went to each upstream, whichever was first.
  EXPECT_FALSE(a.Receive().empty());
  EXPECT_FALSE(b.Receive().empty());
  std::string m = Metrics();
  EXPECT_NE(m.find("privcast_dns_forward_timeouts_total 2"), std::string::npos) << m;
  EXPECT_NE(m.find("privcast_dns_forward_failures_total 1"), std::string::npos) << m;
  // The failure is remembered for that network only.
  EXPECT_EQ(Ask("dead.example", 7, 0x0102), kServFail);
  EXPECT_EQ(Ask("dead.example", 8, 0x0103), -1);
}

TEST_F(ForwarderTest, RateLimitIsPerNetworkAndRefillsWithTheClock) {
  Upstream up;
  ServerOptions o;
  o.upstreams = {{"127.0.0.1", up.port()}};
  o.forward_qps_per_network = 2;
  Start(o);
  EXPECT_EQ(Ask("a1.example", 7, 1), -1);
  EXPECT_EQ(Ask("a2.example", 7, 2), -1);
  EXPECT_EQ(Ask("a3.example", 7, 3), kRefused);
  EXPECT_EQ(Ask("b1.example", 8, 4), -1);  // another network's own bucket
  clock_.Advance(seconds(1));
  EXPECT_EQ(Ask("a4.example", 7, 5), -1);
  std::string m = Metrics();
  EXPECT_NE(m.find("privcast_dns_forward_refused_by_network_total{network=\"fdaa:0:7::/48\",limit=\"rate\"} 1"),
            std::string::npos)
      << m;
}

TEST_F(ForwarderTest, InflightLimitIsPerNetwork) {
  Upstream up;
  ServerOptions o;
  o.upstreams = {{"127.0.0.1", up.port()}};
  o.forward_inflight_per_network = 2;
  o.forward_qps_per_network = 0;
  Start(o);
  EXPECT_EQ(Ask("a1.example", 7, 1), -1);
  EXPECT_EQ(Ask("a2.example", 7, 2), -1);
  EXPECT_EQ(Ask("a3.example", 7, 3), kRefused);
  EXPECT_EQ(Ask("b1.example", 8, 4), -1);
  up.Answer(up.Receive(), kNoError);  // one of network 7's comes back: room for one more
  for (int i = 0; i < 100 && Call([&] { return Got().size(); }) == 0; ++i) {
  }
  EXPECT_EQ(Ask("a4.example", 7, 5), -1);
}

TEST_F(ForwarderTest, AnUpstreamThatIsOurOwnEndpointIsSkipped) {
  ServerOptions o;
  o.upstreams = {{"127.0.0.1", 5353}};
  opts_ = o;
  ASSERT_TRUE(loop_.Init().ok());
  Forwarder f(opts_, &loop_, &clock_, [](const ReplyTo&, const uint8_t*, size_t, uint16_t, uint8_t) {});
  ASSERT_TRUE(f.Init({{"127.0.0.1", 5353}}).ok());
  EXPECT_FALSE(f.has_upstream());
  EXPECT_TRUE(f.upstreams().empty());
}

}  // namespace
}  // namespace privcast::dns
