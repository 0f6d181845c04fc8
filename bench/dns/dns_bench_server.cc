// dns_bench_server: privcast's DNS server on a static snapshot, for compare.sh.
//   dns_bench_server <listen-ip> <port> <napps>
// Serves dnstest::ManyApps(napps) (app<i>.flycast → fdaa:0:10:0:1::<i+1>), no upstream, no
// pre-warm. Prints "ready <port>" on stdout, runs until SIGTERM/SIGINT.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/strings.h"
#include "dns/server.h"
#include "tests/dns/fixture.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <listen-ip> <port> <napps>\n", argv[0]);
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // the loop thread inherits the mask
  auto port = privcast::ParseDecimal<uint16_t>(argv[2]);
  auto napps = privcast::ParseDecimal<int>(argv[3]);
  if (!port || !napps || *napps < 0) {
    std::fprintf(stderr, "usage: %s <listen-ip> <port 0-65535> <napps>\n", argv[0]);
    return 2;
  }
  privcast::dns::ServerOptions o;
  o.listen = {{argv[1], *port}};
  o.forward = false;
  o.prewarm = false;
  auto s = privcast::dns::Server::Create(o, nullptr);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    return 1;
  }
  s.value()->Publish(privcast::dns::dnstest::ManyApps(*napps));
  if (!s.value()->Start().ok()) return 1;
  std::printf("ready %u\n", s.value()->endpoints()[0].port);
  std::fflush(stdout);
  int sig;
  sigwait(&set, &sig);
  s.value()->Stop();
  std::fputs(s.value()->MetricsText().c_str(), stderr);
  return 0;
}
