// The API server against one hostile local client: descriptors passed
// by SCM_RIGHTS are taken only by `machines/run` with shell, at most 4, only on a request's
// first bytes (any other is closed at once and the request refused); a whole request has
// one deadline however slowly it trickles; waiting connections give way so that slow or
// idle connections cannot keep the operator out, and the limits are per uid (SO_PEERCRED)
// with slots kept for root and the daemon's uid.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "api/client.h"
#include "api/routes.h"
#include "fake_backend.h"

namespace privcast {
namespace {

using std::chrono::milliseconds;

UniqueFd Connect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  std::strcpy(sa.sun_path, path.c_str());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) fd.reset();
  return fd;
}

// Sends `data` with `fds` attached (errors ignored: the server may have closed already).
void SendFds(int sock, const std::string& data, const std::vector<int>& fds) {
  (void)api::SendWithFds(sock, data, fds);
}

// Reads until the server closes or `deadline_ms` passes; returns what came.
std::string ReadAll(int fd, int deadline_ms = 10000) {
  std::string out;
  auto end = std::chrono::steady_clock::now() + milliseconds(deadline_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(end - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    struct pollfd p {
      fd, POLLIN, 0
    };
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Reads until `needle` has arrived (bounded); true when it did.
bool ReadUntil(int fd, const std::string& needle, std::string* got) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (got->find(needle) == std::string::npos && std::chrono::steady_clock::now() < end) {
    struct pollfd p {
      fd, POLLIN, 0
    };
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    got->append(buf, static_cast<size_t>(n));
  }
  return got->find(needle) != std::string::npos;
}

// A pipe whose write end we hand to the server: once every copy of it is closed, the read
// end sees EOF. That is how the tests see that the daemon closed what it was sent.
struct Probe {
  int r = -1, w = -1;
  Probe() {
    int p[2];
    PC_CHECK(::pipe2(p, O_CLOEXEC) == 0);
    r = p[0];
    w = p[1];
  }
  ~Probe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
  void CloseOurWriteEnd() {
    ::close(w);
    w = -1;
  }
  // True once no write end is open anywhere (bounded wait).
  bool WriterGone() const {
    struct pollfd p {
      r, POLLIN, 0
    };
    if (::poll(&p, 1, 10000) <= 0) return false;
    char c;
    return ::read(r, &c, 1) == 0;
  }
};

constexpr const char* kRun = "POST /v1/apps/web/machines/run HTTP/1.1\r\n";

std::string Request(const std::string& line, const std::string& body) {
  return line + "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class LimitsTest : public ::testing::Test {
 protected:
  explicit LimitsTest(const std::function<void(api::ServerOptions&)>& adjust = nullptr)
      : h_(true, adjust), client_(h_.socket()) {
    auto r = client_.Call("POST", "/v1/apps", R"({"app_name":"web"})");
    PC_CHECK(r.ok() && r->status == 201);
  }
  testing::ApiHarness h_;
  api::Client client_;
};

TEST_F(LimitsTest, FdsOnARouteThatTakesNoneAreClosedAndRefused) {
  Probe probe;
  UniqueFd c = Connect(h_.socket());
  SendFds(c.get(), "GET /v1/orgs HTTP/1.1\r\n\r\n", {probe.w});
  probe.CloseOurWriteEnd();
  std::string resp = ReadAll(c.get());
  EXPECT_EQ(resp.rfind("HTTP/1.1 400 ", 0), 0u) << resp;
  EXPECT_NE(resp.find("accepted only by POST /v1/apps/{app}/machines/run"), std::string::npos) << resp;
  EXPECT_TRUE(probe.WriterGone());
  EXPECT_EQ(client_.Call("GET", "/v1/orgs")->status, 200);  // everyone else is served
}

// The attack of the issue: one unfinished request carrying SCM_RIGHTS on every message
// pinned every daemon descriptor. Now only its first bytes may carry any: the second
// message's descriptors are closed at once and the request refused.
TEST_F(LimitsTest, UnfinishedRequestCannotPinDescriptors) {
  Probe first, later;
  UniqueFd c = Connect(h_.socket());
  SendFds(c.get(), kRun, {first.w, first.w, first.w});
  first.CloseOurWriteEnd();
  for (int i = 0; i < 50; ++i)
    SendFds(c.get(), "X-Pad: " + std::to_string(i) + "\r\n", {later.w, later.w, later.w, later.w});
  later.CloseOurWriteEnd();
  std::string resp = ReadAll(c.get());
  EXPECT_EQ(resp.rfind("HTTP/1.1 400 ", 0), 0u) << resp;
  EXPECT_NE(resp.find("on the first bytes of the request"), std::string::npos) << resp;
  EXPECT_TRUE(later.WriterGone());
  EXPECT_TRUE(first.WriterGone());
}

TEST_F(LimitsTest, AtMostFourFdsAndOnlyWhatTheRequestNeeds) {
  const std::string shell = R"({"shell":true,"cmd":["sh"]})";
  {  // Six in one message: the kernel closes the two that do not fit; the request is refused.
    Probe p;
    UniqueFd c = Connect(h_.socket());
    SendFds(c.get(), Request(kRun, shell), {p.w, p.w, p.w, p.w, p.w, p.w});
    p.CloseOurWriteEnd();
    std::string resp = ReadAll(c.get());
    EXPECT_EQ(resp.rfind("HTTP/1.1 400 ", 0), 0u) << resp;
    EXPECT_NE(resp.find("at most 4"), std::string::npos) << resp;
    EXPECT_TRUE(p.WriterGone());
  }
  {  // A 4th (the resize pipe) only with a tty.
    Probe p;
    UniqueFd c = Connect(h_.socket());
    SendFds(c.get(), Request(kRun, shell), {p.w, p.w, p.w, p.w});
    p.CloseOurWriteEnd();
    std::string resp = ReadAll(c.get());
    EXPECT_EQ(resp.rfind("HTTP/1.1 400 ", 0), 0u) << resp;
    EXPECT_NE(resp.find("got 4 without 'tty'"), std::string::npos) << resp;
    EXPECT_TRUE(p.WriterGone());
  }
  {  // machines/run without shell takes none.
    Probe p;
    UniqueFd c = Connect(h_.socket());
    SendFds(c.get(), Request(kRun, R"({"cmd":["true"]})"), {p.w});
    p.CloseOurWriteEnd();
    std::string resp = ReadAll(c.get());
    EXPECT_EQ(resp.rfind("HTTP/1.1 400 ", 0), 0u) << resp;
    EXPECT_NE(resp.find("only with \\\"shell\\\": true"), std::string::npos) << resp;
    EXPECT_TRUE(p.WriterGone());
    auto ms = h_.reg->ListMachines("web");
    ASSERT_TRUE(ms.ok());
    EXPECT_TRUE(ms->empty());  // refused before anything happened
  }
}

class DeadlineTest : public LimitsTest {
 protected:
  DeadlineTest()
      : LimitsTest([](api::ServerOptions& o) {
          o.request_timeout = milliseconds(300);
          o.idle_timeout = std::chrono::seconds(60);
        }) {}
};

// A head that trickles a line at a time used to restart the timeout on every read.
TEST_F(DeadlineTest, WholeRequestHasOneDeadline) {
  UniqueFd c = Connect(h_.socket());
  ASSERT_TRUE(c.valid());
  std::string line = "GET /v1/version HTTP/1.1\r\n";
  ASSERT_EQ(::send(c.get(), line.data(), line.size(), MSG_NOSIGNAL), static_cast<ssize_t>(line.size()));
  std::string resp;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int i = 0; resp.empty() && std::chrono::steady_clock::now() < end; ++i) {
    std::string h = "X-Slow-" + std::to_string(i) + ": 1\r\n";
    if (::send(c.get(), h.data(), h.size(), MSG_NOSIGNAL) < 0) break;
    struct pollfd p {
      c.get(), POLLIN, 0
    };
    if (::poll(&p, 1, 20) > 0) resp = ReadAll(c.get(), 2000);  // the wait between two lines
  }
  EXPECT_EQ(resp.rfind("HTTP/1.1 408 ", 0), 0u) << resp;
  EXPECT_NE(resp.find("not completed within 300 ms"), std::string::npos) << resp;
  EXPECT_EQ(client_.Call("GET", "/v1/version")->status, 200);
}

// The request deadline is on the server's clock (ServerOptions::clock): when a FakeClock
// passes it, the request ends with a 408 at once; a real-time deadline of an hour would not.
TEST(ClockDeadlineTest, RequestDeadlineIsOnTheServersClock) {
  FakeClock clock;
  testing::ApiHarness h(true, [&clock](api::ServerOptions& o) {
    o.clock = &clock;
    o.request_timeout = std::chrono::hours(1);
    o.idle_timeout = std::chrono::hours(10000);  // never reached here: only the request's deadline
  });
  UniqueFd c = Connect(h.socket());
  ASSERT_TRUE(c.valid());
  std::string head = "GET /v1/version HTTP/1.1\r\n";  // and nothing more
  ASSERT_EQ(::send(c.get(), head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  std::string resp;
  // The deadline counts from when the server read the first bytes: move the clock until it answers.
  for (int i = 0; i < 200 && resp.empty(); ++i) {
    clock.Advance(std::chrono::minutes(61));
    resp = ReadAll(c.get(), 50);
  }
  EXPECT_EQ(resp.rfind("HTTP/1.1 408 ", 0), 0u) << resp;
  EXPECT_NE(resp.find("not completed within 3600000 ms"), std::string::npos) << resp;
}

class ConnLimitTest : public LimitsTest {
 protected:
  ConnLimitTest()
      : LimitsTest([](api::ServerOptions& o) {
          o.max_connections = 4;
          o.max_connections_per_uid = 2;
          o.reserved_connections = 2;
        }) {}
  // A connection streaming `logs -f`: busy with a request until it closes.
  UniqueFd Follower() {
    UniqueFd c = Connect(h_.socket());
    std::string req = "GET /v1/apps/web/logs?follow=1 HTTP/1.1\r\n\r\n";
    (void)!::send(c.get(), req.data(), req.size(), MSG_NOSIGNAL);
    std::string got;
    if (!ReadUntil(c.get(), "web line 2", &got)) c.reset();
    return c;
  }
};

// The issue's second attack: slow connections (a byte now and then) held every slot and
// the operator got "too many API connections". Now a waiting connection gives way.
TEST_F(ConnLimitTest, SlowConnectionsGiveWayToTheOperator) {
  std::vector<UniqueFd> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(Connect(h_.socket()));
    (void)!::send(slow.back().get(), "GET /v1/ver", 11, MSG_NOSIGNAL);
  }
  api::Client op(h_.socket());
  for (int i = 0; i < 3; ++i) {
    auto r = op.Call("GET", "/v1/orgs");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200) << r->body;
    api::Client fresh(h_.socket());  // a new connection each time, like one CLI run each
    EXPECT_EQ(fresh.Call("GET", "/v1/version")->status, 200);
  }
  // The longest-waiting slow connection was the one closed first.
  EXPECT_EQ(ReadAll(slow[0].get(), 5000), "");
}

TEST_F(ConnLimitTest, BusyConnectionsAreKeptAndTheRefusalSaysWhose) {
  std::vector<UniqueFd> busy;
  client_ = api::Client(h_.socket());  // drop the fixture's idle connection
  for (int i = 0; i < 4; ++i) {
    busy.push_back(Follower());
    ASSERT_TRUE(busy.back().valid());
  }
  api::Client op(h_.socket());
  auto r = op.Call("GET", "/v1/orgs");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("too many API connections from uid " + std::to_string(::geteuid()) + ": it has 4 open"),
            std::string::npos)
      << r->body;
  busy.pop_back();  // one `logs -f` ends: room again (bounded wait for the server to see it)
  int status = 0;
  for (int i = 0; i < 200 && status != 200; ++i) {
    api::Client again(h_.socket());
    auto x = again.Call("GET", "/v1/orgs");
    status = x.ok() ? x->status : 0;
    if (status != 200) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_EQ(status, 200);
}

// Per-uid limits (SO_PEERCRED) and the reserve: needs root to connect as other uids.
TEST_F(ConnLimitTest, PerUidLimitsAndAReserveForRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as other uids";
  client_ = api::Client(h_.socket());
  ASSERT_EQ(::chmod(h_.dir.c_str(), 0711), 0);
  ASSERT_EQ(::chmod(h_.socket().c_str(), 0666), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Single-threaded child: connect under other effective uids, check, report by exit code.
    auto as = [](uid_t uid) { return ::setresuid(static_cast<uid_t>(-1), uid, static_cast<uid_t>(-1)) == 0; };
    std::vector<UniqueFd> keep;
    auto follow = [&] {
      UniqueFd c = Connect(h_.socket());
      std::string req = "GET /v1/apps/web/logs?follow=1 HTTP/1.1\r\n\r\n", got;
      (void)!::send(c.get(), req.data(), req.size(), MSG_NOSIGNAL);
      bool ok = ReadUntil(c.get(), "web line 2", &got);
      keep.push_back(std::move(c));
      return ok;
    };
    auto version = [&] {
      UniqueFd c = Connect(h_.socket());
      std::string req = "GET /v1/version HTTP/1.1\r\nConnection: close\r\n\r\n";
      (void)!::send(c.get(), req.data(), req.size(), MSG_NOSIGNAL);
      return ReadAll(c.get());
    };
    int bad = 0;
    if (!as(65534) || !follow() || !follow()) bad |= 1;
    if (version().find("too many API connections from uid 65534: it has 2 open (at most 2)") == std::string::npos)
      bad |= 2;
    // 4 slots, 2 kept for root: another uid finds the shared ones used up...
    if (!as(0) || !as(65533) || version().find("503 Service Unavailable") == std::string::npos) bad |= 4;
    if (!as(0) || version().find("HTTP/1.1 200") == std::string::npos) bad |= 8;  // ...root does not
    ::_exit(bad);
  }
  int ws = 0;
  ASSERT_EQ(::waitpid(pid, &ws, 0), pid);
  ASSERT_TRUE(WIFEXITED(ws));
  EXPECT_EQ(WEXITSTATUS(ws), 0) << "failed checks (bits): " << WEXITSTATUS(ws);
}

TEST(RouteTakesFdsTest, OnlyMachineRun) {
  EXPECT_TRUE(api::RouteTakesFds("POST /v1/apps/web/machines/run HTTP/1.1"));
  EXPECT_TRUE(api::RouteTakesFds("POST /v1/apps/web/machines/run?x=1 HTTP/1.1"));
  EXPECT_FALSE(api::RouteTakesFds("GET /v1/apps/web/machines/run HTTP/1.1"));
  EXPECT_FALSE(api::RouteTakesFds("POST /v1/apps/web/machines HTTP/1.1"));
  EXPECT_FALSE(api::RouteTakesFds("POST /v1/orgs HTTP/1.1"));
  EXPECT_FALSE(api::RouteTakesFds(""));
}

}  // namespace
}  // namespace privcast
