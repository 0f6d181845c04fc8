#include "etcd_fixture.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
  if (!s->Init(why_not)) {
    delete s;
    return nullptr;
  }
  if (!s->Start()) {
    *why_not = "etcd did not come up on " + s->endpoint_ + " (log: " + s->dir_ + "/etcd.log)";
    delete s;
    return nullptr;
  }
  g_server = s;
  std::atexit(KillAtExit);
  return g_server;
}

bool EtcdServer::Init(std::string* why_not) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/privcast-etcd-XXXXXX";
  char* p = mkdtemp(tmpl.data());
  if (!p) {
    *why_not = "mkdtemp failed";
    return false;
  }
  dir_ = p;
  client_port_ = FreePort();
  peer_port_ = FreePort();
  endpoint_ = "127.0.0.1:" + std::to_string(client_port_);
  return true;
}

std::unique_ptr<EtcdServer> EtcdServer::NewTls(std::string* why_not) {
  if (EtcdBinary().empty() || access("/usr/bin/openssl", X_OK) != 0) {
    *why_not = "needs etcd and the openssl CLI";
    return nullptr;
  }
  std::unique_ptr<EtcdServer> s(new EtcdServer());
  if (!s->Init(why_not)) return nullptr;
  s->tls_ = true;
  // A CA, a server certificate for 127.0.0.1 and a client certificate, each valid for a day.
  std::string d = s->dir_;
  std::string script =
      "set -e; cd '" + d +
      "'; exec >openssl.log 2>&1\n"
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj /CN=privcast-test-ca\n"
      "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > ext\n"
      "for n in server client; do\n"
      "  openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj /CN=$n\n"
      "  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $n.crt -days 1 -extfile ext\n"
      "done\n";
  {
    std::ofstream f(d + "/make-certs.sh");
    f << script;
  }
  std::string cmd = "/bin/sh '" + d + "/make-certs.sh'";
  if (std::system(cmd.c_str()) != 0) {
    *why_not = "openssl failed (" + d + "/openssl.log)";
    return nullptr;
  }
  if (!s->Start()) {
    *why_not = "TLS etcd did not come up on " + s->endpoint_ + " (log: " + d + "/etcd.log)";
    return nullptr;
  }
  return s;
}

EtcdOptions EtcdServer::Options() const {
  EtcdOptions o;
  o.endpoints.push_back({"127.0.0.1", client_port_});
  if (tls_) {
    o.cacert_file = dir_ + "/ca.crt";
    o.cert_file = dir_ + "/client.crt";
    o.key_file = dir_ + "/client.key";
  }
  return o;
}

bool EtcdServer::Start() {
  std::string client = (tls_ ? "https://" : "http://") + endpoint_;
  std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::string bin = EtcdBinary();
  // Everything the child needs is built before fork: only async-signal-safe calls after it.
  std::string log = dir_ + "/etcd.log", data = dir_ + "/data", cluster = "t=" + peer;
  std::vector<const char*> argv = {bin.c_str(),
                                   "--name",
                                   "t",
                                   "--data-dir",
                                   data.c_str(),
                                   "--listen-client-urls",
                                   client.c_str(),
                                   "--advertise-client-urls",
                                   client.c_str(),
                                   "--listen-peer-urls",
                                   peer.c_str(),
                                   "--initial-advertise-peer-urls",
                                   peer.c_str(),
                                   "--initial-cluster",
                                   cluster.c_str()};
  std::string cert = dir_ + "/server.crt", key = dir_ + "/server.key", ca = dir_ + "/ca.crt";
  if (tls_)
    for (const char* a : {"--cert-file", cert.c_str(), "--key-file", key.c_str(), "--trusted-ca-file", ca.c_str(),
                          "--client-cert-auth"})
      argv.push_back(a);
  argv.push_back(nullptr);
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
    EtcdOptions o = Options();
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
  EtcdOptions o = Options();
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
