#include "test_env.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/strings.h"
#include "netns/netns.h"
#include "netns/rtnl.h"

namespace privcast::netns::testing {
namespace {

std::atomic<int> g_counter{0};

void CleanBase(const std::string& base) {
  std::string dir = base + "/ns";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      (void)Delete(dir + "/" + n);
    }
    ::closedir(d);
  }
  (void)ReleaseDir(dir);
  ::rmdir(dir.c_str());
  ::rmdir(base.c_str());
}

// Leftovers of dead test processes of this suite (prefix pcnt-<pid>-).
void SweepLeftovers() {
  DIR* d = ::opendir("/tmp");
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    // "pcnt-<pid>-<n>": the pid of the test process that made it.
    std::string_view name = e->d_name;
    if (name.substr(0, 5) != "pcnt-") continue;
    name.remove_prefix(5);
    size_t dash = name.find('-');
    if (dash == std::string_view::npos || !ParseDecimal<uint32_t>(name.substr(dash + 1))) continue;
    int pid = ParseDecimal<int>(name.substr(0, dash)).value_or(0);
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(std::string("/tmp/") + e->d_name);
  }
  ::closedir(d);
  for (const auto& b : stale) CleanBase(b);
}

}  // namespace

ShellResult Sh(const std::string& cmd) {
  ShellResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TestHost::TestHost() {
  static bool swept = false;
  if (!swept) {
    swept = true;
    SweepLeftovers();
  }
  base_ = "/tmp/pcnt-" + std::to_string(::getpid()) + "-" + std::to_string(g_counter++);
  ::mkdir(base_.c_str(), 0755);
  if (!Create(ns_dir(), "host", [] {
         PC_ASSIGN_OR_RETURN(Rtnl r, Rtnl::Open());
         return r.SetLinkUp("lo", true);
       }).ok())
    return;
  auto fd = Open(host_path());
  if (fd.ok()) nsfd_ = std::move(fd).value();
}

TestHost::~TestHost() {
  nsfd_.reset();
  CleanBase(base_);
}

ShellResult TestHost::In(const std::string& cmd, const std::string& path) const {
  return Sh("nsenter --net=" + (path.empty() ? host_path() : path) + " " + cmd);
}

std::vector<std::string> TestHost::NetnsFiles() const {
  std::vector<std::string> v;
  if (DIR* d = ::opendir(ns_dir().c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") v.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> TestHost::MountsUnder() const {
  std::vector<std::string> v;
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  std::string prefix = ns_dir() + "/";
  while (std::getline(f, line)) {
    std::istringstream is(line);
    std::string id, parent, devno, root, mp;
    is >> id >> parent >> devno >> root >> mp;
    if (mp.rfind(prefix, 0) == 0) v.push_back(mp);
  }
  std::sort(v.begin(), v.end());
  return v;
}

std::string TestHost::Snapshot() const {
  std::string s;
  for (const char* c : {"ip -o link show", "ip -o addr show", "ip -4 route show table all",
                        "ip -6 route show table all", "nft list ruleset"}) {
    // Link-layer details (MAC, stats) are stable within a test; flags matter.
    s += std::string("## ") + c + "\n" + In(c).out;
  }
  s += "## netns files\n";
  for (const auto& f : NetnsFiles()) s += f + "\n";
  s += "## mounts\n";
  for (const auto& m : MountsUnder()) s += m + "\n";
  return s;
}

namespace {
socklen_t ToSockaddr(const IpAddr& a, uint16_t port, sockaddr_storage* ss) {
  std::memset(ss, 0, sizeof *ss);
  if (a.is_v4()) {
    auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    std::memcpy(&s4->sin_addr, a.b.data(), 4);
    return sizeof *s4;
  }
  auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
  s6->sin6_family = AF_INET6;
  s6->sin6_port = htons(port);
  std::memcpy(&s6->sin6_addr, a.b.data(), 16);
  return sizeof *s6;
}
}  // namespace

Result<UniqueFd> ListenTcp(int nsfd, const IpAddr& addr, uint16_t* port, bool v6only) {
  PC_ASSIGN_OR_RETURN(UniqueFd fd, SocketIn(nsfd, addr.family, SOCK_STREAM, 0));
  int one = 1, v6 = v6only ? 1 : 0;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (!addr.is_v4()) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6);
  sockaddr_storage ss;
  socklen_t len = ToSockaddr(addr, *port, &ss);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return ErrnoStatus("bind", errno);
  if (::listen(fd.get(), 16) != 0) return ErrnoStatus("listen", errno);
  len = sizeof ss;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  *port = ntohs(addr.is_v4() ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                             : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return fd;
}

Result<UniqueFd> ConnectTcp(int nsfd, const IpAddr& addr, uint16_t port, int timeout_ms) {
  PC_ASSIGN_OR_RETURN(UniqueFd fd, SocketIn(nsfd, addr.family, SOCK_STREAM | SOCK_NONBLOCK, 0));
  sockaddr_storage ss;
  socklen_t len = ToSockaddr(addr, port, &ss);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) == 0) return fd;
  if (errno != EINPROGRESS) return ErrnoStatus("connect", errno);
  pollfd p{fd.get(), POLLOUT, 0};
  int rc = ::poll(&p, 1, timeout_ms);
  if (rc == 0) return Unavailable("connect: timed out");
  int err = 0;
  socklen_t el = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &el);
  if (err != 0) return ErrnoStatus("connect", err);
  return fd;
}

Result<UniqueFd> AcceptOne(int listen_fd, int timeout_ms) {
  pollfd p{listen_fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return Unavailable("accept: timed out");
  int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return ErrnoStatus("accept", errno);
  return UniqueFd(c);
}

}  // namespace privcast::netns::testing
