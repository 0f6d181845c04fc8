// Root integration tests of TLS termination: the Proxy runs in-process inside the test's own
// network namespace (test_util.h) with a certificate from the daemon's CA code; clients are
// curl and the tests' OpenSSL client, bound to 6PN-style source addresses.
#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <regex>
#include <thread>

#include "proxy/proxy.h"
#include "test_util.h"
#include "tls_test_util.h"

namespace privcast::proxy {
namespace {

using namespace privcast::proxy::testing;
using namespace std::chrono_literals;

constexpr uint32_t kLo1 = 0x7f000001;

class OkWaker : public MachineWaker {
 public:
  void Wake(const std::string&, uint16_t, Poster* reply_to, std::function<void(Status)> done) override {
    reply_to->Post([done] { done(Status::Ok()); });
  }
};
class NoStopper : public MachineStopper {
 public:
  void Stop(const std::string&, bool, const std::string&) override {}
};

class FixedProvider : public TlsContextProvider {
 public:
  explicit FixedProvider(TlsContextPtr c) : ctx(std::move(c)) {}
  TlsContextPtr ForApp(const std::string& app, const std::vector<Ip6>& addresses) override {
    ++calls;
    last_app = app;
    last_addresses = addresses;
    return ctx;
  }
  void ForgetAllBut(const std::vector<std::string>& apps) override { last_kept = apps; }
  TlsContextPtr ctx;
  std::vector<std::string> last_kept;
  std::atomic<int> calls{0};
  std::string last_app;
  std::vector<Ip6> last_addresses;
};

class TlsIT : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ok_ = EnterTestNetns(&why_); }
  void SetUp() override {
    if (!ok_) GTEST_SKIP() << why_;
    pki_ = MakeTestPki({kFlycast});
    ASSERT_NE(pki_, nullptr);
    provider_ = std::make_unique<FixedProvider>(pki_->server_ctx);
    bp_ = FreePort(kLo1);
    backend_ = std::make_unique<HttpBackend>(kLo1, bp_, "m1");
    ASSERT_TRUE(backend_->ok());
  }
  // The ports of [http_service] (80 http, 443 http+tls) plus extra ports.
  ServiceSpec HttpAndHttps() {
    ServiceSpec svc = HttpService(80, bp_);
    PortSpec tls = svc.ports[0];
    tls.start_port = tls.end_port = 443;
    tls.tls = true;
    svc.ports.push_back(tls);
    return svc;
  }
  std::unique_ptr<Proxy> Start(const ServiceSpec& svc, ProxyOptions o = {}, bool with_provider = true) {
    o.workers = 2;
    o.autostop_thread = false;
    o.health_checks = false;
    auto p = std::make_unique<Proxy>(o, &waker_, &stopper_);
    if (with_provider) p->SetTlsContextProvider(provider_.get());
    p->Publish(MakeSnapshot(1, svc, {{"m1", kLo1}}));
    if (!p->Start().ok()) return nullptr;
    for (const PortSpec& ps : svc.ports)
      if (!WaitFor([&] { return Listening(ps.start_port) == 2; })) return nullptr;
    return p;
  }
  // curl from a machine of network 1; returns stdout, *code = curl's exit code.
  std::string Curl(std::vector<std::string> args, int* code = nullptr) {
    std::vector<std::string> argv = {"curl", "-sS", "-g", "--max-time", "20", "--interface", kClientNet1};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCapture(argv, code);
  }
  std::string Url(uint16_t port, const std::string& path) {
    return "https://[" + std::string(kFlycast) + "]:" + std::to_string(port) + path;
  }
  static uint64_t Metric(const Proxy& p, const std::string& series) {
    std::string m = p.RenderMetrics();
    size_t at = m.find("\n" + series + " ");
    return at == std::string::npos ? 0 : std::strtoull(m.c_str() + at + series.size() + 2, nullptr, 10);
  }
  std::unique_ptr<TlsClient> Connect(uint16_t port, std::vector<std::string> alpn = {}, std::string* err = nullptr) {
    int fd = Dial(kClientNet1, kFlycast, port);
    if (fd < 0) return nullptr;
    TlsClientOptions o;
    o.ca_pem = pki_->ca_pem;
    o.verify_name = kFlycast;
    o.alpn = std::move(alpn);
    std::string e;
    auto c = TlsClient::Connect(fd, o, &e);
    if (err) *err = e;
    return c;
  }

  static inline bool ok_ = false;
  static inline std::string why_;
  std::unique_ptr<TestPki> pki_;
  std::unique_ptr<FixedProvider> provider_;
  uint16_t bp_ = 0;
  std::unique_ptr<HttpBackend> backend_;
  OkWaker waker_;
  NoStopper stopper_;
};

const std::string kFailures = "privcast_proxy_tls_handshake_failures_total{app=\"web\"}";
const std::string kHandshakes = "privcast_proxy_tls_handshakes_total{app=\"web\"}";

TEST_F(TlsIT, HttpsReachesTheAppWithForwardedHeadersAndKeepsTheConnection) {
  auto p = Start(HttpAndHttps());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(provider_->last_app, "web");
  ASSERT_EQ(provider_->last_addresses.size(), 1u);
  EXPECT_EQ(provider_->last_addresses[0].ToString(), kFlycast);
  EXPECT_EQ(provider_->last_kept, std::vector<std::string>{"web"});
  int code = -1;
  // HTTP/1.1 asked for (ALPN offers http/1.1 only); curl's default, h2, is test_http2.py's.
  std::string out = Curl({"--http1.1", "--cacert", pki_->ca_file, "-w",
                          "\n%{http_code} %{http_version} %{num_connects}\n", Url(443, "/headers"), Url(443, "/")},
                         &code);
  ASSERT_EQ(code, 0) << out;
  std::string lower = out;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  EXPECT_NE(lower.find("x-forwarded-proto: https"), std::string::npos) << out;
  EXPECT_NE(lower.find("x-forwarded-ssl: on"), std::string::npos) << out;
  EXPECT_NE(lower.find("x-forwarded-port: 443"), std::string::npos) << out;
  EXPECT_NE(out.find("\n200 1.1 1\n"), std::string::npos) << out;    // ALPN http/1.1
  EXPECT_NE(out.find("m1\n200 1.1 0\n"), std::string::npos) << out;  // reused the TLS connection
  EXPECT_EQ(backend_->connections.load(), 1);
  // Port 80 of the same service stays plain HTTP.
  out = Curl({"http://[" + std::string(kFlycast) + "]/headers"}, &code);
  ASSERT_EQ(code, 0);
  std::transform(out.begin(), out.end(), out.begin(), ::tolower);
  EXPECT_NE(out.find("x-forwarded-proto: http\r\n"), std::string::npos) << out;
  EXPECT_GE(Metric(*p, kHandshakes), 1u);
  EXPECT_EQ(Metric(*p, kFailures), 0u);
}

TEST_F(TlsIT, TheCertificateNamesTheAppAndUntrustingClientsFail) {
  auto p = Start(HttpAndHttps());
  ASSERT_NE(p, nullptr);
  int code = -1;
  std::string resolve = std::string("web.flycast:443:[") + kFlycast + "]";
  std::string out = Curl({"--cacert", pki_->ca_file, "--resolve", resolve, "https://web.flycast/"}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(out, "m1");
  Curl({"https://web.flycast/", "--resolve", resolve}, &code);       // system trust store: not our CA
  EXPECT_EQ(code, 60);                                               // CURLE_PEER_FAILED_VERIFICATION
  EXPECT_TRUE(WaitFor([&] { return Metric(*p, kFailures) == 1; }));  // the client's unknown_ca alert
}

TEST_F(TlsIT, ForceHttpsRedirectsPlainRequestsButNeverTlsOnes) {
  ServiceSpec svc = HttpAndHttps();
  svc.ports[0].force_https = true;
  svc.ports[1].force_https = true;
  auto p = Start(svc);
  ASSERT_NE(p, nullptr);
  int code = -1;
  std::string out = Curl({"-o", "/dev/null", "-w", "%{http_code}", "http://[" + std::string(kFlycast) + "]/"}, &code);
  EXPECT_EQ(out, "301");
  out = Curl({"--cacert", pki_->ca_file, "-o", "/dev/null", "-w", "%{http_code}", Url(443, "/")}, &code);
  EXPECT_EQ(out, "200");
}

TEST_F(TlsIT, LargeBodiesStreamBothWaysOverTls) {
  auto p = Start(HttpAndHttps());
  ASSERT_NE(p, nullptr);
  char path[] = "/tmp/pc-tls-body-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string body(4 << 20, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + (i * 7919) % 26);
  ASSERT_EQ(::write(fd, body.data(), body.size()), static_cast<ssize_t>(body.size()));
  ::close(fd);
  int code = -1;
  std::string out = Curl({"--cacert", pki_->ca_file, "--data-binary", std::string("@") + path, Url(443, "/echo")},
                         &code);
  ::unlink(path);
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(out == body) << out.size();
}

TEST_F(TlsIT, WebSocketUpgradeTunnelsOverTlsWithHalfClose) {
  auto p = Start(HttpAndHttps());
  ASSERT_NE(p, nullptr);
  auto c = Connect(443, {"http/1.1"});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->alpn(), "http/1.1");
  ASSERT_TRUE(
      c->WriteAll("GET /ws HTTP/1.1\r\nHost: web.flycast\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
  std::string in;
  char buf[4096];
  while (in.find("\r\n\r\n") == std::string::npos) {
    int n = c->Read(buf, sizeof buf);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  ASSERT_EQ(in.rfind("HTTP/1.1 101", 0), 0u) << in;
  in.erase(0, in.find("\r\n\r\n") + 4);
  ASSERT_TRUE(c->WriteAll("frames both ways"));
  c->CloseNotify();  // the app sees EOF, stops echoing and half-closes: close_notify comes back
  bool clean = false;
  in += c->ReadAll(&clean);
  EXPECT_EQ(in, "frames both ways");
  EXPECT_TRUE(clean);
}

TEST_F(TlsIT, TlsOnlyPortCarriesPlaintextToTheApp) {
  ServiceSpec svc = TcpService(8443, bp_);
  svc.ports[0].tls = true;
  auto p = Start(svc);
  ASSERT_NE(p, nullptr);
  std::string err;
  auto c = Connect(8443, {"h2", "http/1.1"}, &err);
  ASSERT_NE(c, nullptr) << err;
  EXPECT_EQ(c->alpn(), "");  // no tls_options.alpn: no ALPN on raw ports
  ASSERT_TRUE(c->WriteAll("GET /headers HTTP/1.1\r\nHost: app\r\n\r\n"));
  std::string out;
  char buf[4096];
  while (out.find("Host: app\r\n\r\n", out.find("\r\n\r\n") + 4) == std::string::npos) {
    int n = c->Read(buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_EQ(backend_->LastHead(), "GET /headers HTTP/1.1\r\nHost: app\r\n\r\n");  // untouched plaintext
}

TEST_F(TlsIT, TlsOnlyPortHalfClosesBothWaysWithCloseNotify) {
  uint16_t ep = FreePort(kLo1);
  EchoBackend echo(kLo1, ep);  // answers after EOF, then closes
  ASSERT_TRUE(echo.ok());
  ServiceSpec svc = TcpService(8445, ep);
  svc.ports[0].tls = true;
  auto p = Start(svc);
  ASSERT_NE(p, nullptr);
  auto c = Connect(8445);
  ASSERT_NE(c, nullptr);
  std::string payload(1 << 20, 'x');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 131);
  ASSERT_TRUE(c->WriteAll(payload));
  c->CloseNotify();  // TLS half-close → the app reads EOF
  bool clean = false;
  std::string out = c->ReadAll(&clean);
  EXPECT_TRUE(out == payload) << out.size();
  EXPECT_TRUE(clean);  // the app's close reached the client as close_notify
  EXPECT_TRUE(WaitFor([&] { return p->OpenConnections() == 0 && p->MachineLoad("m1") == 0; }));
}

TEST_F(TlsIT, TlsWithProxyProtocolSendsTheRealClientToTheApp) {
  ProxyProtocolNginx nginx;
  ASSERT_TRUE(nginx.WaitReady());
  ServiceSpec svc = TcpService(8444, nginx.port);
  svc.ports[0].tls = true;
  svc.ports[0].proxy_proto = true;
  svc.ports[0].proxy_proto_version = 2;
  auto p = Start(svc);
  ASSERT_NE(p, nullptr);
  auto c = Connect(8444);
  ASSERT_NE(c, nullptr);
  sockaddr_in6 me{};
  socklen_t len = sizeof me;
  ::getsockname(c->fd(), reinterpret_cast<sockaddr*>(&me), &len);
  ASSERT_TRUE(c->WriteAll("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  std::string out = c->ReadAll();
  EXPECT_NE(out.find("\r\n\r\n" + std::string(kClientNet1) + " " + std::to_string(ntohs(me.sin6_port))),
            std::string::npos)
      << out;
}

TEST_F(TlsIT, GarbageIsCountedAndTheWorkerKeepsServing) {
  auto p = Start(HttpAndHttps());
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 4; ++i) {  // both workers (SO_REUSEPORT) most likely see one
    int fd = Dial(kClientNet1, kFlycast, 443);
    ASSERT_GE(fd, 0);
    SendAll(fd, "GET / HTTP/1.1\r\nHost: web.flycast\r\n\r\n");
    char buf[256];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
    ::close(fd);
  }
  EXPECT_TRUE(WaitFor([&] { return Metric(*p, kFailures) == 4; }));
  int code = -1;
  EXPECT_EQ(Curl({"--cacert", pki_->ca_file, Url(443, "/")}, &code), "m1");
  EXPECT_EQ(code, 0);
}

TEST_F(TlsIT, AdmissionHappensBeforeTheHandshake) {
  auto p = Start(HttpAndHttps());
  ASSERT_NE(p, nullptr);
  int fd = Dial(kClientNet2, kFlycast, 443);
  ASSERT_GE(fd, 0);
  TlsClientOptions o;
  std::string err;
  auto c = TlsClient::Connect(fd, o, &err);  // reset before any server byte
  EXPECT_EQ(c, nullptr);
  EXPECT_EQ(Metric(*p, kHandshakes), 0u);
  EXPECT_EQ(Metric(*p, kFailures), 0u);
  EXPECT_EQ(Metric(*p, "privcast_proxy_admission_refused_total{app=\"web\",source_network=\"2\"}"), 1u);
}

TEST_F(TlsIT, WithoutACertificateConnectionsAreClosedAndCounted) {
  auto p = Start(HttpAndHttps(), {}, /*with_provider=*/false);
  ASSERT_NE(p, nullptr);
  std::string err;
  EXPECT_EQ(Connect(443, {}, &err), nullptr);
  EXPECT_TRUE(WaitFor([&] { return Metric(*p, kFailures) == 1; }));
}

TEST_F(TlsIT, AStalledHandshakeTimesOut) {
  ProxyOptions o;
  o.tls_handshake_timeout = 100ms;
  auto p = Start(HttpAndHttps(), o);
  ASSERT_NE(p, nullptr);
  int fd = Dial(kClientNet1, kFlycast, 443);
  ASSERT_GE(fd, 0);
  char c;
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0);  // closed by the proxy (the socket's 5 s timeout would say -1)
  ::close(fd);
  EXPECT_TRUE(WaitFor([&] { return Metric(*p, kFailures) == 1 && p->OpenConnections() == 0; }));
}

TEST_F(TlsIT, AHandshakeTrickledAByteAtATimeStillTimesOut) {
  // The handshake's deadline runs from the accept, whatever bytes arrive meanwhile.
  ProxyOptions o;
  o.tls_handshake_timeout = 300ms;
  auto p = Start(HttpAndHttps(), o);
  ASSERT_NE(p, nullptr);
  int fd = Dial(kClientNet1, kFlycast, 443);
  ASSERT_GE(fd, 0);
  // A handshake record announcing 512 bytes, then its body one byte every 20 ms (10 s in all).
  ASSERT_TRUE(SendAll(fd, std::string("\x16\x03\x01\x02\x00", 5)));
  int sent = 0;
  for (; sent < 512; ++sent) {
    pollfd pf{fd, POLLIN, 0};
    if (::poll(&pf, 1, 0) > 0) break;  // closed by the proxy
    if (!SendAll(fd, std::string(1, '\x01'))) break;
    std::this_thread::sleep_for(20ms);  // the client's pace, not a synchronisation
  }
  EXPECT_LT(sent, 512) << "the handshake outlived its deadline while bytes trickled";
  EXPECT_GT(sent, 2) << "closed at once: the partial record was refused, the deadline untested";
  ::close(fd);
  EXPECT_TRUE(WaitFor([&] { return Metric(*p, kFailures) == 1 && p->OpenConnections() == 0; }));
}

}  // namespace
}  // namespace privcast::proxy
