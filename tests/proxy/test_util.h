// Helpers for the proxy's root integration tests: a private network namespace for the whole
// test process, small real backends (HTTP, echo), raw-socket clients and snapshot builders.
//
// Safety (docs/engineering.md): the namespace is anonymous (unshare of the test's main thread
// before any thread exists), so it disappears with the process on every path; all traffic
// stays on its loopback. Child processes (curl, nginx, haproxy) are started by pid and killed
// by pid.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/snapshot.h"

namespace privcast::proxy::testing {

// Enters a fresh network namespace once per process (must run before any thread starts) and
// configures lo with the test addresses. Returns false with a reason when not root.
bool EnterTestNetns(std::string* why);

// Addresses configured on lo by EnterTestNetns.
inline constexpr const char* kFlycast = "fdaa:0:1:0:1::5";          // app "web" on network 1
inline constexpr const char* kFlycastUnknown = "fdaa:0:1:0:1::99";  // not allocated
inline constexpr const char* kClientNet1 = "fdaa:0:1:0:2:0:3:2";    // a machine of network 1
inline constexpr const char* kClientNet2 = "fdaa:0:2:0:2:0:3:2";    // another org's network
inline constexpr uint32_t kNet1 = 1;

// A tiny threaded HTTP/1.1 server on ip:port (IPv4 loopback addresses) for tests.
//   GET /           → 200, body = tag
//   any /echo       → 200, body = request body (content-length or chunked)
//   GET /chunked    → 200 chunked, three chunks
//   GET /slow       → waits until Release() then 200
//   GET /ws         → 101 then echoes bytes until EOF
//   GET /headers    → 200, body = the request head as received
//   GET /big/N      → 200, body = N bytes "abc…zabc…"
//   any /replay     → 200 with `fly-replay: <its x-replay field>` (body "asked") when the request
//                     has no fly-replay-src (or has x-replay-always); else body "<tag>|<src>|<body>"
class HttpBackend {
 public:
  HttpBackend(uint32_t v4, uint16_t port, std::string tag);
  ~HttpBackend();
  bool ok() const { return lfd_ >= 0; }
  void Release();  // let /slow requests finish
  std::atomic<int> connections{0}, requests{0};
  std::string LastHead();

 private:
  void AcceptLoop();
  void Serve(int fd);
  int lfd_ = -1;
  int stopfd_ = -1;
  std::string tag_;
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<std::thread> conns_;
  std::vector<int> fds_;
  std::string last_head_;
};

// Echo-after-EOF server for raw TCP: reads everything until EOF, then writes it back reversed
// in order (same bytes) and closes. Also serves PROXY-header tests by recording the first line.
class EchoBackend {
 public:
  EchoBackend(uint32_t v4, uint16_t port);
  ~EchoBackend();
  bool ok() const { return lfd_ >= 0; }
  std::atomic<int> connections{0};

 private:
  int lfd_ = -1;
  int stopfd_ = -1;
  std::thread t_;
  std::vector<std::thread> conns_;
};

// nginx on 127.0.0.1:<free port> with `listen ... proxy_protocol`, answering every request with
// "$proxy_protocol_addr $proxy_protocol_port" (a real PROXY v1/v2 parser). Started by pid,
// killed by pid; its temp dir is removed.
class ProxyProtocolNginx {
 public:
  ProxyProtocolNginx();
  ~ProxyProtocolNginx();
  bool WaitReady();  // accepts connections
  uint16_t port = 0;

 private:
  std::string dir_;
  int pid_ = -1;
};

uint16_t FreePort(uint32_t v4);
// Connects from src (IPv6, bound) to dst:port; returns fd or -errno. Blocking, 5 s timeouts.
int Dial(const char* src, const char* dst, uint16_t port);
// Dial in two steps, for a socket to set up before it connects: a blocking TCP socket bound to
// src with 5 s timeouts (fd or -errno), then connect (0 or -errno).
int BoundSocket(const char* src);
int Connect(int fd, const char* dst, uint16_t port);
bool SendAll(int fd, const std::string& s);
// Reads one HTTP response (head + body by content-length / chunked / until EOF).
// Returns "" on error/timeout. `status` gets the status code.
std::string ReadResponse(int fd, int* status = nullptr);
// *why (if given) says how a request that got no response failed (connect, send or read error).
std::string Request(const char* src, uint16_t port, const std::string& req, int* status = nullptr,
                    std::string* why = nullptr);
std::string HeaderValue(const std::string& resp, const std::string& name);
std::string BodyOf(const std::string& resp);

// Builds a snapshot: one app "web" on network 1 with flycast kFlycast and the given service,
// machines (id, v4 link address, state, region).
struct TestMachine {
  std::string id;
  uint32_t v4;
  MachineRunState state = MachineRunState::kStarted;
  std::string region = "ams";
};
SnapshotPtr MakeSnapshot(int64_t revision, const ServiceSpec& svc, const std::vector<TestMachine>& machines);
ServiceSpec HttpService(uint16_t port, uint16_t internal_port);
ServiceSpec TcpService(uint16_t port, uint16_t internal_port);

// Counts LISTEN sockets on `port` in this namespace (/proc/net/tcp6).
int Listening(uint16_t port);
// Connections waiting in the accept queues of `port`'s LISTEN sockets (/proc/net/tcp6 rx_queue).
int AcceptQueue(uint16_t port);
// Bytes not yet read by the accepting side on the established connections whose local port is
// `port`; -1 when there is no such connection.
int Unread(uint16_t port);
// Sockets in this namespace towards v4:port (IPv4, /proc/net/tcp) that closed first and still
// exist: FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSING. For a proxy, each is a port towards that app.
int ClosedFirstTowards(uint32_t v4, uint16_t port);
// Waits (bounded) until pred() is true.
bool WaitFor(const std::function<bool()>& pred, int timeout_ms = 5000);

// Runs a command (argv) as a child, returns its pid; Kill/Wait by pid.
int Spawn(const std::vector<std::string>& argv, const std::string& out_file = "");
int WaitPid(int pid);
void KillPid(int pid);
std::string RunCapture(const std::vector<std::string>& argv, int* exit_code = nullptr);

}  // namespace privcast::proxy::testing
