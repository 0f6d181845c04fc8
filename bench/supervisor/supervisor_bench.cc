// supervisor_bench: latency of machine start, stop, destroy, suspend and resume over N
// iterations (default 200), p50/p99/max. Needs root. Figures go to docs/supervisor.md.
//
//   supervisor_bench [--iterations N] [--v2] [--no-netns] [--no-sandbox] [--image LAYER[,LAYER...]] [--volume DIR]
//
// --image: the machines run an OCI image's unpacked layers (lowest first; e.g. the layer
// dirs of <data-dir>/images/layers, or a dir with busybox as bin/sh and bin/sleep): an overlay
// of idmapped layers and a fresh writable layer per start (ADR 0009).
// Machines are sandboxed as the daemon's are (own user/PID/mount/... namespaces, built root,
// privcast-init, seccomp); --no-sandbox measures the plain launch for comparison.
//
// start    Supervisor::Start() call → the machine's program has exec'd (Start returns then)
// first    Start() call → first byte the program writes (its stdout is a pipe here)
// suspend  Suspend() call → cgroup reported frozen
// resume   Resume() call → returns (thawed)
// stop     StopAndWait() (kill_signal SIGINT to `sleep`) → exit handled by the event loop
// destroy  Destroy() of a stopped machine (cgroup rmdir + state files)
// The netns is created once up front (netns creation is the netns module's cost) by
// unshare(CLONE_NEWNET) on a helper thread and a bind mount in a temp dir; it is removed at
// the end. Cgroups live under privcast-bench-<pid>, removed at the end.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/ids.h"
#include "common/log.h"
#include "common/strings.h"
#include "supervisor/supervisor.h"

using namespace privcast;
using namespace privcast::supervisor;
using SteadyClock = std::chrono::steady_clock;

namespace {

double Us(SteadyClock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

void Report(const char* name, std::vector<double> v) {
  if (v.empty()) return;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) { return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))]; };
  std::printf("%-22s n=%-4zu p50=%9.1f us  p99=%9.1f us  max=%9.1f us\n", name, v.size(), pct(0.5), pct(0.99),
              v.back());
}

bool MakeNetns(const std::string& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  ::close(fd);
  bool ok = false;
  std::thread t([&] {
    if (::unshare(CLONE_NEWNET) != 0) return;
    ok = ::mount("/proc/thread-self/ns/net", file.c_str(), nullptr, MS_BIND, nullptr) == 0;
  });
  t.join();
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = 200;
  bool v2 = false, netns = true, sandbox = true;
  std::vector<std::string> layers;
  std::string volume;  // --volume DIR: every machine mounts DIR at /data (idmapped, ADR 0010)
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--iterations") && i + 1 < argc) {
      auto n = ParseDecimal<int>(argv[++i]);
      if (!n || *n <= 0) {
        std::fprintf(stderr, "--iterations wants a whole number above 0, got \"%s\"\n", argv[i]);
        return 2;
      }
      iterations = *n;
    } else if (!std::strcmp(argv[i], "--v2")) v2 = true;
    else if (!std::strcmp(argv[i], "--no-netns")) netns = false;
    else if (!std::strcmp(argv[i], "--no-sandbox")) sandbox = false;
    else if (!std::strcmp(argv[i], "--volume") && i + 1 < argc) volume = argv[++i];
    else if (!std::strcmp(argv[i], "--image") && i + 1 < argc) {
      std::string list = argv[++i];
      for (size_t a = 0; a <= list.size();) {
        size_t b = list.find(',', a);
        if (b == std::string::npos) b = list.size();
        if (b > a) layers.push_back(list.substr(a, b - a));
        a = b + 1;
      }
    } else {
      std::fprintf(stderr,
                   "usage: %s [--iterations N] [--v2] [--no-netns] [--no-sandbox] [--image LAYER,...] [--volume DIR]\n",
                   argv[0]);
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "supervisor_bench needs root\n");
    return 1;
  }
  log::SetMinLevel(log::Level::kError);
  char tmpl[] = "/tmp/pcs-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;
  std::string ns_file = dir + "/netns";
  if (netns && !MakeNetns(ns_file)) {
    std::fprintf(stderr, "cannot create netns\n");
    return 1;
  }

  // Per-step setup timing through the fault seam (called before each step).
  std::map<int, std::vector<double>> step_us;
  SteadyClock::time_point last{};
  int last_step = -1;
  SupervisorOptions o;
  o.state_root = dir + "/state";
  o.cgroups.root_name = "privcast-bench-" + std::to_string(::getpid());
  o.init_path = PRIVCAST_INIT_PATH;
  if (v2) {
    o.cgroups.mount = "/sys/fs/cgroup/unified";
    o.cgroups.version = CgroupVersion::kV2;
  }
  o.fault = [&](SetupStep s) {
    auto now = SteadyClock::now();
    if (last_step >= 0) step_us[last_step].push_back(Us(now - last));
    last_step = static_cast<int>(s);
    last = now;
    return Status::Ok();
  };
  auto sup = Supervisor::Create(o);
  if (!sup.ok()) {
    std::fprintf(stderr, "%s\n", sup.status().ToString().c_str());
    return 1;
  }
  std::vector<double> start, first, suspend, resume, stop, destroy;
  int failures = 0;
  for (int i = 0; i < iterations; ++i) {
    LaunchSpec s;
    s.machine_id = ids::NewMachineId();
    s.argv = {"/bin/sh", "-c", "echo r; exec sleep 1000"};
    s.env = BuildMachineEnv({"bench", s.machine_id, "ams", "fdaa:0:1:0:2:0:1::2", "app", "ams", {}});
    s.resolv_conf = RenderResolvConf();
    s.hosts = RenderHosts("fdaa:0:1:0:2:0:1::2", s.machine_id);
    s.log_path = dir + "/m.log";
    if (netns) s.netns_path = ns_file;
    s.restart.mode = RestartMode::kNever;
    // Far above the daemon's default range (systemd's container range starts at 524288).
    if (sandbox) s.sandbox = SandboxSpec{IdRange{1u << 30, kIdsPerMachine}};
    if (sandbox && !layers.empty()) s.image = ImageRootfs{layers, false, 0, 0};
    if (sandbox && !volume.empty()) s.volumes = {VolumeMount{volume, "/data"}};
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return 1;
    s.stdio = StdioFds{-1, p[1], p[1]};
    last_step = -1;
    auto t0 = SteadyClock::now();
    auto r = (*sup)->Start(s);
    auto t1 = SteadyClock::now();
    if (last_step >= 0) step_us[last_step].push_back(Us(t1 - last));
    ::close(p[1]);
    if (!r.ok()) {
      std::fprintf(stderr, "start: %s\n", r.status().ToString().c_str());
      ::close(p[0]);
      ++failures;
      continue;
    }
    char c;
    if (::read(p[0], &c, 1) == 1) first.push_back(Us(SteadyClock::now() - t0));
    ::close(p[0]);
    start.push_back(Us(t1 - t0));
    auto t2 = SteadyClock::now();
    Status st = (*sup)->Suspend(s.machine_id);
    auto t3 = SteadyClock::now();
    Status st2 = (*sup)->Resume(s.machine_id);
    auto t4 = SteadyClock::now();
    if (st.ok() && st2.ok()) {
      suspend.push_back(Us(t3 - t2));
      resume.push_back(Us(t4 - t3));
    } else {
      ++failures;
    }
    auto t5 = SteadyClock::now();
    if ((*sup)->StopAndWait(s.machine_id, std::chrono::seconds(10)).ok()) stop.push_back(Us(SteadyClock::now() - t5));
    else ++failures;
    auto t6 = SteadyClock::now();
    if ((*sup)->Destroy(s.machine_id, true).ok()) destroy.push_back(Us(SteadyClock::now() - t6));
    else ++failures;
  }
  std::printf("supervisor_bench: %d iterations, cgroup %s, netns %s, sandbox %s, image %s, volume %s, failures %d\n",
              iterations, v2 ? "v2 (unified)" : "v1", netns ? "yes" : "no", sandbox ? "yes" : "no",
              layers.empty() ? "no" : (std::to_string(layers.size()) + " layers").c_str(),
              volume.empty() ? "no" : "yes", failures);
  Report("start (to execve)", start);
  Report("start (to first byte)", first);
  Report("suspend", suspend);
  Report("resume", resume);
  Report("stop", stop);
  Report("destroy", destroy);
  std::printf("start breakdown (time spent in each setup step):\n");
  for (auto& [k, v] : step_us) Report((std::string("  ") + SetupStepName(static_cast<SetupStep>(k))).c_str(), v);
  (void)(*sup)->RemoveCgroupRoot();
  sup->reset();
  if (netns) {
    ::umount2(ns_file.c_str(), MNT_DETACH);
  }
  std::string rm = "rm -rf " + dir;
  return std::system(rm.c_str()) == 0 && failures == 0 ? 0 : 1;
}
