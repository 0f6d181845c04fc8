// Per-query CPU of the DNS data path without the kernel: parse + view + resolve + build,
// for a 4-app and a 10 000-app snapshot, plus the cost of building a Zone (per Publish).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "dns/resolver.h"
#include "dns/zone.h"
#include "tests/dns/fixture.h"

namespace privcast::dns {
namespace {

void RunQueries(benchmark::State& state, const ZonePtr& zone, const std::vector<std::vector<uint8_t>>& qs,
                ClientView view) {
  std::vector<uint8_t> out(4096);
  ResolveOptions opt;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const auto& q = qs[i++ % qs.size()];
    Query pq;
    ParseStatus st = ParseQuery(q.data(), q.size(), &pq);
    Outcome o;
    bytes += Resolve(zone.get(), view, st, pq, q.data(), q.size(), opt, out.data(), out.size(), &o);
    benchmark::DoNotOptimize(out.data());
  }
  benchmark::DoNotOptimize(bytes);
}

std::vector<std::vector<uint8_t>> FlycastQueries(int napps, bool edns) {
  std::vector<std::vector<uint8_t>> qs;
  for (int i = 0; i < napps; ++i)
    qs.push_back(dnstest::MakeQuery("app" + std::to_string(i) + ".flycast", kTypeAAAA, edns));
  return qs;
}

void BM_Flycast4Apps(benchmark::State& state) {
  static auto zone = Zone::Build(dnstest::ManyApps(4));
  RunQueries(state, zone, FlycastQueries(4, false), dnstest::Net(dnstest::kAcme));
}
BENCHMARK(BM_Flycast4Apps);

void BM_Flycast4AppsEdns(benchmark::State& state) {
  static auto zone = Zone::Build(dnstest::ManyApps(4));
  RunQueries(state, zone, FlycastQueries(4, true), dnstest::Net(dnstest::kAcme));
}
BENCHMARK(BM_Flycast4AppsEdns);

void BM_Flycast10kApps(benchmark::State& state) {
  static auto zone = Zone::Build(dnstest::ManyApps(10000));
  RunQueries(state, zone, FlycastQueries(10000, false), dnstest::Net(dnstest::kAcme));
}
BENCHMARK(BM_Flycast10kApps);

void BM_Internal10kApps4Machines(benchmark::State& state) {
  static auto zone = Zone::Build(dnstest::ManyApps(10000, 4));
  std::vector<std::vector<uint8_t>> qs;
  for (int i = 0; i < 10000; ++i)
    qs.push_back(dnstest::MakeQuery("app" + std::to_string(i) + ".internal", kTypeAAAA, false));
  RunQueries(state, zone, qs, dnstest::Net(dnstest::kAcme));
}
BENCHMARK(BM_Internal10kApps4Machines);

void BM_NxDomain10kApps(benchmark::State& state) {
  static auto zone = Zone::Build(dnstest::ManyApps(10000));
  std::vector<std::vector<uint8_t>> qs = {dnstest::MakeQuery("nosuch.flycast", kTypeAAAA, false)};
  RunQueries(state, zone, qs, dnstest::Net(dnstest::kAcme));
}
BENCHMARK(BM_NxDomain10kApps);

void BM_ZoneBuild10kApps(benchmark::State& state) {
  auto snap = dnstest::ManyApps(10000, 2);
  for (auto _ : state) benchmark::DoNotOptimize(Zone::Build(snap));
}
BENCHMARK(BM_ZoneBuild10kApps)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace privcast::dns
