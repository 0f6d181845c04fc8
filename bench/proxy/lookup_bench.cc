// Google Benchmark: the routing snapshot at scale (10 000 apps, 100 000 machines):
// per-connection lookup (flycast address → app → machine choice) and rebuilding the
// proxy's RoutingState after one change.
#include <benchmark/benchmark.h>

#include "common/addr.h"
#include "proxy/balancer.h"
#include "proxy/state.h"

using namespace privcast;
using namespace privcast::proxy;

namespace {

std::shared_ptr<Snapshot> Big(int apps, int machines_per_app) {
  auto s = std::make_shared<Snapshot>();
  s->revision = 1;
  s->local_region = "ams";
  const char* regions[] = {"ams", "ord", "syd", "nrt"};
  for (int a = 0; a < apps; ++a) {
    AppView app;
    app.name = "app" + std::to_string(a);
    app.net32 = 1 + static_cast<uint32_t>(a % 500);
    ServiceSpec svc;
    PortSpec p;
    p.start_port = p.end_port = 80;
    p.http = true;
    svc.ports.push_back(p);
    app.services.push_back(svc);
    for (int m = 0; m < machines_per_app; ++m) {
      MachineView mv;
      mv.id = "m" + std::to_string(a) + "x" + std::to_string(m);
      mv.app_index = static_cast<uint32_t>(a);
      mv.region = regions[m % 4];
      mv.state = m % 3 == 0 ? MachineRunState::kStopped : MachineRunState::kStarted;
      mv.link_v4 = 0xAC130000 + static_cast<uint32_t>(s->machines.size());
      app.machines.push_back(static_cast<uint32_t>(s->machines.size()));
      s->machines.push_back(mv);
    }
    FlycastEntry fe;
    fe.address = addr::FlycastAddress(app.net32, static_cast<uint32_t>(a));
    fe.net32 = app.net32;
    fe.app_index = static_cast<uint32_t>(a);
    app.flycast.push_back(static_cast<uint32_t>(s->flycast.size()));
    s->flycast.push_back(fe);
    s->apps.push_back(app);
  }
  s->Index();
  return s;
}

void BM_PerConnectionLookup(benchmark::State& state) {
  auto snap = Big(10000, 10);
  StateTable table;
  auto rs = table.Build(snap, 0);
  uint64_t rnd = 1;
  uint32_t i = 0;
  for (auto _ : state) {
    uint32_t a = (i++ * 7919) % 10000;
    Ip6 dialled = addr::FlycastAddress(1 + a % 500, a);
    const FlycastEntry* fe = snap->FindFlycast(dialled);
    const AppView& app = snap->apps[fe->app_index];
    auto status = [&](uint32_t m) {
      const MachineState& st = *rs->machines[m];
      MachineStatus s;
      s.started = EffectivelyStarted(snap->machines[m], st, snap->revision);
      s.wakeable = !s.started;
      s.load = st.load.load(std::memory_order_relaxed);
      return s;
    };
    rnd = rnd * 6364136223846793005ull + 1;
    Choice c = ChooseMachine(*snap, app, app.services[0], status, RoutingHints{}, rnd);
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_PerConnectionLookup);

void BM_RebuildAfterOneChange(benchmark::State& state) {
  auto snap = Big(10000, 10);
  StateTable table;
  auto rs = table.Build(snap, 0);
  for (auto _ : state) {
    auto s2 = std::make_shared<Snapshot>(*snap);  // the daemon's rebuild produces a new Snapshot
    s2->revision++;
    s2->machines[5].state = MachineRunState::kStopped;
    auto rs2 = table.Build(s2, 0);
    benchmark::DoNotOptimize(rs2);
  }
  state.counters["machines"] = 100000;
}
BENCHMARK(BM_RebuildAfterOneChange)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace
