// How fast a change written on one host is seen by the others through etcd (the bar
// "a change visible in every host's routing"), at the store level: N hosts, each its own
// EtcdStore + Registry (own "/local/" namespace) on one etcd cluster. Each round, host 0 flips a
// machine's state (one CAS Txn, as `machine start/stop` does); every other host's watcher wakes
// (WaitForRevision) and re-reads the state (LoadState: what the snapshot builder then turns into
// a Snapshot). Reported: Txn latency, and per round the time until the slowest host has
// re-read, as p50/p99; plus sequential CAS Txns per second.
//
//   etcd_propagation --endpoints 127.0.0.1:2379[,...] [--hosts 3] [--rounds 200] [--machines 100]
//
// Writes under a fresh key prefix and leaves it (a throw-away etcd is expected).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/strings.h"
#include "store/etcd/etcd_endpoints.h"
#include "store/etcd/etcd_store.h"
#include "store/registry.h"

using namespace privcast;
using namespace privcast::store;
using Clk = std::chrono::steady_clock;

static double Us(Clk::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

static void Report(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  std::printf("%-44s p50 %8.0f µs  p99 %8.0f µs  max %8.0f µs  (n=%zu)\n", what, at(0.5), at(0.99), v.back(), v.size());
}

int main(int argc, char** argv) {
  std::string endpoints;
  int hosts = 3, rounds = 200, machines = 100;
  bool bad = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    auto number = [&](int* out) {
      auto n = ParseDecimal<int>(v);
      if (n && *n > 0) *out = *n;
      else bad = true;
    };
    if (k == "--endpoints") endpoints = v;
    else if (k == "--hosts") number(&hosts);
    else if (k == "--rounds") number(&rounds);
    else if (k == "--machines") number(&machines);
  }
  auto url = ParseStoreUrl("etcd://" + endpoints);
  if (bad || endpoints.empty() || !url.ok() || hosts < 2) {
    std::fprintf(stderr, "usage: etcd_propagation --endpoints h:p[,h:p] [--hosts N>=2] [--rounds N] [--machines N]\n");
    return 2;
  }
  std::string prefix = "/bench" + std::to_string(getpid());
  std::vector<std::unique_ptr<EtcdStore>> stores;
  std::vector<std::unique_ptr<Registry>> regs;
  for (int h = 0; h < hosts; ++h) {
    EtcdOptions o;
    o.endpoints = url->endpoints;
    o.key_prefix = prefix;
    o.local_id = "h" + std::to_string(h);
    auto s = OpenEtcdStore(o);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.status().ToString().c_str()), 1;
    stores.push_back(std::move(s).value());
    regs.push_back(std::make_unique<Registry>(stores.back().get(), RealClock::Get()));
    if (auto b = regs.back()->Bootstrap("ams", "h"); !b.ok())
      return std::fprintf(stderr, "%s\n", b.status().ToString().c_str()), 1;
  }
  if (!regs[0]->CreateApp("web", std::nullopt, std::nullopt).ok()) return 1;
  std::vector<std::string> ids;
  for (int i = 0; i < machines; ++i) {
    MachineSpec spec;
    spec.app = "web";
    auto m = regs[0]->CreateMachine(spec);
    if (!m.ok()) return std::fprintf(stderr, "%s\n", m.status().ToString().c_str()), 1;
    ids.push_back(m->id);
  }
  // created → starting → started, then flip started ↔ stopping → stopped → starting → started.
  for (const auto& id : ids)
    for (auto s : {MachineState::kStarting, MachineState::kStarted})
      if (!regs[0]->TransitionMachine(id, {}, s, "bench").ok()) return 1;

  std::vector<double> txn, visible, load;
  MachineState next[] = {MachineState::kStopping, MachineState::kStopped, MachineState::kStarting,
                         MachineState::kStarted};
  for (int r = 0; r < rounds; ++r) {
    int64_t before = *stores[0]->Revision();
    std::atomic<int> ready{0};
    std::vector<Clk::time_point> seen(hosts);
    std::vector<double> load_us(hosts);
    std::vector<std::thread> ws;
    for (int h = 1; h < hosts; ++h)
      ws.emplace_back([&, h] {
        ready++;
        auto w = stores[h]->WaitForRevision(before, std::chrono::seconds(10));
        auto t = Clk::now();
        auto st = regs[h]->LoadState();
        seen[h] = Clk::now();
        load_us[h] = Us(seen[h] - t);
        (void)w;
        (void)st;
      });
    while (ready.load() < hosts - 1) std::this_thread::yield();
    auto t0 = Clk::now();
    auto res = regs[0]->TransitionMachine(ids[r % ids.size()], {}, next[(r / ids.size()) % 4], "bench");
    auto t1 = Clk::now();
    for (auto& t : ws) t.join();
    if (!res.ok()) return std::fprintf(stderr, "%s\n", res.status().ToString().c_str()), 1;
    txn.push_back(Us(t1 - t0));
    Clk::time_point last = t0;
    for (int h = 1; h < hosts; ++h) last = std::max(last, seen[h]), load.push_back(load_us[h]);
    visible.push_back(Us(last - t0));
  }
  std::printf("etcd %s, %d hosts, %d machines, %d rounds\n", DescribeEndpoints(url->endpoints).c_str(), hosts, machines,
              rounds);
  Report("CAS Txn (TransitionMachine) on host 0", txn);
  Report("change re-read by every other host", visible);
  Report("LoadState on a watching host", load);
  // Write rate: sequential CAS transitions from one host.
  auto t0 = Clk::now();
  int n = 0;
  for (int k = rounds; Clk::now() - t0 < std::chrono::seconds(2); ++k, ++n) {  // continue the cycle
    auto r = regs[0]->TransitionMachine(ids[k % ids.size()], {}, next[(k / ids.size()) % 4], "rate");
    if (!r.ok()) return std::fprintf(stderr, "%s\n", r.status().ToString().c_str()), 1;
  }
  std::printf("sequential CAS Txns from one host: %.0f/s\n",
              n / std::chrono::duration<double>(Clk::now() - t0).count());
  return 0;
}
