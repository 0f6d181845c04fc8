// Supervisor with real processes, cgroups (v1 here; v2 on the hybrid host's unified
// hierarchy when available) and network namespaces. Needs root (label "root").
//
// Safety: every cgroup lives under privcast-test-sup-<pid>, every netns is pcs-<pid>-<n>,
// every process is one we started; all are removed in TearDown, failures included.
#include "supervisor/supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "common/ids.h"
#include "common/strings.h"
#include "supervisor/log_tail.h"
#include "supervisor/record.h"

namespace privcast::supervisor {
namespace {

using namespace std::chrono_literals;

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

std::string Slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Sh(const std::string& cmd) { return std::system(cmd.c_str()); }

// The last line of a counter's output as a number (0 when there is none yet).
int LastNumber(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line)) last = line;
  return ParseDecimal<int>(last).value_or(0);
}

// A throwaway named netns (the test is the only place that may use `ip`).
class ScopedNetns {
 public:
  explicit ScopedNetns(int n) : name_("pcs-" + std::to_string(::getpid()) + "-" + std::to_string(n)) {
    ok_ = Sh("ip netns add " + name_ + " 2>/dev/null") == 0;
  }
  ~ScopedNetns() {
    if (ok_) Sh("ip netns del " + name_ + " 2>/dev/null");
  }
  bool ok() const { return ok_; }
  std::string path() const { return "/run/netns/" + name_; }

 private:
  std::string name_;
  bool ok_ = false;
};

// Leftover pcs-<pid>-* namespaces of test processes that no longer exist.
void CleanStaleNetns() {
  DIR* d = ::opendir("/run/netns");
  if (!d) return;
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("pcs-", 0) != 0) continue;
    pid_t pid = static_cast<pid_t>(std::atol(n.c_str() + 4));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) stale.push_back(n);
  }
  ::closedir(d);
  for (const auto& n : stale) Sh("ip netns del " + n + " 2>/dev/null");
}

// Our children, from /proc (to prove rollback leaves no process behind).
std::set<pid_t> Children() {
  std::set<pid_t> out;
  std::string base = "/proc/" + std::to_string(::getpid()) + "/task";
  DIR* d = ::opendir(base.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::istringstream in(Slurp(base + "/" + e->d_name + "/children"));
    pid_t p;
    while (in >> p) {
      auto st = ReadProcStat(p);
      if (st.ok() && st->state != 'Z') out.insert(p);
    }
  }
  ::closedir(d);
  return out;
}

class Events {
 public:
  void Push(const MachineEvent& e) {
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back(e);
    cv_.notify_all();
  }
  // How many events arrived so far: a mark for WaitFor(..., since) to skip them.
  size_t Mark() {
    std::lock_guard<std::mutex> l(mu_);
    return events_.size();
  }
  // Waits for an event matching pred, among those after the mark `since`; returns it.
  std::optional<MachineEvent> WaitFor(std::function<bool(const MachineEvent&)> pred, Duration d = 20s,
                                      size_t since = 0) {
    std::unique_lock<std::mutex> l(mu_);
    std::optional<MachineEvent> out;
    cv_.wait_for(l, d, [&] {
      for (size_t i = since; i < events_.size(); ++i) {
        const MachineEvent& e = events_[i];
        if (pred(e)) {
          out = e;
          return true;
        }
      }
      return false;
    });
    return out;
  }
  std::optional<MachineEvent> WaitKind(const std::string& id, EventKind k, Duration d = 20s, size_t since = 0) {
    return WaitFor([&](const MachineEvent& e) { return e.machine_id == id && e.kind == k; }, d, since);
  }
  std::vector<MachineEvent> All() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<MachineEvent> events_;
};

// 1 GiB: above every range a daemon with the default base hands out to its first slots.
constexpr uint32_t kTestIdBase = 1u << 30;

// A sandboxed machine's main process is privcast-init (PID 1 of the machine), which ends
// with the program's status: a program killed by `sig` shows as exit code 128 + sig, and
// only a SIGKILL of init itself (the cgroup kill) as a signal.
bool EndedBySignal(const MachineEvent& e, int sig) { return e.exit.signal == sig || e.exit.code == 128 + sig; }

struct Param {
  CgroupVersion version;
};

class SupervisorTest : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    CleanStaleNetns();
    char tmpl[] = "/tmp/pcs-sup-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    opts_.state_root = dir_ + "/state";
    opts_.cgroups.root_name = "privcast-test-sup-" + std::to_string(::getpid());
    if (GetParam().version == CgroupVersion::kV2) {
      std::string m = Exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified";
      if (!Exists(m + "/cgroup.controllers")) GTEST_SKIP() << "no cgroup v2 hierarchy";
      opts_.cgroups.mount = m;
      opts_.cgroups.version = CgroupVersion::kV2;
    } else if (Exists("/sys/fs/cgroup/cgroup.controllers")) {
      GTEST_SKIP() << "no cgroup v1 on this host";
    }
    opts_.on_event = [this](const MachineEvent& e) { events_.Push(e); };
    opts_.init_path = PRIVCAST_INIT_PATH;
    MakeSupervisor();
  }

  void TearDown() override {
    if (sup_) {
      for (const auto& id : ids_) EXPECT_TRUE(sup_->Destroy(id, /*force=*/true).ok()) << id;
      for (const auto& r : sup_->cgroups().root_dirs()) (void)r;
      EXPECT_TRUE(sup_->RemoveCgroupRoot().ok());
      for (const auto& r : sup_->cgroups().root_dirs()) EXPECT_FALSE(Exists(r)) << r << " left behind";
      sup_.reset();
    }
    if (!dir_.empty()) Sh("rm -rf " + dir_);
  }

  void MakeSupervisor() {
    auto s = Supervisor::Create(opts_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    sup_ = std::move(*s);
  }

  LaunchSpec Spec(const std::string& shell) {
    LaunchSpec s;
    s.machine_id = ids::NewMachineId();
    ids_.push_back(s.machine_id);
    s.shell_command = shell;
    MachineEnvInputs in;
    in.app = "web";
    in.machine_id = s.machine_id;
    in.region = "ams";
    in.private_ip = "fdaa:0:1:0:2:0:1::2";
    in.process_group = "app";
    in.primary_region = "ams";
    in.extra = {{"GREETING", "hello world"}};
    s.env = BuildMachineEnv(in);
    s.resolv_conf = RenderResolvConf();
    s.hosts = RenderHosts(in.private_ip, s.machine_id);
    s.log_path = dir_ + "/" + s.machine_id + ".log";
    s.restart.mode = RestartMode::kNever;
    // Every machine here is sandboxed, as the daemon's are; the range is far from the
    // daemon's default base so a test never shares ids with a machine of a real daemon.
    s.sandbox = SandboxSpec{MachineIdRange(kTestIdBase, static_cast<uint32_t>(ids_.size()))};
    return s;
  }

  // Runs `script` in a sandboxed machine with a netns of its own until it exits 0; returns
  // its output (empty on failure, with the failure recorded). Once it returned, the machine
  // is exited (the supervisor settles an entry before it reports the exit).
  std::string RunInNetns(LaunchSpec& s) {
    ScopedNetns ns(1);
    EXPECT_TRUE(ns.ok());
    if (!ns.ok()) return "";
    s.netns_path = ns.path();
    const size_t mark = events_.Mark();  // a machine run again: its earlier exits do not count
    auto st = sup_->Start(s);
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    if (!st.ok()) return "";
    auto ev = events_.WaitKind(s.machine_id, EventKind::kExited, 20s, mark);
    EXPECT_TRUE(ev);
    if (!ev) return "";
    EXPECT_EQ(ev->exit.code, 0);
    return Slurp(s.log_path);
  }

  // Waits until the machine's log has a line equal to `want` (inotify, bounded).
  bool WaitLogLine(const std::string& path, const std::string& want, Duration d = 10s) {
    auto t = LogTail::Open(path, LogTail::kAll);
    if (!t.ok()) return false;
    auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline) {
      auto lines = t->Read();
      if (!lines.ok()) return false;
      for (const auto& l : *lines)
        if (l == want) return true;
      (void)t->Wait(100ms);
    }
    return false;
  }

  std::string dir_;
  SupervisorOptions opts_;
  FakeClock clock_;  // for tests that set opts_.clock (outlives sup_)
  std::unique_ptr<Supervisor> sup_;
  std::vector<std::string> ids_;
  Events events_;
};

TEST_P(SupervisorTest, InsideTheMachine) {
  ScopedNetns ns(1);
  ASSERT_TRUE(ns.ok());
  std::string marker = "/tmp/pcs-host-marker-" + std::to_string(::getpid());
  ASSERT_EQ(Sh("touch " + marker), 0);
  struct Unlink {
    std::string p;
    ~Unlink() { ::unlink(p.c_str()); }
  } unlink_marker{marker};
  LaunchSpec s = Spec(
      "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; cat /proc/sys/kernel/hostname;"
      "echo ---; ls -A /tmp /run | tr '\\n' ' '; echo; touch /tmp/inside; echo ---;"
      "readlink /proc/self/ns/net; echo ---; tr '\\0' '\\n' < /proc/$$/environ; echo ---; pwd");
  s.netns_path = ns.path();
  auto st = sup_->Start(s);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  auto ev = events_.WaitKind(s.machine_id, EventKind::kExited);
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->exit.known);
  EXPECT_EQ(ev->exit.code, 0);
  std::string out = Slurp(s.log_path);
  std::vector<std::string> parts;
  size_t pos = 0;
  for (size_t sep; (sep = out.find("---\n", pos)) != std::string::npos; pos = sep + 4) {
    parts.push_back(out.substr(pos, sep - pos));
  }
  parts.push_back(out.substr(pos));
  ASSERT_EQ(parts.size(), 7u) << out;
  EXPECT_EQ(parts[0], "nameserver fdaa::3\n");
  EXPECT_EQ(parts[1], s.hosts);
  EXPECT_EQ(parts[2], s.machine_id + "\n");
  EXPECT_EQ(parts[3], "/run: lock  /tmp: \n") << "private /tmp and /run must start (nearly) empty";
  struct stat nst;
  ASSERT_EQ(::stat(ns.path().c_str(), &nst), 0);
  EXPECT_EQ(parts[4], "net:[" + std::to_string(nst.st_ino) + "]\n");
  std::string env;
  for (const auto& e : s.env) env += e + "\n";
  EXPECT_EQ(parts[5], env);
  EXPECT_EQ(parts[6], "/\n");
  // Nothing leaked to the host: its /tmp still has our marker and not the machine's file,
  // its hostname and resolv.conf are untouched.
  EXPECT_TRUE(Exists(marker));
  EXPECT_FALSE(Exists("/tmp/inside"));
  EXPECT_NE(Slurp("/proc/sys/kernel/hostname"), s.machine_id + "\n");
  EXPECT_NE(Slurp("/etc/resolv.conf"), "nameserver fdaa::3\n");
}

TEST_P(SupervisorTest, RootInTheMachineHasOnlyTheDefaultCapabilities) {
  // Docker's default set (CapBnd a80425fb): no way into another network namespace, no
  // changing its own addresses; binding low ports and changing user still work.
  LaunchSpec s = Spec(
      "grep CapBnd /proc/self/status; "
      "nsenter --net=/proc/" +
      std::to_string(::getpid()) +
      "/ns/net true 2>/dev/null && echo setns-ok || "
      "echo setns-refused; "
      "ip -6 addr add fdaa::99/128 dev lo 2>/dev/null && echo addr-ok || echo addr-refused; "
      "setpriv --reuid=65534 --regid=65534 --clear-groups id -u");
  EXPECT_EQ(RunInNetns(s), "CapBnd:\t00000000a80425fb\nsetns-refused\naddr-refused\n65534\n");
}

TEST_P(SupervisorTest, TheSandboxHidesTheHostAndLocksTheMachineDown) {
  LaunchSpec s = Spec(
      "cat /proc/self/uid_map; echo $$; tr '\\0' ' ' < /proc/1/cmdline; echo; "
      "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t'; "
      "set -- /proc/[0-9]*; echo $#; cat /proc/self/cgroup | grep -v ':/$' | wc -l; "
      "test -e /etc/shadow && echo shadow || echo no-shadow; ls -A /home /root /var/lib | tr '\\n' ' '; echo; "
      "touch /usr/x 2>/dev/null && echo usr-rw || echo usr-ro; "
      "(echo core > /proc/sys/kernel/core_pattern) 2>/dev/null && echo sysctl-rw || echo sysctl-ro; "
      "wc -c < /proc/timer_list; ls -A /proc/acpi | wc -l; id -u; stat -c %u /etc/passwd /tmp; echo ok > /etc/x && cat /etc/x; "
      "cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start | tr '\\t' ' '; "
      "p=/sys/fs/cgroup/freezer/cgroup.procs; test -e $p || p=/sys/fs/cgroup/cgroup.procs; "
      "grep -qx $$ $p && echo own-cgroup-visible; (echo $$ > $p) 2>/dev/null && echo cgroup-rw || echo cgroup-ro; "
      "ls /sys/fs/cgroup/freezer 2>/dev/null | grep -c '^[0-9a-f]\\{14\\}$' || true");
  std::string base = std::to_string(s.sandbox->ids.base);
  EXPECT_EQ(RunInNetns(s), "         0 " + std::string(10 - base.size(), ' ') + base +
                               "      65536\n"
                               "2\n"  // the program; privcast-init is PID 1
                               "privcast-init -- /bin/sh -c " +
                               s.shell_command +
                               " \n"
                               "NoNewPrivs:1\nSeccomp:2\n"
                               "2\n"  // init and sh (a glob: no child racing the count): nothing of the host
                               "0\n"  // every cgroup shows as the machine's root
                               "no-shadow\n"
                               "/home:  /root:  /var/lib: \n"
                               "usr-ro\nsysctl-ro\n"
                               "0\n0\n0\n0\n0\nok\n"                   // masked /proc paths; root inside owns its files
                               "0 65535\n0\n"                          // ping for the machine's groups, low ports
                               "own-cgroup-visible\ncgroup-ro\n0\n");  // its own cgroup only, read-only
}

TEST_P(SupervisorTest, InItsCgroupsWithLimitsThenDestroyLeavesNothing) {
  LaunchSpec s = Spec("echo ready; exec sleep 1000");
  s.limits.memory_mb = 64;
  s.limits.cpus = 0.5;
  s.limits.pids_max = 32;
  auto st = sup_->Start(s);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  MachineCgroup cg = sup_->CgroupOf(s.machine_id);
  ASSERT_FALSE(cg.empty());
  EXPECT_TRUE(cg.Contains(st->pid));
  std::string self_cg = Slurp("/proc/" + std::to_string(st->pid) + "/cgroup");
  EXPECT_NE(self_cg.find(opts_.cgroups.root_name + "/" + s.machine_id), std::string::npos) << self_cg;
  if (cg.version() == CgroupVersion::kV1) {
    for (const auto& d : cg.dirs()) {
      if (Exists(d + "/memory.limit_in_bytes")) {
        EXPECT_EQ(Slurp(d + "/memory.limit_in_bytes"), "67108864\n");
      }
      if (Exists(d + "/cpu.cfs_quota_us")) {
        EXPECT_EQ(Slurp(d + "/cpu.cfs_quota_us"), "50000\n");
      }
      if (Exists(d + "/cpu.shares")) {
        EXPECT_EQ(Slurp(d + "/cpu.shares"), "512\n");
      }
      if (Exists(d + "/pids.max")) {
        EXPECT_EQ(Slurp(d + "/pids.max"), "32\n");
      }
    }
  } else if (Exists(cg.dirs()[0] + "/memory.max")) {
    EXPECT_EQ(Slurp(cg.dirs()[0] + "/memory.max"), "67108864\n");
  }
  std::string state = sup_->StateDir(s.machine_id);
  EXPECT_TRUE(Exists(state + "/runtime"));
  EXPECT_TRUE(Exists(state + "/resolv.conf"));
  ASSERT_TRUE(sup_->Destroy(s.machine_id).ok());
  for (const auto& d : cg.dirs()) EXPECT_FALSE(Exists(d)) << d;
  EXPECT_FALSE(Exists(state));
  EXPECT_FALSE(sup_->Describe(s.machine_id));
  EXPECT_NE(::kill(st->pid, 0) == 0 && ReadProcStat(st->pid)->state != 'Z', true);
}

TEST_P(SupervisorTest, SuspendFreezesCounterAndResumeContinues) {
  const std::string counter = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.005; done";
  LaunchSpec s = Spec(counter);
  // A twin that keeps running measures the window in which the frozen one must not move:
  // the time it takes to count 20 further, however busy the host is (not a fixed sleep).
  LaunchSpec twin = Spec(counter);
  ASSERT_TRUE(sup_->Start(s).ok());
  ASSERT_TRUE(sup_->Start(twin).ok());
  ASSERT_TRUE(WaitLogLine(s.log_path, "5"));
  ASSERT_TRUE(sup_->Suspend(s.machine_id).ok());
  EXPECT_EQ(sup_->Describe(s.machine_id)->state, RunState::kSuspended);
  EXPECT_TRUE(*sup_->CgroupOf(s.machine_id).Frozen());
  std::string frozen_at = Slurp(s.log_path);
  ASSERT_TRUE(WaitLogLine(twin.log_path, std::to_string(LastNumber(Slurp(twin.log_path)) + 20)));
  EXPECT_EQ(Slurp(s.log_path), frozen_at) << "counter advanced while frozen";
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sup_->Resume(s.machine_id).ok());
  auto resume = std::chrono::steady_clock::now() - t0;
  RecordProperty("resume_us", std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(resume).count()));
  // Advances again: the next numbers after the last one written.
  ASSERT_TRUE(WaitLogLine(s.log_path, std::to_string(LastNumber(frozen_at) + 3)));
  EXPECT_EQ(sup_->Describe(s.machine_id)->state, RunState::kRunning);
}

// kill_timeout runs on the supervisor's Clock: here a FakeClock, so the test says when it
// has passed (no waiting, no timing threshold).
TEST_P(SupervisorTest, KillTimeoutSigkillsAProcessIgnoringSigint) {
  sup_.reset();
  opts_.clock = &clock_;
  MakeSupervisor();
  LaunchSpec s = Spec("trap 'echo int-ignored' INT; echo ready; while :; do sleep 0.05; done");
  s.kill_timeout = 60s;
  ASSERT_TRUE(sup_->Start(s).ok());
  ASSERT_TRUE(WaitLogLine(s.log_path, "ready"));
  ASSERT_TRUE(sup_->Stop(s.machine_id).ok());
  // The kill_signal arrived and was shrugged off: the machine is still there, stopping.
  ASSERT_TRUE(WaitLogLine(s.log_path, "int-ignored"));
  EXPECT_EQ(sup_->Describe(s.machine_id)->state, RunState::kStopping);
  clock_.Advance(60s);
  auto ev = events_.WaitKind(s.machine_id, EventKind::kExited);
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->stop_requested);
  EXPECT_TRUE(ev->killed_after_timeout);
  EXPECT_EQ(ev->exit.signal, SIGKILL);
  EXPECT_TRUE(sup_->CgroupOf(s.machine_id).Procs()->empty());
  // The cgroup that was just killed (v2: cgroup.kill) takes a new start.
  ::truncate(s.log_path.c_str(), 0);
  auto again = sup_->Start(s);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_TRUE(WaitLogLine(s.log_path, "ready"));
  EXPECT_EQ(sup_->Describe(s.machine_id)->state, RunState::kRunning);
  EXPECT_EQ(::kill(again->pid, 0), 0);
}

TEST_P(SupervisorTest, KillSignalEndsACooperativeProcessEarly) {
  sup_.reset();
  opts_.clock = &clock_;  // never advanced: kill_timeout cannot pass, only the program can end it
  MakeSupervisor();
  LaunchSpec s = Spec("trap 'echo got-int; exit 3' INT; echo ready; while :; do sleep 0.05; done");
  s.kill_timeout = 30s;
  ASSERT_TRUE(sup_->Start(s).ok());
  ASSERT_TRUE(WaitLogLine(s.log_path, "ready"));
  ASSERT_TRUE(sup_->StopAndWait(s.machine_id, 20s).ok());
  auto ev = events_.WaitKind(s.machine_id, EventKind::kExited);
  ASSERT_TRUE(ev);
  EXPECT_FALSE(ev->killed_after_timeout);
  EXPECT_EQ(ev->exit.code, 3);
  EXPECT_NE(Slurp(s.log_path).find("got-int"), std::string::npos);
}

TEST_P(SupervisorTest, ExitCallbackCarriesCodeAndChildrenAreKilled) {
  // The background sleep would outlive its parent: the supervisor kills the tree.
  LaunchSpec s = Spec("sleep 1000 & echo $!; exit 7");
  ASSERT_TRUE(sup_->Start(s).ok());
  auto ev = events_.WaitKind(s.machine_id, EventKind::kExited);
  ASSERT_TRUE(ev);
  EXPECT_TRUE(ev->exit.known);
  EXPECT_EQ(ev->exit.code, 7);
  EXPECT_FALSE(ev->stop_requested);
  EXPECT_TRUE(sup_->CgroupOf(s.machine_id).Procs()->empty());
  EXPECT_EQ(sup_->Describe(s.machine_id)->state, RunState::kExited);
}

TEST_P(SupervisorTest, OnFailureRestartsUntilMaxRetries) {
  LaunchSpec s = Spec("echo run; exit 1");
  s.restart.mode = RestartMode::kOnFailure;
  s.restart.max_retries = 2;
  s.restart.initial_backoff = 10ms;
  ASSERT_TRUE(sup_->Start(s).ok());
  auto ev = events_.WaitKind(s.machine_id, EventKind::kExited);
  ASSERT_TRUE(ev);
  int scheduled = 0, restarted = 0;
  for (const auto& e : events_.All()) {
    if (e.machine_id != s.machine_id) continue;
    if (e.kind == EventKind::kRestartScheduled) {
      ++scheduled;
      EXPECT_EQ(e.attempt, scheduled);
      EXPECT_EQ(e.delay, scheduled == 1 ? Duration(10ms) : Duration(20ms));
    }
    if (e.kind == EventKind::kRestarted) ++restarted;
  }
  EXPECT_EQ(scheduled, 2);
  EXPECT_EQ(restarted, 2);
  EXPECT_EQ(ev->exit.code, 1);
  EXPECT_EQ(Slurp(s.log_path), "run\nrun\nrun\n");
}

TEST_P(SupervisorTest, OnFailureDoesNotRestartSuccess) {
  LaunchSpec s = Spec("exit 0");
  s.restart.mode = RestartMode::kOnFailure;
  s.restart.initial_backoff = 1ms;
  ASSERT_TRUE(sup_->Start(s).ok());
  ASSERT_TRUE(events_.WaitKind(s.machine_id, EventKind::kExited));
  for (const auto& e : events_.All()) EXPECT_NE(e.kind, EventKind::kRestartScheduled);
}

TEST_P(SupervisorTest, AdoptAfterSupervisorRestart) {
  LaunchSpec s = Spec("echo ready; exec sleep 1000");
  auto st = sup_->Start(s);
  ASSERT_TRUE(st.ok());
  sup_.reset();  // the daemon goes away; the machine does not
  ASSERT_EQ(::kill(st->pid, 0), 0);
  MakeSupervisor();
  auto a = sup_->Adopt(s);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->outcome, AdoptOutcome::kAdopted) << a->reason;
  EXPECT_EQ(a->pid, st->pid);
  EXPECT_EQ(sup_->Describe(s.machine_id)->state, RunState::kRunning);
  EXPECT_TRUE(sup_->Describe(s.machine_id)->adopted);
  // Suspend/resume/stop work on the adopted machine.
  ASSERT_TRUE(sup_->Suspend(s.machine_id).ok());
  ASSERT_TRUE(sup_->Resume(s.machine_id).ok());
  ASSERT_TRUE(sup_->StopAndWait(s.machine_id, 20s, SIGTERM).ok());
  auto ev = events_.WaitKind(s.machine_id, EventKind::kExited);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->pid, st->pid);
  EXPECT_TRUE(ev->stop_requested);
}

TEST_P(SupervisorTest, AdoptReportsGoneWhenKilledMeanwhile) {
  LaunchSpec s = Spec("exec sleep 1000");
  auto st = sup_->Start(s);
  ASSERT_TRUE(st.ok());
  sup_.reset();
  ASSERT_EQ(::kill(st->pid, SIGKILL), 0);  // our own child
  siginfo_t si;
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(st->pid), &si, WEXITED), 0);
  MakeSupervisor();
  auto a = sup_->Adopt(s);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->outcome, AdoptOutcome::kGone);
  EXPECT_EQ(sup_->Describe(s.machine_id)->state, RunState::kExited);
  EXPECT_FALSE(Exists(sup_->StateDir(s.machine_id) + "/runtime"));
  // And the daemon may start it again.
  ASSERT_TRUE(sup_->Start(s).ok());
}

TEST_P(SupervisorTest, AdoptRefusesAReusedPid) {
  LaunchSpec s = Spec("exec sleep 1000");
  auto st = sup_->Start(s);
  ASSERT_TRUE(st.ok());
  sup_.reset();
  std::string rec_path = opts_.state_root + "/" + s.machine_id + "/runtime";
  auto rec = LoadRecord(rec_path);
  ASSERT_TRUE(rec.ok());
  rec->start_time += 1;  // as if the pid now belonged to another process
  ASSERT_TRUE(SaveRecord(rec_path, *rec).ok());
  MakeSupervisor();
  auto a = sup_->Adopt(s);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->outcome, AdoptOutcome::kGone);
  EXPECT_NE(a->reason.find("reused"), std::string::npos) << a->reason;
}

TEST_P(SupervisorTest, AdoptRefusesAMachineRunningWithAnotherIdRange) {
  // The range follows from the machine's link slot; a process in another range is not it.
  LaunchSpec s = Spec("exec sleep 1000");
  auto st = sup_->Start(s);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  sup_.reset();
  MakeSupervisor();
  LaunchSpec other = s;
  other.sandbox->ids.base += kIdsPerMachine;
  auto a = sup_->Adopt(other);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->outcome, AdoptOutcome::kGone);
  EXPECT_NE(a->reason.find("id range"), std::string::npos) << a->reason;
}

TEST_P(SupervisorTest, FaultAtEachSetupStepRollsBack) {
  for (int k = 0; k < kSetupStepCount; ++k) {
    SCOPED_TRACE(SetupStepName(static_cast<SetupStep>(k)));
    opts_.fault = [k](SetupStep s) {
      return static_cast<int>(s) == k ? Internal(std::string("injected at ") + SetupStepName(s)) : Status::Ok();
    };
    sup_.reset();
    MakeSupervisor();
    auto before = Children();
    LaunchSpec s = Spec("exec sleep 1000");
    auto st = sup_->Start(s);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.status().message().find("injected"), std::string::npos);
    MachineCgroup cg = sup_->CgroupOf(s.machine_id);
    for (const auto& d : cg.dirs()) EXPECT_FALSE(Exists(d)) << d;
    EXPECT_FALSE(Exists(sup_->StateDir(s.machine_id)));
    EXPECT_FALSE(Exists(s.log_path));
    EXPECT_EQ(Children(), before) << "a process survived the rollback";
  }
  opts_.fault = nullptr;
  sup_.reset();
  MakeSupervisor();
}

TEST_P(SupervisorTest, ExecFailureIsAStatusAndRollsBack) {
  LaunchSpec s = Spec("");
  s.shell_command.clear();
  s.argv = {"/nonexistent/program"};
  auto st = sup_->Start(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("execve"), std::string::npos) << st.status().ToString();
  EXPECT_NE(st.status().message().find("No such file"), std::string::npos) << st.status().ToString();
  MachineCgroup cg = sup_->CgroupOf(s.machine_id);
  for (const auto& d : cg.dirs()) EXPECT_FALSE(Exists(d)) << d;
  EXPECT_FALSE(Exists(sup_->StateDir(s.machine_id)));
}

TEST_P(SupervisorTest, CallerStdioForMachineRun) {
  int in[2], out[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  LaunchSpec s = Spec("read line; echo \"got $line\"; echo err >&2; exit 4");
  s.stdio = StdioFds{in[0], out[1], out[1]};
  ASSERT_TRUE(sup_->Start(s).ok());
  ::close(in[0]);
  ::close(out[1]);
  ASSERT_EQ(::write(in[1], "abc\n", 4), 4);
  ::close(in[1]);
  std::string got;
  char buf[256];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  EXPECT_EQ(got, "got abc\nerr\n");
  auto ev = events_.WaitKind(s.machine_id, EventKind::kExited);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->exit.code, 4);
}

// machine run --shell on a terminal: the daemon's pty slave is the machine's stdio and
// controlling terminal (a session of its own), Ctrl-C on the pty is SIGINT to its
// foreground job, and Stop still works on a session leader.
TEST_P(SupervisorTest, PtySlaveBecomesTheControllingTerminal) {
  UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(master.valid());
  ASSERT_EQ(::grantpt(master.get()), 0);
  ASSERT_EQ(::unlockpt(master.get()), 0);
  std::string name = ::ptsname(master.get());
  UniqueFd slave(::open(name.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  ASSERT_TRUE(slave.valid());
  struct stat sst;
  ASSERT_EQ(::fstat(slave.get(), &sst), 0);
  long want_tty_nr = static_cast<long>((minor(sst.st_rdev) & 0xff) | (major(sst.st_rdev) << 8) |
                                       ((minor(sst.st_rdev) & ~0xffu) << 12));
  auto read_line = [&] {
    std::string got;
    char c;
    while (got.find('\n') == std::string::npos) {
      struct pollfd p {
        master.get(), POLLIN, 0
      };
      if (::poll(&p, 1, 20000) <= 0 || ::read(master.get(), &c, 1) != 1) break;
      got.push_back(c);
    }
    got = got.substr(0, got.find_first_of("\r\n"));
    return got.substr(std::min(got.size(), got.find("/dev/")));  // after an echoed "^C"
  };
  // Fields 6 (session), 7 (tty_nr), 8 (tpgid) of /proc/<pid>/stat.
  auto stat_of = [](pid_t pid) {
    std::string text = Slurp("/proc/" + std::to_string(pid) + "/stat");
    std::istringstream in(text.substr(text.rfind(')') + 2));
    std::string skip;
    long session = 0, tty_nr = 0, tpgid = 0;
    in >> skip >> skip >> skip >> session >> tty_nr >> tpgid;
    return std::array<long, 3>{session, tty_nr, tpgid};
  };

  LaunchSpec s = Spec("tty; exec sleep 1000");
  s.stdio = StdioFds{slave.get(), slave.get(), slave.get(), /*controlling_tty=*/true};
  ASSERT_TRUE(sup_->Start(s).ok());
  EXPECT_EQ(read_line(), name);
  // The program is privcast-init's child (init is the machine's PID 1): a session of its
  // own with the pty as controlling terminal and itself as the foreground group.
  pid_t init = sup_->Describe(s.machine_id)->pid;
  pid_t pid = 0;
  std::istringstream(Slurp("/proc/" + std::to_string(init) + "/task/" + std::to_string(init) + "/children")) >> pid;
  ASSERT_GT(pid, 0);
  EXPECT_EQ(stat_of(pid), (std::array<long, 3>{pid, want_tty_nr, pid}));
  ASSERT_EQ(::write(master.get(), "\x03", 1), 1);
  auto ev = events_.WaitKind(s.machine_id, EventKind::kExited);
  ASSERT_TRUE(ev);
  EXPECT_TRUE(EndedBySignal(*ev, SIGINT)) << ev->exit.code;
  EXPECT_FALSE(ev->stop_requested);

  LaunchSpec s2 = Spec("tty; exec sleep 1000");
  s2.stdio = StdioFds{slave.get(), slave.get(), slave.get(), /*controlling_tty=*/true};
  ASSERT_TRUE(sup_->Start(s2).ok()) << "the pty is free again once the first session ended";
  EXPECT_EQ(read_line(), name);
  ASSERT_TRUE(sup_->StopAndWait(s2.machine_id, 20s).ok());
  auto ev2 = events_.WaitKind(s2.machine_id, EventKind::kExited);
  ASSERT_TRUE(ev2);
  EXPECT_TRUE(ev2->stop_requested);
  EXPECT_TRUE(EndedBySignal(*ev2, SIGINT)) << ev2->exit.code;
}

TEST_P(SupervisorTest, StopOfASuspendedMachineThawsAndStops) {
  LaunchSpec s = Spec("echo ready; exec sleep 1000");
  ASSERT_TRUE(sup_->Start(s).ok());
  ASSERT_TRUE(WaitLogLine(s.log_path, "ready"));
  ASSERT_TRUE(sup_->Suspend(s.machine_id).ok());
  ASSERT_TRUE(sup_->StopAndWait(s.machine_id, 20s).ok());
  auto ev = events_.WaitKind(s.machine_id, EventKind::kExited);
  ASSERT_TRUE(ev);
  EXPECT_TRUE(EndedBySignal(*ev, SIGINT)) << ev->exit.code;
  EXPECT_FALSE(ev->killed_after_timeout);
  EXPECT_FALSE(*sup_->CgroupOf(s.machine_id).Frozen());
}

TEST_P(SupervisorTest, WaitingCallsFromTheCallbackAreRefusedNotDeadlocked) {
  std::mutex mu;
  std::optional<Status> seen;
  std::condition_variable cv;
  sup_.reset();
  opts_.on_event = [&](const MachineEvent& e) {
    Status st = sup_->Destroy(e.machine_id);
    std::lock_guard<std::mutex> l(mu);
    seen = st;
    cv.notify_all();
  };
  MakeSupervisor();
  LaunchSpec s = Spec("exit 0");
  ASSERT_TRUE(sup_->Start(s).ok());
  std::unique_lock<std::mutex> l(mu);
  ASSERT_TRUE(cv.wait_for(l, 20s, [&] { return seen.has_value(); }));
  EXPECT_EQ(seen->code(), Code::kFailedPrecondition);
}

// An OCI image's machine: its layers (here two made by hand, the upper one whiting out a
// file of the lower) under an overlay, uid 0 of the image = root of the machine, the image's
// User for the program, generated /etc files over the image's, a fresh writable layer on
// every start unless persisted.
TEST_P(SupervisorTest, ImageRootIsTheImageFreshOnEveryStart) {
  if (!Exists("/bin/busybox")) GTEST_SKIP() << "needs busybox-static (scripts/install-deps)";
  std::string l0 = dir_ + "/layers/0", l1 = dir_ + "/layers/1";
  ASSERT_EQ(Sh("mkdir -p " + l0 + "/bin " + l0 + "/etc " + l0 + "/tmp " + l1 + "/etc " + l1 +
               "/app && "
               "cp /bin/busybox " +
               l0 + "/bin/ && for c in sh id stat cat ls echo test; do ln -s busybox " + l0 +
               "/bin/$c; done && chmod 1777 " + l0 +
               "/tmp && "
               "printf 'root:x:0:0::/root:/bin/sh\\nwww:x:33:34::/app:/bin/sh\\n' > " +
               l0 +
               "/etc/passwd && "
               "echo motd > " +
               l0 + "/etc/motd && echo image > " + l0 + "/etc/hosts && mknod " + l1 +
               "/etc/motd c 0 0 && chown 33:34 " + l1 + "/app"),
            0);
  LaunchSpec s = Spec("");
  s.shell_command.clear();
  s.argv = {"/bin/sh", "-c",
            "id -u; id -g; pwd; stat -c %u /etc/passwd /bin/busybox; test -e /etc/motd && echo motd || echo no-motd; "
            "cat /etc/hosts; test -e /app/mark && echo persisted || echo fresh; echo x > /app/mark; "
            "test -e /usr/bin && echo host-usr || echo no-host-usr"};
  s.working_dir = "/app";
  s.image = ImageRootfs{{l0, l1}, false, 33, 34};
  std::string expect_start = "33\n34\n/app\n0\n0\nno-motd\n" + s.hosts;
  // Runs the machine again (same id, same log) and returns this run's output.
  auto run = [&] {
    EXPECT_EQ(Sh("truncate -s 0 " + s.log_path), 0);
    return RunInNetns(s);  // returns once this run exited
  };
  std::string out = run();
  EXPECT_EQ(out, expect_start + "fresh\nno-host-usr\n");
  // The layers are untouched: what the machine wrote is in its own writable layer, with
  // the host ids of its range.
  EXPECT_FALSE(Exists(l0 + "/app/mark") || Exists(l1 + "/app/mark"));
  struct stat st;
  ASSERT_EQ(::stat((sup_->StateDir(s.machine_id) + "/image/upper/app/mark").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, s.sandbox->ids.base + 33);
  out = run();
  EXPECT_EQ(out, expect_start + "fresh\nno-host-usr\n") << "a restart starts from the image again";
  s.image->persist = true;
  (void)run();
  out = run();
  EXPECT_EQ(out, expect_start + "persisted\nno-host-usr\n") << "persist_rootfs keeps the writable layer";
}

// A volume is stored with canonical ids (uid 0 on disk) and mounted read-write through an
// idmapped mount: root of whichever machine mounts it owns it, so it can move to a machine
// with another id range; the mount point is created inside the root, also under a tmpfs of
// the root (/var/lib), and nothing is left on the host's mount tree.
TEST_P(SupervisorTest, VolumeIsIdmappedAndMovesBetweenMachines) {
  std::string vol = dir_ + "/vol";
  ASSERT_EQ(Sh("mkdir -m 0755 " + vol + " && chown 0:0 " + vol), 0);
  LaunchSpec a = Spec(
      "id -u; stat -c '%u %g' /var/lib/data; echo from-a > /var/lib/data/file; "
      "mkdir /var/lib/data/sub; chown 33:33 /var/lib/data/sub; echo done");
  a.volumes = {VolumeMount{vol, "/var/lib/data"}};
  EXPECT_EQ(RunInNetns(a), "0\n0 0\ndone\n");
  struct stat st;
  ASSERT_EQ(::stat((vol + "/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "stored with canonical ids, not the machine's host range";
  ASSERT_EQ(::stat((vol + "/sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 33u);
  LaunchSpec b = Spec("cat /data/file; stat -c '%u' /data/file /data/sub; echo from-b >> /data/file; echo done");
  ASSERT_NE(a.sandbox->ids.base, b.sandbox->ids.base);
  b.volumes = {VolumeMount{vol, "/data"}};
  EXPECT_EQ(RunInNetns(b), "from-a\n0\n33\ndone\n");
  EXPECT_EQ(Slurp(vol + "/file"), "from-a\nfrom-b\n");
  EXPECT_NE(Sh("grep -q '" + vol + "' /proc/self/mountinfo"), 0) << "no mount on the host";
  // A destination under a read-only host directory cannot be created: the start fails
  // naming the volume's path.
  LaunchSpec c = Spec("true");
  c.volumes = {VolumeMount{vol, "/usr/data"}};
  ScopedNetns ns(1);
  ASSERT_TRUE(ns.ok());
  c.netns_path = ns.path();
  auto st2 = sup_->Start(c);
  ASSERT_FALSE(st2.ok());
  EXPECT_NE(st2.status().message().find("/usr/data"), std::string::npos) << st2.status().message();
}

// An image may point the mount point elsewhere with a symlink (data -> /etc, up -> ../..):
// the path resolves inside the machine's root, never on the host's files.
TEST_P(SupervisorTest, VolumeMountPointResolvesInsideAnImageRoot) {
  if (!Exists("/bin/busybox")) GTEST_SKIP() << "needs busybox-static (scripts/install-deps)";
  std::string l0 = dir_ + "/layers/0", vol = dir_ + "/vol";
  ASSERT_EQ(Sh("mkdir -p " + l0 + "/bin " + l0 + "/etc " + vol + " && cp /bin/busybox " + l0 +
               "/bin/ && for c in sh cat ls; do ln -s busybox " + l0 +
               "/bin/$c; done && "
               "ln -s /etc " +
               l0 + "/data && ln -s ../../../../../.. " + l0 + "/up && echo vol > " + vol + "/hello"),
            0);
  struct stat host_etc_before;
  ASSERT_EQ(::stat("/etc", &host_etc_before), 0);
  for (const char* dest : {"/data", "/up/srv"}) {
    LaunchSpec s = Spec("");
    s.shell_command.clear();
    s.argv = {"/bin/sh", "-c", std::string("cat ") + (dest[1] == 'd' ? "/etc/hello" : "/srv/hello")};
    s.image = ImageRootfs{{l0}, false, 0, 0};
    s.volumes = {VolumeMount{vol, dest}};
    EXPECT_EQ(RunInNetns(s), "vol\n") << dest;
  }
  struct stat host_etc_after;
  ASSERT_EQ(::stat("/etc", &host_etc_after), 0);
  EXPECT_EQ(host_etc_after.st_uid, host_etc_before.st_uid);
  EXPECT_EQ(host_etc_after.st_mode, host_etc_before.st_mode);
  EXPECT_FALSE(Exists("/srv/hello"));
}

INSTANTIATE_TEST_SUITE_P(Cgroups, SupervisorTest,
                         ::testing::Values(Param{CgroupVersion::kV1}, Param{CgroupVersion::kV2}),
                         [](const auto& info) { return info.param.version == CgroupVersion::kV1 ? "v1" : "v2"; });

}  // namespace
}  // namespace privcast::supervisor
