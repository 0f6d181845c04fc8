#include "test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "common/addr.h"
#include "common/strings.h"

namespace privcast::proxy::testing {

// True once `ip -6 route show table local` lists every address (bounded: 10 s).
static bool WaitForLocalRoutes(const std::vector<std::string>& addrs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (auto delay = std::chrono::milliseconds(1);; delay = std::min(delay * 2, std::chrono::milliseconds(100))) {
    std::string out;
    if (FILE* f = ::popen("ip -6 route show table local", "r")) {
      char buf[512];
      while (std::fgets(buf, sizeof buf, f)) out += buf;
      ::pclose(f);
    }
    bool all = true;
    for (const auto& a : addrs)
      if (out.find("local " + a + " ") == std::string::npos) all = false;
    if (all) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(delay);
  }
}

bool EnterTestNetns(std::string* why) {
  static int state = 0;  // 0 unknown, 1 ok, 2 failed
  static std::string reason;
  if (state == 0) {
    if (::geteuid() != 0) {
      state = 2;
      reason = "needs root (network namespaces)";
    } else if (::unshare(CLONE_NEWNET) != 0) {
      state = 2;
      reason = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    } else {
      state = 1;
      const char* cmds[] = {
          "ip link set lo up",
          "ip -6 addr add fdaa:0:1:0:1::5/128 dev lo nodad",
          "ip -6 addr add fdaa:0:1:0:2:0:3:2/128 dev lo nodad",
          "ip -6 addr add fdaa:0:2:0:2:0:3:2/128 dev lo nodad",
          // The unknown flycast address is local too (the whole range is local on a host).
          "ip -6 addr add fdaa:0:1:0:1::99/128 dev lo nodad",
      };
      for (const char* c : cmds)
        if (std::system(c) != 0) {
          state = 2;
          reason = std::string("failed: ") + c;
        }
      // The kernel inserts an address's local route from its DAD work item, also with nodad:
      // on a loaded host a connect() can meet ENETUNREACH until it ran. Wait for the routes.
      if (state == 1 &&
          !WaitForLocalRoutes({"fdaa:0:1:0:1::5", "fdaa:0:1:0:2:0:3:2", "fdaa:0:2:0:2:0:3:2", "fdaa:0:1:0:1::99"})) {
        state = 2;
        reason = "the test addresses' local routes did not appear within 10 s";
      }
    }
  }
  if (why) *why = reason;
  return state == 1;
}

static void SetTimeouts(int fd) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int ListenV4(uint32_t v4, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(v4);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || ::listen(fd, 512) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

uint16_t FreePort(uint32_t v4) {
  int fd = ListenV4(v4, 0);
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

// Accept loop shared by the backends: poll on the listener and a stop eventfd.
static void AcceptLoop(int lfd, int stopfd, const std::function<void(int)>& on_conn) {
  for (;;) {
    pollfd p[2] = {{lfd, POLLIN, 0}, {stopfd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) continue;
    if (p[1].revents) return;
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    on_conn(fd);
  }
}

// ---------------------------------------------------------------------------------------------

HttpBackend::HttpBackend(uint32_t v4, uint16_t port, std::string tag) : tag_(std::move(tag)) {
  lfd_ = ListenV4(v4, port);
  stopfd_ = ::eventfd(0, EFD_CLOEXEC);
  if (lfd_ >= 0) acceptor_ = std::thread([this] { AcceptLoop(); });
}

HttpBackend::~HttpBackend() {
  Release();
  uint64_t one = 1;
  ssize_t r = ::write(stopfd_, &one, sizeof one);
  (void)r;
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : conns_) t.join();
  if (lfd_ >= 0) ::close(lfd_);
  ::close(stopfd_);
}

void HttpBackend::Release() {
  std::lock_guard<std::mutex> l(mu_);
  released_ = true;
  cv_.notify_all();
}

std::string HttpBackend::LastHead() {
  std::lock_guard<std::mutex> l(mu_);
  return last_head_;
}

void HttpBackend::AcceptLoop() {
  testing::AcceptLoop(lfd_, stopfd_, [this](int fd) {
    connections++;
    std::lock_guard<std::mutex> l(mu_);
    fds_.push_back(fd);
    conns_.emplace_back([this, fd] { Serve(fd); });
  });
}

static bool ReadMore(int fd, std::string& buf) {
  char tmp[65536];
  ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
  if (n <= 0) return false;
  buf.append(tmp, static_cast<size_t>(n));
  return true;
}

// Reads a chunked body from buf (+socket) into out; returns false on EOF.
static bool ReadChunked(int fd, std::string& buf, std::string* out) {
  size_t pos = 0;
  for (;;) {
    size_t eol;
    while ((eol = buf.find("\r\n", pos)) == std::string::npos)
      if (!ReadMore(fd, buf)) return false;
    size_t sz = std::strtoul(buf.c_str() + pos, nullptr, 16);
    pos = eol + 2;
    if (sz == 0) {
      while (buf.find("\r\n", pos) == std::string::npos)
        if (!ReadMore(fd, buf)) return false;
      // Assume no trailers.
      pos = buf.find("\r\n", pos) + 2;
      buf.erase(0, pos);
      return true;
    }
    while (buf.size() < pos + sz + 2)
      if (!ReadMore(fd, buf)) return false;
    out->append(buf, pos, sz);
    pos += sz + 2;
  }
}

void HttpBackend::Serve(int fd) {
  std::string buf;
  for (;;) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
      if (!ReadMore(fd, buf)) return;
    std::string head = buf.substr(0, end + 4);
    buf.erase(0, end + 4);
    requests++;
    {
      std::lock_guard<std::mutex> l(mu_);
      last_head_ = head;
    }
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    std::string body;
    if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      if (!ReadChunked(fd, buf, &body)) return;
    } else if (size_t p = lower.find("content-length:"); p != std::string::npos) {
      size_t n = std::strtoul(lower.c_str() + p + 15, nullptr, 10);
      if (lower.find("expect: 100-continue") != std::string::npos) SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n");
      while (buf.size() < n)
        if (!ReadMore(fd, buf)) return;
      body = buf.substr(0, n);
      buf.erase(0, n);
    }
    std::string path = head.substr(head.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    std::string resp;
    if (path == "/slow") {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return released_; });
    }
    if (path == "/ws") {
      SendAll(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
      if (!buf.empty()) SendAll(fd, buf);
      char tmp[4096];
      for (;;) {
        ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) break;
        SendAll(fd, std::string(tmp, static_cast<size_t>(n)));
      }
      ::shutdown(fd, SHUT_WR);
      return;
    }
    if (path == "/chunked") {
      resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      SendAll(fd, resp);
      SendAll(fd, "5\r\nhello\r\n");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      SendAll(fd, "1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n");
      continue;
    }
    if (path == "/replay") {  // fly-replay: <x-replay> unless replayed; then "<tag>|<src>|<body>"
      auto field = [&](const std::string& name) {
        size_t p = lower.find("\r\n" + name + ":");
        if (p == std::string::npos) return std::string("-");
        size_t v = p + 3 + name.size(), e = head.find("\r\n", v);
        std::string s = head.substr(v, e - v);
        return s.substr(s.find_first_not_of(' '));
      };
      std::string src = field("fly-replay-src");
      if (src == "-" || lower.find("\r\nx-replay-always:") != std::string::npos) {
        resp = "HTTP/1.1 200 OK\r\nfly-replay: " + field("x-replay") + "\r\nContent-Length: 5\r\n\r\nasked";
        if (!SendAll(fd, resp)) return;
        continue;
      }
      body = tag_ + "|" + src + "|" + body;
      path = "/echo";
    }
    std::string out = path == "/echo" ? body : path == "/headers" ? head : tag_;
    if (path.rfind("/big/", 0) == 0) {  // /big/N: N bytes of a repeating alphabet
      out.resize(std::strtoul(path.c_str() + 5, nullptr, 10));
      for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>('a' + i % 26);
    }
    resp = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(out.size()) + "\r\nServer: testbackend\r\n\r\n" + out;
    if (!SendAll(fd, resp)) return;
  }
}

// ---------------------------------------------------------------------------------------------

EchoBackend::EchoBackend(uint32_t v4, uint16_t port) {
  lfd_ = ListenV4(v4, port);
  stopfd_ = ::eventfd(0, EFD_CLOEXEC);
  if (lfd_ < 0) return;
  t_ = std::thread([this] {
    testing::AcceptLoop(lfd_, stopfd_, [this](int fd) {
      connections++;
      conns_.emplace_back([fd] {
        SetTimeouts(fd);
        std::string all;
        while (ReadMore(fd, all)) {
        }
        SendAll(fd, all);
        ::close(fd);
      });
    });
  });
}

EchoBackend::~EchoBackend() {
  uint64_t one = 1;
  ssize_t r = ::write(stopfd_, &one, sizeof one);
  (void)r;
  if (t_.joinable()) t_.join();
  for (auto& t : conns_) t.join();
  if (lfd_ >= 0) ::close(lfd_);
  ::close(stopfd_);
}

// ---------------------------------------------------------------------------------------------

int BoundSocket(const char* src) {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  SetTimeouts(fd);
  sockaddr_in6 s{};
  s.sin6_family = AF_INET6;
  ::inet_pton(AF_INET6, src, &s.sin6_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&s), sizeof s) < 0) {
    int e = errno;
    ::close(fd);
    return -e;
  }
  return fd;
}

int Connect(int fd, const char* dst, uint16_t port) {
  sockaddr_in6 d{};
  d.sin6_family = AF_INET6;
  d.sin6_port = htons(port);
  ::inet_pton(AF_INET6, dst, &d.sin6_addr);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&d), sizeof d) < 0 ? -errno : 0;
}

int Dial(const char* src, const char* dst, uint16_t port) {
  int fd = BoundSocket(src);
  if (fd < 0) return fd;
  if (int e = Connect(fd, dst, port); e < 0) {
    ::close(fd);
    return e;
  }
  return fd;
}

bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

std::string ReadResponse(int fd, int* status) {
  static thread_local std::map<int, std::string> leftovers;  // pipelined bytes per fd
  std::string buf = std::move(leftovers[fd]);
  leftovers.erase(fd);
  for (;;) {
    size_t end;
    while ((end = buf.find("\r\n\r\n")) == std::string::npos)
      if (!ReadMore(fd, buf)) return "";
    int st = buf.size() >= 12 ? ParseDecimal<int>(std::string_view(buf).substr(9, 3)).value_or(0) : 0;
    if (st >= 100 && st < 200 && st != 101) {  // skip informational
      buf.erase(0, end + 4);
      continue;
    }
    if (status) *status = st;
    std::string head = buf.substr(0, end + 4);
    std::string rest = buf.substr(end + 4);
    std::string lower = head;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    std::string body;
    if (st == 101) return head;
    if (lower.find("transfer-encoding: chunked") != std::string::npos) {
      if (!ReadChunked(fd, rest, &body)) return "";
    } else if (size_t p = lower.find("content-length:"); p != std::string::npos) {
      size_t n = std::strtoul(lower.c_str() + p + 15, nullptr, 10);
      while (rest.size() < n)
        if (!ReadMore(fd, rest)) return "";
      body = rest.substr(0, n);
      rest.erase(0, n);
    } else {
      while (ReadMore(fd, rest)) {
      }
      body = rest;
      rest.clear();
    }
    if (!rest.empty()) leftovers[fd] = rest;
    return head + body;
  }
}

std::string Request(const char* src, uint16_t port, const std::string& req, int* status, std::string* why) {
  std::string r, failed;
  int fd = Dial(src, kFlycast, port);
  if (fd < 0) {
    failed = std::string("connect: ") + std::strerror(-fd);
  } else {
    if (!SendAll(fd, req)) failed = std::string("send: ") + std::strerror(errno);
    else if ((r = ReadResponse(fd, status)).empty()) failed = std::string("no response: ") + std::strerror(errno);
    ::close(fd);
  }
  if (why) *why = failed;
  return r;
}

std::string HeaderValue(const std::string& resp, const std::string& name) {
  std::string lower = resp.substr(0, resp.find("\r\n\r\n") + 2);
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  std::string key = "\r\n" + name + ":";
  std::transform(key.begin(), key.end(), key.begin(), ::tolower);
  size_t p = lower.find(key);
  if (p == std::string::npos) return "";
  size_t v = p + key.size();
  size_t e = resp.find("\r\n", v);
  std::string val = resp.substr(v, e - v);
  while (!val.empty() && val.front() == ' ') val.erase(0, 1);
  return val;
}

std::string BodyOf(const std::string& resp) {
  size_t p = resp.find("\r\n\r\n");
  return p == std::string::npos ? "" : resp.substr(p + 4);
}

SnapshotPtr MakeSnapshot(int64_t revision, const ServiceSpec& svc, const std::vector<TestMachine>& machines) {
  auto s = std::make_shared<Snapshot>();
  s->revision = revision;
  s->local_host_id = 2;
  s->local_region = "ams";
  s->networks.push_back(NetworkView{kNet1, "personal", "default"});
  s->networks.push_back(NetworkView{2, "other", "default"});
  AppView app;
  app.name = "web";
  app.org = "personal";
  app.net32 = kNet1;
  app.primary_region = "ams";
  app.services.push_back(svc);
  for (auto& tm : machines) {
    MachineView m;
    m.id = tm.id;
    m.region = tm.region;
    m.process_group = "app";
    m.state = tm.state;
    m.host_id = 2;
    m.link_v4 = tm.v4;
    app.machines.push_back(static_cast<uint32_t>(s->machines.size()));
    s->machines.push_back(m);
  }
  FlycastEntry fe;
  fe.address = *Ip6::Parse(kFlycast);
  fe.net32 = kNet1;
  fe.app_index = 0;
  app.flycast.push_back(0);
  s->flycast.push_back(fe);
  s->apps.push_back(app);
  s->Index();
  return s;
}

ServiceSpec HttpService(uint16_t port, uint16_t internal_port) {
  ServiceSpec svc;
  svc.protocol = "tcp";
  svc.internal_port = internal_port;
  PortSpec p;
  p.start_port = p.end_port = port;
  p.http = true;
  svc.ports.push_back(p);
  svc.concurrency = ConcurrencyType::kRequests;
  return svc;
}

ServiceSpec TcpService(uint16_t port, uint16_t internal_port) {
  ServiceSpec svc;
  svc.internal_port = internal_port;
  PortSpec p;
  p.start_port = p.end_port = port;
  svc.ports.push_back(p);
  return svc;
}

ProxyProtocolNginx::ProxyProtocolNginx() {
  port = FreePort(0x7f000001);
  char dir[] = "/tmp/pc-proxy-nginx-XXXXXX";
  if (!::mkdtemp(dir)) return;
  dir_ = dir;
  const std::string& d = dir_;
  {
    std::ofstream c(d + "/nginx.conf");
    c << "daemon off; master_process off; worker_processes 1; pid " << d << "/nginx.pid;\n"
      << "error_log " << d << "/error.log;\nevents {}\nhttp { access_log off;\n"
      << " client_body_temp_path " << d << "; proxy_temp_path " << d << "; fastcgi_temp_path " << d
      << "; uwsgi_temp_path " << d << "; scgi_temp_path " << d << ";\n"
      << " server { listen 127.0.0.1:" << port << " proxy_protocol;\n"
      << "  location / { return 200 \"$proxy_protocol_addr $proxy_protocol_port\"; } } }\n";
  }
  pid_ = Spawn({"nginx", "-p", d, "-c", d + "/nginx.conf"}, d + "/out.log");
}

ProxyProtocolNginx::~ProxyProtocolNginx() {
  KillPid(pid_);
  if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
}

bool ProxyProtocolNginx::WaitReady() {
  return WaitFor([&] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(0x7f000001);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    return ok;
  });
}

namespace {
// Sums f(tx_queue:rx_queue field) over the sockets in `state` ("0A" LISTEN, "01" ESTABLISHED)
// whose local port is `port`, in this namespace; -1 when there is none.
int ForSockets(uint16_t port, const char* state, int (*f)(const std::string& queues)) {
  std::ifstream in("/proc/net/tcp6");
  std::string line;
  int n = -1;
  char want[8];
  std::snprintf(want, sizeof want, ":%04X", port);
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream is(line);
    std::string sl, local, rem, st, queues;
    is >> sl >> local >> rem >> st >> queues;
    if (st == state && local.size() > 5 && local.substr(local.size() - 5) == want) n = std::max(n, 0) + f(queues);
  }
  return n;
}

int RxQueue(const std::string& q) {
  auto colon = q.find(':');
  return colon == std::string::npos ? 0 : static_cast<int>(std::strtoul(q.c_str() + colon + 1, nullptr, 16));
}
}  // namespace

// Counts LISTEN sockets on `port` in this namespace (/proc/net/tcp6).
int Listening(uint16_t port) {
  return std::max(0, ForSockets(port, "0A", [](const std::string&) { return 1; }));
}

// For a listener, rx_queue is the accept backlog's length.
int AcceptQueue(uint16_t port) { return std::max(0, ForSockets(port, "0A", RxQueue)); }

int Unread(uint16_t port) { return ForSockets(port, "01", RxQueue); }

int ClosedFirstTowards(uint32_t v4, uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  char want[16];  // the kernel prints the address's network-order bytes as a native u32
  std::snprintf(want, sizeof want, "%08X:%04X", htonl(v4), port);
  std::string line;
  std::getline(in, line);
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream is(line);
    std::string sl, local, rem, st;
    is >> sl >> local >> rem >> st;
    // include/net/tcp_states.h: 04 FIN_WAIT1, 05 FIN_WAIT2, 06 TIME_WAIT, 0B CLOSING
    if (rem == want && (st == "04" || st == "05" || st == "06" || st == "0B")) ++n;
  }
  return n;
}

bool WaitFor(const std::function<bool()>& pred, int timeout_ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

int Spawn(const std::vector<std::string>& argv, const std::string& out_file) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (!out_file.empty()) {
      int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    ::_exit(127);
  }
  return pid;
}

int WaitPid(int pid) {
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void KillPid(int pid) {
  if (pid > 0) {
    ::kill(pid, SIGTERM);
    WaitPid(pid);
  }
}

std::string RunCapture(const std::vector<std::string>& argv, int* exit_code) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) return "";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execvp(a[0], a.data());
    ::_exit(127);
  }
  ::close(p[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(p[0]);
  int ec = WaitPid(pid);
  if (exit_code) *exit_code = ec;
  return out;
}

}  // namespace privcast::proxy::testing
