#include "etcd_fixture.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

namespace privcast::store::testing {
namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(a.sin_port);
}

std::string EtcdBinary() {
  if (const char* e = std::getenv("PRIVCAST_ETCD"); e && *e) return e;
  for (const char* p : {"/usr/bin/etcd", "/usr/local/bin/etcd"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

EtcdServer* g_server = nullptr;

void KillAtExit() {
  delete g_server;
  g_server = nullptr;
}

}  // namespace

EtcdServer* EtcdServer::Get(std::string* why_not) {
  if (g_server) return g_server;
  if (EtcdBinary().empty()) {
    *why_not = "no etcd binary (apt-get install etcd-server, or set PRIVCAST_ETCD)";
    return nullptr;
  }
  auto* s = new EtcdServer();
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/privcast-etcd-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  if (!p) {
    *why_not = "mkdtemp failed";
    delete s;
    return nullptr;
  }
  s->dir_ = p;
  s->client_port_ = FreePort();
  s->peer_port_ = FreePort();
  s->endpoint_ = "127.0.0.1:" + std::to_string(s->client_port_);
  if (!s->Start()) {
    *why_not = "etcd did not come up on " + s->endpoint_ + " (log: " + s->dir_ + "/etcd.log)";
    delete s;
    return nullptr;
  }
  g_server = s;
  std::atexit(KillAtExit);
  return g_server;
}

bool EtcdServer::Start() {
  std::string client = "http://" + endpoint_;
  std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::string bin = EtcdBinary();
  // Everything the child needs is built before fork: only async-signal-safe calls after it.
  std::string log = dir_ + "/etcd.log", data = dir_ + "/data", cluster = "t=" + peer;
  std::vector<const char*> argv = {bin.c_str(), "--name", "t", "--data-dir", data.c_str(), "--listen-client-urls",
                                   client.c_str(), "--advertise-client-urls", client.c_str(), "--listen-peer-urls",
                                   peer.c_str(), "--initial-advertise-peer-urls", peer.c_str(), "--initial-cluster",
                                   cluster.c_str(), nullptr};
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], const_cast<char* const*>(argv.data()));
    _exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    EtcdOptions o;
    o.endpoints.push_back({"127.0.0.1", client_port_});
    o.timeout = std::chrono::milliseconds(500);
    auto st = OpenEtcdStore(o);
    if (st.ok()) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void EtcdServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

EtcdServer::~EtcdServer() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string EtcdServer::NextPrefix() {
  static std::atomic<int> n{0};
  return "/t" + std::to_string(getpid()) + "-" + std::to_string(n++);
}

std::unique_ptr<EtcdStore> EtcdServer::Open(const std::string& prefix, const std::string& local_id) {
  EtcdOptions o;
  o.endpoints.push_back({"127.0.0.1", client_port_});
  o.key_prefix = prefix;
  o.local_id = local_id;
  auto st = OpenEtcdStore(o);
  if (!st.ok()) {
    ADD_FAILURE() << "open etcd store: " << st.status().ToString();
    return nullptr;
  }
  return std::move(st).value();
}

}  // namespace privcast::store::testing
