// Control-plane costs of the embedded store (build with -DPRIVCAST_BENCH=ON, run store_bench).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <unistd.h>

#include "store/registry.h"
#include "store/sqlite_store.h"

namespace privcast::store {
namespace {

std::unique_ptr<SqliteStore> Open(const std::string& path) {
  auto r = OpenSqliteStoreConcrete({path, false});
  if (!r.ok()) std::abort();
  return std::move(r).value();
}

// A Txn with one put, on a WAL file with synchronous=NORMAL (what privcastd runs).
void BM_TxnPutFile(benchmark::State& state) {
  std::string dir = std::filesystem::temp_directory_path() / ("privcast-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    auto s = Open(dir + "/db");
    int64_t i = 0;
    for (auto _ : state) {
      TxnRequest t;
      t.success = {Op::Put("/bench/" + std::to_string(i++ % 1000), "value")};
      benchmark::DoNotOptimize(s->Txn(t));
    }
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_TxnPutFile);

void BM_AllocateFlycast(benchmark::State& state) {
  auto s = Open(":memory:");
  FakeClock clock;
  Registry reg(s.get(), &clock);
  if (!reg.Bootstrap("ams", "box").ok()) std::abort();
  int64_t i = 0;
  for (auto _ : state) {
    std::string app = "a" + std::to_string(i++);
    state.PauseTiming();
    if (!reg.CreateApp(app, std::nullopt, std::nullopt).ok()) std::abort();
    state.ResumeTiming();
    benchmark::DoNotOptimize(reg.AllocateFlycast(app, std::nullopt, std::nullopt));
  }
}
BENCHMARK(BM_AllocateFlycast);

void BM_TransitionMachine(benchmark::State& state) {
  auto s = Open(":memory:");
  FakeClock clock;
  Registry reg(s.get(), &clock);
  if (!reg.Bootstrap("ams", "box").ok() || !reg.CreateApp("web", std::nullopt, std::nullopt).ok()) std::abort();
  MachineSpec spec;
  spec.app = "web";
  spec.initial_state = MachineState::kStopped;
  std::string id = reg.CreateMachine(spec)->id;
  const MachineState cycle[] = {MachineState::kStarting, MachineState::kStarted, MachineState::kStopping,
                                MachineState::kStopped};
  int i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(reg.TransitionMachine(id, {}, cycle[i++ % 4], "bench"));
}
BENCHMARK(BM_TransitionMachine);

void BM_LoadState(benchmark::State& state) {
  auto s = Open(":memory:");
  FakeClock clock;
  Registry reg(s.get(), &clock);
  if (!reg.Bootstrap("ams", "box").ok()) std::abort();
  for (int a = 0; a < state.range(0) / 10; ++a) {
    std::string app = "a" + std::to_string(a);
    if (!reg.CreateApp(app, std::nullopt, std::nullopt).ok()) std::abort();
    if (!reg.AllocateFlycast(app, std::nullopt, std::nullopt).ok()) std::abort();
    for (int m = 0; m < 10; ++m) {
      MachineSpec spec;
      spec.app = app;
      if (!reg.CreateMachine(spec).ok()) std::abort();
    }
  }
  for (auto _ : state) benchmark::DoNotOptimize(reg.LoadState());
  state.counters["machines"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_LoadState)->Arg(100)->Arg(1000);

}  // namespace
}  // namespace privcast::store
