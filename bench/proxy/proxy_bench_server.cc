// privcast_proxy_bench_server: runs the proxy engine on a static snapshot, for side-by-side
// benchmarks (bench/proxy/run.sh). One app "bench" on network <net32> with one flycast address
// and one machine at <backend_v4>; an http service on --http-port and a raw TCP service on
// --tcp-port, both to --internal-port (tcp: --tcp-internal-port); with --tls-port, an http+tls
// port (like 443 of [http_service]) serving --tls-cert / --tls-key (PEM files).
//
//   privcast_proxy_bench_server --flycast fdaa:0:1:0:1::5 --net32 1 --backend 10.77.2.2
//       --internal-port 8080 --http-port 80 --tcp-port 5201 --tcp-internal-port 5201 --workers 1
//       [--tls-port 443 --tls-cert cert.pem --tls-key key.pem]
//
// Runs until SIGINT/SIGTERM. Prints "ready" on stdout once listening.
#include <openssl/pem.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/addr.h"
#include "common/log.h"
#include "proxy/proxy.h"

using namespace privcast;

namespace {
class NoWaker : public proxy::MachineWaker {
 public:
  void Wake(const std::string&, uint16_t, proxy::Poster* p, std::function<void(Status)> done) override {
    p->Post([done] { done(Unavailable("bench: no wakes")); });
  }
};
class NoStopper : public proxy::MachineStopper {
 public:
  void Stop(const std::string&, bool, const std::string&) override {}
};
// One certificate for every app (the bench has one).
class PemProvider : public proxy::TlsContextProvider {
 public:
  proxy::TlsContextPtr ctx;
  proxy::TlsContextPtr ForApp(const std::string&, const std::vector<Ip6>&) override { return ctx; }
  void ForgetAllBut(const std::vector<std::string>&) override {}  // one fixed context
};
proxy::TlsContextPtr LoadPem(const std::string& cert_path, const std::string& key_path) {
  FILE* f = std::fopen(cert_path.c_str(), "r");
  X509* cert = f ? PEM_read_X509(f, nullptr, nullptr, nullptr) : nullptr;
  if (f) std::fclose(f);
  f = std::fopen(key_path.c_str(), "r");
  EVP_PKEY* key = f ? PEM_read_PrivateKey(f, nullptr, nullptr, nullptr) : nullptr;
  if (f) std::fclose(f);
  proxy::TlsContextPtr ctx;
  if (cert && key) {
    auto r = proxy::NewServerTlsContext(cert, key);
    if (r.ok()) ctx = r.value();
    else std::fprintf(stderr, "tls: %s\n", r.status().message().c_str());
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  return ctx;
}
}  // namespace

int main(int argc, char** argv) {
  std::string flycast = "fdaa:0:1:0:1::5", backend = "10.77.2.2";
  uint32_t net32 = 1;
  int internal_port = 8080, http_port = 80, tcp_port = 5201, tcp_internal = 5201, workers = 1, tls_port = 0;
  std::string tls_cert, tls_key;
  bool splice = true;
  bool batch_sends = true;
  bool batch_when_busy = true;  // --batch-when-busy 0: workers stay SCHED_OTHER (ADR 0021)
  bool h2_backend = false;      // --h2-backend 1: h2c to the backend (ONLY=h2 in run.sh)
  size_t pipe_size = 1 << 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--flycast") flycast = v;
    else if (k == "--net32") net32 = static_cast<uint32_t>(std::stoul(v));
    else if (k == "--backend") backend = v;
    else if (k == "--internal-port") internal_port = std::stoi(v);
    else if (k == "--http-port") http_port = std::stoi(v);
    else if (k == "--tcp-port") tcp_port = std::stoi(v);
    else if (k == "--tcp-internal-port") tcp_internal = std::stoi(v);
    else if (k == "--workers") workers = std::stoi(v);
    else if (k == "--splice") splice = v != "0";
    else if (k == "--batch-sends") batch_sends = v != "0";
    else if (k == "--batch-when-busy") batch_when_busy = v != "0";
    else if (k == "--pipe-size") pipe_size = std::stoul(v);
    else if (k == "--tls-port") tls_port = std::stoi(v);
    else if (k == "--tls-cert") tls_cert = v;
    else if (k == "--tls-key") tls_key = v;
    else if (k == "--h2-backend") h2_backend = v != "0";
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  log::SetMinLevel(log::Level::kWarn);
  auto s = std::make_shared<Snapshot>();
  s->revision = 1;
  s->local_host_id = 2;
  s->local_region = "ams";
  s->networks.push_back(NetworkView{net32, "personal", "default"});
  AppView app;
  app.name = "bench";
  app.org = "personal";
  app.net32 = net32;
  app.primary_region = "ams";
  ServiceSpec http;
  http.internal_port = static_cast<uint16_t>(internal_port);
  http.concurrency = ConcurrencyType::kRequests;
  http.soft_limit = 1000000;
  http.h2_backend = h2_backend;
  PortSpec hp;
  hp.start_port = hp.end_port = static_cast<uint16_t>(http_port);
  hp.http = true;
  http.ports.push_back(hp);
  if (tls_port) {
    hp.start_port = hp.end_port = static_cast<uint16_t>(tls_port);
    hp.tls = true;
    http.ports.push_back(hp);
  }
  ServiceSpec tcp;
  tcp.internal_port = static_cast<uint16_t>(tcp_internal);
  tcp.soft_limit = 1000000;
  PortSpec tp;
  tp.start_port = tp.end_port = static_cast<uint16_t>(tcp_port);
  tcp.ports.push_back(tp);
  app.services = {http, tcp};
  MachineView m;
  m.id = "0000000000bench";
  m.region = "ams";
  m.process_group = "app";
  m.state = MachineRunState::kStarted;
  m.host_id = 2;
  m.link_v4 = *addr::ParseV4(backend);
  app.machines.push_back(0);
  s->machines.push_back(m);
  FlycastEntry fe;
  auto ip = Ip6::Parse(flycast);
  if (!ip) {
    std::fprintf(stderr, "bad --flycast\n");
    return 2;
  }
  fe.address = *ip;
  fe.net32 = net32;
  app.flycast.push_back(0);
  s->flycast.push_back(fe);
  s->apps.push_back(app);
  s->Index();

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // worker threads inherit the mask

  NoWaker waker;
  NoStopper stopper;
  proxy::ProxyOptions o;
  o.workers = workers;
  o.autostop_thread = false;
  o.health_checks = false;
  o.splice = splice;
  o.batch_sends = batch_sends;
  o.batch_when_busy = batch_when_busy;
  o.pipe_size = pipe_size;
  // One client network drives every benchmark, far past the daemon's per-network defaults: keep
  // the per-network check on the path (its cost is part of a fresh connection's) but out of reach.
  o.conn_rate_per_network = 1e9;
  o.max_conns_per_network = 1u << 30;
  proxy::Proxy p(o, &waker, &stopper);
  PemProvider tls;
  if (tls_port) {
    tls.ctx = LoadPem(tls_cert, tls_key);
    if (!tls.ctx) {
      std::fprintf(stderr, "cannot load --tls-cert %s / --tls-key %s\n", tls_cert.c_str(), tls_key.c_str());
      return 2;
    }
    p.SetTlsContextProvider(&tls);
  }
  p.Publish(s);
  Status st = p.Start();
  if (!st.ok()) {
    std::fprintf(stderr, "start: %s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  p.StopAccepting();
  p.Drain(std::chrono::seconds(1));
  return 0;
}
