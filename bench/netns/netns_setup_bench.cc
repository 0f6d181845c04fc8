// netns_setup_bench [iterations=200]
//
// Side by side, in the same run: a machine network (netns + veth + addresses + routes, see
// netns/machine_network.h) set up and torn down N times by MachineNetwork (rtnetlink), then N
// times by the equivalent `ip` commands (one exec per command, no shell). Prints p50/p99/max.
//
// Safety (docs/engineering.md "Safety"): everything happens inside a "host" netns this program creates
// (/tmp/pcnb-<pid>/ns/host for the library run, /run/netns/pcnb-<pid>-host for the ip run,
// since `ip -n` only knows /run/netns); both are removed on exit, signals included. No
// traffic is sent.
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/addr.h"
#include "common/strings.h"
#include "netns/machine_network.h"
#include "netns/netns.h"
#include "netns/rtnl.h"

extern char** environ;

using namespace privcast;
using namespace privcast::netns;

namespace {

std::string g_base, g_ip_host, g_ip_machine;

int Run(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void Cleanup() {
  if (!g_base.empty()) {
    (void)Delete(g_base + "/ns/host");
    (void)ReleaseDir(g_base + "/ns");
    rmdir((g_base + "/ns").c_str());
    rmdir(g_base.c_str());
  }
  // ip netns del of our own pid-named namespaces only; errors (absent) are fine.
  if (!g_ip_machine.empty()) (void)Delete("/run/netns/" + g_ip_machine);
  if (!g_ip_host.empty()) (void)Delete("/run/netns/" + g_ip_host);
}

// The pid of a name "pcnb-<pid>..." (with `dash`: "pcnb-<pid>-..."); 0 for any other name.
int PidIn(std::string_view name, bool dash) {
  if (name.substr(0, 5) != "pcnb-") return 0;
  name.remove_prefix(5);
  size_t end = name.find_first_not_of("0123456789");
  if (dash && (end == std::string_view::npos || name[end] != '-')) return 0;
  return ParseDecimal<int>(name.substr(0, end)).value_or(0);
}

// Leftovers of earlier runs that were SIGKILLed (prefix pcnb-<pid>, pid no longer alive).
void SweepLeftovers() {
  auto dead = [](const char* name, bool dash) {
    int pid = PidIn(name, dash);
    return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
  };
  if (DIR* d = opendir("/run/netns")) {
    while (dirent* e = readdir(d))
      if (dead(e->d_name, true)) (void)Delete(std::string("/run/netns/") + e->d_name);
    closedir(d);
  }
  if (DIR* d = opendir("/tmp")) {
    while (dirent* e = readdir(d)) {
      if (!dead(e->d_name, false)) continue;
      std::string ns = std::string("/tmp/") + e->d_name + "/ns";
      if (DIR* nd = opendir(ns.c_str())) {
        while (dirent* f = readdir(nd))
          if (f->d_name[0] != '.') (void)Delete(ns + "/" + f->d_name);
        closedir(nd);
      }
      (void)ReleaseDir(ns);
      rmdir(ns.c_str());
      rmdir((std::string("/tmp/") + e->d_name).c_str());
    }
    closedir(d);
  }
}

void OnSignal(int) {
  Cleanup();
  _exit(1);
}

struct Stats {
  std::vector<double> ms;
  void Print(const char* what) {
    std::sort(ms.begin(), ms.end());
    auto q = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))]; };
    std::printf("%-28s n=%zu  p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms\n", what, ms.size(), q(0.50), q(0.99),
                ms.back());
  }
};

double CpuMs() {  // CPU time of this process, all threads (user + system)
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double Ms(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Wraps a NetOps and accumulates the time of each primitive by its position in Setup.
class TimingNetOps : public NetOps {
 public:
  explicit TimingNetOps(NetOps& in) : in_(in) {}
  void BeginRun() { i_ = 0; }
  void Print(int runs) const {
    for (size_t k = 0; k < names_.size(); ++k)
      std::printf("    step %2zu %-12s mean %7.3f ms\n", k + 1, names_[k].c_str(), total_[k] / runs);
  }
#define T(name, call)                                  \
  auto t0 = std::chrono::steady_clock::now();          \
  Status st = call;                                    \
  Add(name, Ms(t0, std::chrono::steady_clock::now())); \
  return st
  Status CreateNetns(const std::string& p) override { T("CreateNetns", in_.CreateNetns(p)); }
  Status DeleteNetns(const std::string& p) override { T("DeleteNetns", in_.DeleteNetns(p)); }
  Status CreateVeth(const std::string& a, const std::string& b, const std::string& c) override {
    T("CreateVeth", in_.CreateVeth(a, b, c));
  }
  Status CreateLink(const std::string& w, const std::string& a, const std::string& k) override {
    T("CreateLink", in_.CreateLink(w, a, k));
  }
  Status DeleteLink(const std::string& w, const std::string& a) override { T("DeleteLink", in_.DeleteLink(w, a)); }
  Status SetLinkUp(const std::string& w, const std::string& a, bool up) override {
    T("SetLinkUp", in_.SetLinkUp(w, a, up));
  }
  Status AddAddress(const std::string& w, const std::string& a, const IpPrefix& p) override {
    T("AddAddress", in_.AddAddress(w, a, p));
  }
  Status DelAddress(const std::string& w, const std::string& a, const IpPrefix& p) override {
    T("DelAddress", in_.DelAddress(w, a, p));
  }
  Status AddRoute(const std::string& w, const Route& r) override { T("AddRoute", in_.AddRoute(w, r)); }
  Status DelRoute(const std::string& w, const Route& r) override { T("DelRoute", in_.DelRoute(w, r)); }
  Status WriteSysctl(const std::string& w, const std::string& k, const std::string& v) override {
    T("WriteSysctl", in_.WriteSysctl(w, k, v));
  }
#undef T
  void Forget(const std::string& p) override { in_.Forget(p); }

 private:
  void Add(const char* name, double ms) {
    if (i_ >= names_.size()) {
      names_.push_back(name);
      total_.push_back(0);
    }
    total_[i_++] += ms;
  }
  NetOps& in_;
  size_t i_ = 0;
  std::vector<std::string> names_;
  std::vector<double> total_;
};

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? ParseDecimal<int>(argv[1]).value_or(0) : 200;
  if (n <= 0) {
    std::fprintf(stderr, "usage: %s [iterations > 0]\n", argv[0]);
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "needs root (network namespaces)\n");
    return 2;
  }
  std::string pid = std::to_string(getpid());
  g_base = "/tmp/pcnb-" + pid;
  g_ip_host = "pcnb-" + pid + "-host";
  g_ip_machine = "pcnb-" + pid + "-m";
  SweepLeftovers();
  std::atexit(Cleanup);
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  mkdir(g_base.c_str(), 0755);

  const uint32_t net32 = 7, host32 = 2, machine32 = 0x42, slot = 0;
  const std::string six = addr::SixPnAddress(net32, host32, machine32).ToString();
  const std::string gw = addr::SixPnGateway(net32, host32, machine32).ToString();
  const std::string v4m = addr::V4ToString(addr::LinkV4Machine(slot));
  const std::string v4h = addr::V4ToString(addr::LinkV4Host(slot));

  // --- privcast: MachineNetwork over rtnetlink ---
  Status st = Create(g_base + "/ns", "host", [] {
    auto r = Rtnl::Open();
    return r.ok() ? r->SetLinkUp("lo", true) : r.status();
  });
  if (!st.ok()) {
    std::fprintf(stderr, "host netns: %s\n", st.ToString().c_str());
    return 1;
  }
  auto hostfd = Open(g_base + "/ns/host");
  auto ops = KernelNetOps::CreateFor(hostfd->get());
  if (!ops.ok()) return 1;
  MachineNetwork mn(**ops, g_base + "/ns");
  TimingNetOps timing(**ops);
  MachineNetwork tmn(timing, g_base + "/ns");
  constexpr int kStepRuns = 20;
  for (int i = 0; i < kStepRuns; ++i) {
    timing.BeginRun();
    MachineNetSpec spec{"s" + std::to_string(i), net32, host32, machine32, slot};
    if (!tmn.Setup(spec).ok() || !tmn.Teardown(spec.machine_id, slot).ok()) return 1;
  }
  Stats lib_setup, lib_teardown, lib_setup_cpu;
  for (int i = 0; i < n; ++i) {
    MachineNetSpec spec{"m" + std::to_string(i), net32, host32, machine32, slot};
    double c0 = CpuMs();
    auto t0 = std::chrono::steady_clock::now();
    st = mn.Setup(spec);
    auto t1 = std::chrono::steady_clock::now();
    lib_setup_cpu.ms.push_back(CpuMs() - c0);
    if (!st.ok()) {
      std::fprintf(stderr, "setup: %s\n", st.ToString().c_str());
      return 1;
    }
    st = mn.Teardown(spec.machine_id, slot);
    auto t2 = std::chrono::steady_clock::now();
    if (!st.ok()) {
      std::fprintf(stderr, "teardown: %s\n", st.ToString().c_str());
      return 1;
    }
    lib_setup.ms.push_back(Ms(t0, t1));
    lib_teardown.ms.push_back(Ms(t1, t2));
  }

  // Batch: N machines up at once (distinct slots), then all down. Setups do not queue behind
  // the kernel's asynchronous destruction of the previous iteration's netns here.
  Stats batch_setup, batch_teardown;
  for (int i = 0; i < n; ++i) {
    MachineNetSpec spec{"b" + std::to_string(i), net32, host32, machine32 + 1 + i, static_cast<uint32_t>(i + 1)};
    auto t0 = std::chrono::steady_clock::now();
    st = mn.Setup(spec);
    batch_setup.ms.push_back(Ms(t0, std::chrono::steady_clock::now()));
    if (!st.ok()) {
      std::fprintf(stderr, "batch setup: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  for (int i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    st = mn.Teardown("b" + std::to_string(i), static_cast<uint32_t>(i + 1));
    batch_teardown.ms.push_back(Ms(t0, std::chrono::steady_clock::now()));
    if (!st.ok()) return 1;
  }

  // --- the same with ip commands ---
  if (Run({"ip", "netns", "add", g_ip_host}) != 0 || Run({"ip", "-n", g_ip_host, "link", "set", "lo", "up"}) != 0) {
    std::fprintf(stderr, "ip netns add failed\n");
    return 1;
  }
  const std::string& H = g_ip_host;
  const std::string& M = g_ip_machine;
  std::vector<std::vector<std::string>> setup_cmds = {
      {"ip", "netns", "add", M},
      {"ip", "netns", "exec", M, "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0",
       "net.ipv6.conf.default.accept_dad=0"},
      {"ip", "-n", H, "link", "add", "pcv0", "type", "veth", "peer", "name", "eth0", "netns", M},
      {"ip", "-n", M, "link", "set", "lo", "up"},
      {"ip", "-n", M, "link", "set", "eth0", "up"},
      {"ip", "-n", H, "link", "set", "pcv0", "up"},
      {"ip", "-n", M, "addr", "add", six + "/112", "dev", "eth0", "nodad"},
      {"ip", "-n", M, "addr", "add", v4m + "/31", "dev", "eth0"},
      {"ip", "-n", H, "addr", "add", "fe80::1/64", "dev", "pcv0", "nodad"},
      {"ip", "-n", H, "addr", "add", gw + "/112", "dev", "pcv0", "nodad"},
      {"ip", "-n", H, "addr", "add", v4h + "/31", "dev", "pcv0"},
      {"ip", "-n", M, "-6", "route", "add", "default", "via", gw, "dev", "eth0"},
      {"ip", "-n", M, "-4", "route", "add", "default", "via", v4h, "dev", "eth0"},
  };
  std::vector<std::vector<std::string>> teardown_cmds = {
      {"ip", "-n", H, "link", "del", "pcv0"},
      {"ip", "netns", "del", M},
  };
  Stats ip_setup, ip_teardown;
  for (int i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& c : setup_cmds)
      if (Run(c) != 0) {
        std::fprintf(stderr, "failed: %s ...\n", c[3].c_str());
        return 1;
      }
    auto t1 = std::chrono::steady_clock::now();
    for (const auto& c : teardown_cmds)
      if (Run(c) != 0) return 1;
    auto t2 = std::chrono::steady_clock::now();
    ip_setup.ms.push_back(Ms(t0, t1));
    ip_teardown.ms.push_back(Ms(t1, t2));
  }

  std::printf("machine network, %d iterations each (same run)\n", n);
  std::printf("  privcast per-primitive means (%d runs, Setup steps then Teardown):\n", kStepRuns);
  timing.Print(kStepRuns);
  lib_setup.Print("setup    privcast netlink");
  lib_setup_cpu.Print("  (CPU of privcast setup)");
  ip_setup.Print("setup    ip commands");
  lib_teardown.Print("teardown privcast netlink");
  ip_teardown.Print("teardown ip commands");
  batch_setup.Print("batch setup (N live)");
  batch_teardown.Print("batch teardown");
  return 0;
}
