// TlsStream (the TLS client side of proxy sessions) against a real OpenSSL client over a
// socketpair: the server side is driven non-blocking from the test thread with poll(), as a
// worker's loop would; the client runs blocking on its own thread.
#include "proxy/tls_stream.h"

#include <fcntl.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "proxy/transport.h"
#include "tls_test_util.h"

namespace privcast::proxy {
namespace {

using testing::MakeTestPki;
using testing::TestPki;
using testing::TlsClient;
using testing::TlsClientOptions;

constexpr const char* kIp = "fdaa:0:1:0:1::5";

class TlsStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = MakeTestPki({kIp});
    ASSERT_NE(pki_, nullptr);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv_), 0);
    ::fcntl(sv_[0], F_SETFL, O_NONBLOCK);
    timeval tv{10, 0};
    ::setsockopt(sv_[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(sv_[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    port_.start_port = port_.end_port = 443;
    port_.http = true;
    port_.tls = true;
  }
  void TearDown() override {
    if (client_.joinable()) client_.join();
    if (sv_[0] >= 0) ::close(sv_[0]);
    // sv_[1] belongs to the TlsClient (closed with it) or is closed by the test.
  }
  TlsClientOptions Verified(std::vector<std::string> alpn = {"h2", "http/1.1"}) {
    TlsClientOptions o;
    o.ca_pem = pki_->ca_pem;
    o.verify_name = kIp;
    o.alpn = std::move(alpn);
    return o;
  }
  // Runs fn(client) on a thread once the client's handshake is done (or fn(nullptr) on failure).
  void RunClient(TlsClientOptions o, std::function<void(TlsClient*)> fn) {
    client_ = std::thread([this, o, fn] {
      auto c = TlsClient::Connect(sv_[1], o, &client_error_);
      fn(c.get());
    });
  }
  std::unique_ptr<TlsStream> Server() { return TlsStream::New(pki_->server_ctx.get(), sv_[0], port_); }
  // Drives the server handshake to its end, as the worker does on readiness.
  TlsStream::Step Handshake(TlsStream& s) {
    for (;;) {
      auto st = s.Handshake();
      if (st == TlsStream::Step::kDone || st == TlsStream::Step::kFailed) return st;
      pollfd p{sv_[0], static_cast<short>(st == TlsStream::Step::kWantRead ? POLLIN : POLLOUT), 0};
      if (::poll(&p, 1, 10000) <= 0) return TlsStream::Step::kFailed;
    }
  }
  // One Read that waits for readiness on EAGAIN.
  ssize_t Read(TlsStream& s, char* p, size_t n) {
    for (;;) {
      ssize_t r = s.Read(p, n);
      if (r >= 0 || errno != EAGAIN) return r;
      pollfd pf{sv_[0], static_cast<short>(s.read_wants_write() ? POLLOUT : POLLIN), 0};
      if (::poll(&pf, 1, 10000) <= 0) return -1;
    }
  }
  std::string ReadExactly(TlsStream& s, size_t n, size_t chunk = 16384) {
    std::string out;
    std::string buf(chunk, '\0');
    while (out.size() < n) {
      ssize_t r = Read(s, buf.data(), std::min(chunk, n - out.size()));
      if (r <= 0) break;
      out.append(buf.data(), static_cast<size_t>(r));
    }
    return out;
  }
  // Writes everything, retrying after EAGAIN with the same bytes first (OpenSSL's rule).
  bool WriteAll(TlsStream& s, std::string_view data, int* eagains = nullptr) {
    while (!data.empty()) {
      ssize_t r = s.Write(data.data(), data.size());
      if (r < 0) {
        if (errno != EAGAIN) return false;
        if (eagains) ++*eagains;
        pollfd p{sv_[0], POLLOUT, 0};
        if (::poll(&p, 1, 10000) <= 0) return false;
        continue;
      }
      data.remove_prefix(static_cast<size_t>(r));
    }
    return true;
  }

  std::unique_ptr<TestPki> pki_;
  int sv_[2] = {-1, -1};
  PortSpec port_;
  std::thread client_;
  std::string client_error_;
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s[i] = static_cast<char>(x);
  }
  return s;
}

TEST_F(TlsStreamTest, HandshakeSelectsHttp11AndCarriesBytesBothWays) {
  std::promise<std::string> got;
  RunClient(Verified({"http/1.1"}), [&](TlsClient* c) {
    if (!c) return got.set_value("handshake failed: " + client_error_);
    c->WriteAll("ping");
    char buf[4];
    int n = 0;
    while (n < 4) {
      int r = c->Read(buf + n, 4 - n);
      if (r <= 0) break;
      n += r;
    }
    std::string seen = c->alpn() + " " + std::string(buf, static_cast<size_t>(n));
    c->CloseNotify();
    got.set_value(seen);
  });
  auto s = Server();
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(Handshake(*s), TlsStream::Step::kDone) << s->error();
  EXPECT_TRUE(s->established());
  EXPECT_EQ(s->alpn(), "http/1.1");
  EXPECT_STREQ(s->version(), "TLSv1.3");
  EXPECT_EQ(ReadExactly(*s, 4), "ping");
  ASSERT_TRUE(WriteAll(*s, "pong"));
  EXPECT_EQ(got.get_future().get(), "http/1.1 pong");
  char c;
  EXPECT_EQ(Read(*s, &c, 1), 0);  // close_notify reads as EOF
}

TEST_F(TlsStreamTest, BigPayloadsSurvivePartialWritesAndSmallReads) {
  const std::string down = Pattern(8 << 20), up = Pattern(3 << 20) + "end";
  int small = 4096;
  ::setsockopt(sv_[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::promise<void> server_blocked;
  std::promise<std::string> received;
  RunClient(Verified(), [&](TlsClient* c) {
    if (!c) return received.set_value("");
    server_blocked.get_future().wait();  // read only once the server saw a full socket
    std::string in;
    char buf[65536];
    while (in.size() < down.size()) {
      int r = c->Read(buf, sizeof buf);
      if (r <= 0) break;
      in.append(buf, static_cast<size_t>(r));
    }
    received.set_value(std::move(in));
    c->WriteAll(up);
  });
  auto s = Server();
  ASSERT_EQ(Handshake(*s), TlsStream::Step::kDone) << s->error();
  // Write until the socket is full, then let the client read and finish the rest.
  std::string_view rest = down;
  int eagains = 0;
  while (!rest.empty() && eagains == 0) {
    ssize_t r = s->Write(rest.data(), rest.size());
    if (r < 0) {
      ASSERT_EQ(errno, EAGAIN);
      ++eagains;
      break;
    }
    EXPECT_LE(static_cast<size_t>(r), 16384u);  // partial writes: one record at a time
    rest.remove_prefix(static_cast<size_t>(r));
  }
  ASSERT_EQ(eagains, 1);
  server_blocked.set_value();
  ASSERT_TRUE(WriteAll(*s, rest, &eagains));
  EXPECT_TRUE(received.get_future().get() == down);
  EXPECT_TRUE(ReadExactly(*s, up.size(), 1000) == up);  // reads shorter than a record
}

TEST_F(TlsStreamTest, Write2OfAHeadAndAGrowingBodyKeepsTheBytesInOrder) {
  // As HttpSession::FlushClient does: a head and a body that grows while writes block; what
  // was taken is consumed from the head first, then from the body.
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\n\r\n";
  const std::string body = Pattern(4 << 20);
  int small = 4096;
  ::setsockopt(sv_[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::promise<std::string> received;
  RunClient(Verified(), [&](TlsClient* c) {
    std::string in;
    char buf[65536];
    while (c && in.size() < head.size() + body.size()) {
      int r = c->Read(buf, sizeof buf);
      if (r <= 0) break;
      in.append(buf, static_cast<size_t>(r));
    }
    received.set_value(std::move(in));
  });
  auto s = Server();
  ASSERT_EQ(Handshake(*s), TlsStream::Step::kDone) << s->error();
  size_t h = 0, b = 0, avail = 1000;  // body bytes "received from the app" so far
  int eagains = 0;
  while (h < head.size() || b < body.size()) {
    ssize_t r = s->Write2(head.data() + h, head.size() - h, body.data() + b, avail - b);
    if (r < 0) {
      ASSERT_EQ(errno, EAGAIN);
      ++eagains;
      avail = std::min(body.size(), avail + 100000);  // more arrives while we wait
      pollfd p{sv_[0], POLLOUT, 0};
      ASSERT_GT(::poll(&p, 1, 10000), 0);
      continue;
    }
    size_t k = static_cast<size_t>(r), a = std::min(k, head.size() - h);
    h += a;
    b += k - a;
    if (b == avail) avail = std::min(body.size(), avail + 100000);
  }
  EXPECT_GT(eagains, 0);
  EXPECT_TRUE(received.get_future().get() == head + body);
}

TEST_F(TlsStreamTest, PeerCloseWithoutCloseNotifyIsEofAndLaterWritesFail) {
  // The client's TCP-level FIN comes first and its close only after the server has seen the
  // EOF: closed at once, the client would drop the server's unread session tickets, and the
  // kernel reports that close as a reset (ECONNRESET), not as EOF.
  std::promise<void> eof_seen;
  RunClient(Verified(), [&](TlsClient* c) {
    if (c) ::shutdown(c->fd(), SHUT_WR);  // no close_notify
    eof_seen.get_future().wait();
  });
  auto s = Server();
  ASSERT_EQ(Handshake(*s), TlsStream::Step::kDone) << s->error();
  char c;
  ssize_t eof = Read(*s, &c, 1);
  int eof_errno = errno;
  eof_seen.set_value();
  client_.join();  // the client has closed its socket now
  EXPECT_EQ(eof, 0) << std::strerror(eof_errno) << ": " << s->error();
  // The peer is gone: a write fails (EPIPE/ECONNRESET), never EAGAIN.
  std::string big = Pattern(1 << 20);
  ssize_t r = 0;
  for (int i = 0; i < 64 && r >= 0; ++i) r = s->Write(big.data(), big.size());
  EXPECT_LT(r, 0);
  EXPECT_NE(errno, EAGAIN);
}

TEST_F(TlsStreamTest, WritesToAPeerThatClosedFailWithoutSigpipe) {
  RunClient(Verified(), [&](TlsClient*) {});  // handshakes, then closes without reading
  auto s = Server();
  ASSERT_EQ(Handshake(*s), TlsStream::Step::kDone) << s->error();
  client_.join();
  // SIGPIPE back at its default (the test client ignores it): a write that raised it would
  // kill this test instead of failing with EPIPE.
  auto old = ::signal(SIGPIPE, SIG_DFL);
  std::string big = Pattern(1 << 20);
  ssize_t r = 0;
  for (int i = 0; i < 64 && r >= 0; ++i) r = s->Write(big.data(), big.size());
  int write_errno = errno;
  ::signal(SIGPIPE, old);
  EXPECT_LT(r, 0);
  EXPECT_TRUE(write_errno == EPIPE || write_errno == ECONNRESET) << std::strerror(write_errno);
}

TEST_F(TlsStreamTest, GarbageInsteadOfAClientHelloFailsCleanly) {
  const std::string garbage = "GET / HTTP/1.1\r\nHost: web.flycast\r\n\r\n";
  ASSERT_EQ(::send(sv_[1], garbage.data(), garbage.size(), 0), static_cast<ssize_t>(garbage.size()));
  auto s = Server();
  EXPECT_EQ(Handshake(*s), TlsStream::Step::kFailed);
  EXPECT_FALSE(s->error().empty());
  EXPECT_FALSE(s->established());
  // Failed streams stay failed and never touch OpenSSL again.
  char c;
  EXPECT_EQ(s->Read(&c, 1), -1);
  EXPECT_EQ(s->Write("x", 1), -1);
  s->CloseNotify();
  ::close(sv_[1]);
}

TEST_F(TlsStreamTest, HttpPortsPreferH2) {
  std::promise<std::string> got;
  RunClient(Verified({"http/1.1", "h2"}), [&](TlsClient* c) {
    got.set_value(c ? c->alpn() : "failed: " + client_error_);
    if (c) c->CloseNotify();
  });
  auto s = Server();
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(Handshake(*s), TlsStream::Step::kDone) << s->error();
  EXPECT_EQ(s->alpn(), "h2");  // the session then becomes an H2Session (h2_session.h)
  EXPECT_EQ(got.get_future().get(), "h2");
}

TEST_F(TlsStreamTest, ClientOfferingNeitherH2NorHttp11IsRefusedOnHttpPorts) {
  std::promise<bool> ok;
  RunClient(Verified({"spdy/3.1"}), [&](TlsClient* c) { ok.set_value(c != nullptr); });
  auto s = Server();
  EXPECT_EQ(Handshake(*s), TlsStream::Step::kFailed);
  EXPECT_NE(s->error().find("application protocol"), std::string::npos) << s->error();
  EXPECT_FALSE(ok.get_future().get());
}

TEST_F(TlsStreamTest, RawPortsSelectFromTheirAlpnListInServerOrder) {
  port_.http = false;
  port_.tls_alpn = {"pg", "x-other"};
  std::promise<std::string> got;
  RunClient(Verified({"x-other", "pg"}), [&](TlsClient* c) { got.set_value(c ? c->alpn() : "failed"); });
  auto s = Server();
  ASSERT_EQ(Handshake(*s), TlsStream::Step::kDone) << s->error();
  EXPECT_EQ(s->alpn(), "pg");
  EXPECT_EQ(got.get_future().get(), "pg");
}

TEST_F(TlsStreamTest, RawPortsWithoutAlpnAcceptAnyOfferWithoutSelecting) {
  port_.http = false;
  std::promise<std::string> got;
  RunClient(Verified({"h2"}), [&](TlsClient* c) { got.set_value(c ? "[" + c->alpn() + "]" : "failed"); });
  auto s = Server();
  ASSERT_EQ(Handshake(*s), TlsStream::Step::kDone) << s->error();
  EXPECT_EQ(got.get_future().get(), "[]");
}

TEST_F(TlsStreamTest, VersionRangeComesFromThePort) {
  port_.tls_min_version = port_.tls_max_version = TLS1_3_VERSION;
  TlsClientOptions o = Verified();
  o.max_version = TLS1_2_VERSION;
  std::promise<bool> ok;
  RunClient(o, [&](TlsClient* c) { ok.set_value(c != nullptr); });
  auto s = Server();
  EXPECT_EQ(Handshake(*s), TlsStream::Step::kFailed);
  EXPECT_FALSE(ok.get_future().get());
}

TEST_F(TlsStreamTest, Tls12OnlyPortNegotiatesTls12) {
  port_.tls_min_version = port_.tls_max_version = TLS1_2_VERSION;
  std::promise<std::string> got;
  RunClient(Verified(), [&](TlsClient* c) { got.set_value(c ? c->version() : "failed"); });
  auto s = Server();
  ASSERT_EQ(Handshake(*s), TlsStream::Step::kDone) << s->error();
  EXPECT_EQ(got.get_future().get(), "TLSv1.2");
}

TEST_F(TlsStreamTest, CloseNotifyIsAHalfCloseTheClientCanStillSendAfter) {
  std::promise<std::string> got;
  RunClient(Verified(), [&](TlsClient* c) {
    if (!c) return got.set_value("failed");
    bool clean = false;
    std::string in = c->ReadAll(&clean);
    c->WriteAll("late bytes");
    got.set_value(in + (clean ? " clean" : " unclean"));
  });
  auto s = Server();
  ASSERT_EQ(Handshake(*s), TlsStream::Step::kDone) << s->error();
  ASSERT_TRUE(WriteAll(*s, "bye"));
  ClientTransport io;
  io.fd = sv_[0];
  io.tls = std::move(s);
  io.CloseNotify();
  EXPECT_EQ(got.get_future().get(), "bye clean");
  EXPECT_EQ(ReadExactly(*io.tls, 10), "late bytes");
}

TEST_F(TlsStreamTest, ClientHalfCloseThenTheServerStillAnswers) {
  std::promise<std::string> got;
  RunClient(Verified(), [&](TlsClient* c) {
    if (!c) return got.set_value("failed");
    c->WriteAll("request");
    c->CloseNotify();
    bool clean = false;
    std::string in = c->ReadAll(&clean);
    got.set_value(in + (clean ? " clean" : " unclean"));
  });
  auto s = Server();
  ASSERT_EQ(Handshake(*s), TlsStream::Step::kDone) << s->error();
  EXPECT_EQ(ReadExactly(*s, 7), "request");
  char c;
  EXPECT_EQ(Read(*s, &c, 1), 0);
  ASSERT_TRUE(WriteAll(*s, "response"));
  s->CloseNotify();
  EXPECT_EQ(got.get_future().get(), "response clean");
}

}  // namespace
}  // namespace privcast::proxy
