#include "supervisor/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/fd.h"
#include "common/file.h"
#include "common/log.h"
#include "common/strings.h"
#include "loop/event_loop.h"
#include "supervisor/record.h"

namespace privcast::supervisor {
namespace {

constexpr const char* kComp = "supervisor";

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int PidfdSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

bool PidfdReadable(int pidfd) {
  struct pollfd p = {pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

constexpr const char* kStateFiles[] = {"resolv.conf", "hosts", "runtime", "runtime.tmp"};
// The mount point of a sandboxed machine's root (only ever mounted in its own mount ns).
constexpr const char* kRootfsDir = "rootfs";

void RemoveStateFiles(const std::string& dir) {
  for (const char* f : kStateFiles) ::unlink((dir + "/" + f).c_str());
  ::rmdir((dir + "/" + kRootfsDir).c_str());
}

// privcast-init's report on the pipe (launch.h): "ok" once the program exec'd, "E<errno>"
// when it could not. Waits at most `wait`.
Status ReadInitReport(int fd, Duration wait, const std::string& program) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Unavailable("machine setup: program did not start within the exec wait");
    struct pollfd p = {fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char buf[32];
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  if (got == "ok") return Status::Ok();
  if (got.size() > 1 && got[0] == 'E') {
    return ErrnoStatus("machine setup: execve " + program,
                       ParseDecimal<int>(std::string_view(got).substr(1)).value_or(EIO));
  }
  return Internal("machine setup: privcast-init exited before starting " + program);
}

}  // namespace

const char* SetupStepName(SetupStep s) {
  switch (s) {
    case SetupStep::kStateDir:
      return "state_dir";
    case SetupStep::kCgroupCreate:
      return "cgroup_create";
    case SetupStep::kCgroupLimits:
      return "cgroup_limits";
    case SetupStep::kFiles:
      return "files";
    case SetupStep::kLogFile:
      return "log_file";
    case SetupStep::kNetns:
      return "netns";
    case SetupStep::kSpawn:
      return "spawn";
    case SetupStep::kRecord:
      return "record";
  }
  return "?";
}

const char* EventKindName(EventKind k) {
  switch (k) {
    case EventKind::kExited:
      return "exited";
    case EventKind::kRestartScheduled:
      return "restart_scheduled";
    case EventKind::kRestarted:
      return "restarted";
    case EventKind::kRestartFailed:
      return "restart_failed";
  }
  return "?";
}

const char* RunStateName(RunState s) {
  switch (s) {
    case RunState::kRunning:
      return "running";
    case RunState::kSuspended:
      return "suspended";
    case RunState::kStopping:
      return "stopping";
    case RunState::kBackoff:
      return "backoff";
    case RunState::kExited:
      return "exited";
  }
  return "?";
}

struct Entry {
  LaunchSpec spec;
  MachineCgroup cg;
  uint64_t serial = 0;
  RunState state = RunState::kExited;
  pid_t pid = -1;
  UniqueFd pidfd;
  uint64_t timer_gen = 0;  // the armed timer (kill timeout, back-off) is the one of this generation
  UniqueFd userns;         // sandbox: the machine's user namespace (kept across restarts)
  IdRange userns_ids;
  bool adopted = false;
  bool stop_requested = false;
  bool killed_after_timeout = false;
  int attempts = 0;
  MonoTime started_at{};
  std::optional<ExitInfo> last_exit;
};

struct Supervisor::Impl {
  SupervisorOptions opt;
  Clock* clock = nullptr;
  CgroupManager cgm;
  HostEtc host_etc;  // what machines' /etc is generated from
  const SeccompProgram* seccomp = nullptr;
  std::unique_ptr<loop::EventLoop> loop;  // pidfds and timers (on `clock`); its thread is `thread`
  std::thread thread;
  // The loop's handler of each entry's pidfd, by serial (loop thread only): an event names the
  // serial, never the entry, so one for a forgotten entry finds nothing.
  struct PidfdWatch final : loop::EventHandler {
    Impl* impl = nullptr;
    uint64_t serial = 0;
    void OnEvents(uint32_t) override { impl->OnPidfd(serial); }
  };
  std::unordered_map<uint64_t, std::unique_ptr<PidfdWatch>> watches;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::unique_ptr<Entry>> machines;
  std::unordered_map<uint64_t, std::string> by_serial;
  std::vector<MachineEvent> pending;
  uint64_t next_serial = 1;

  std::string StateDir(const std::string& id) const { return opt.state_root + "/" + id; }
  std::string RecordPath(const std::string& id) const { return StateDir(id) + "/runtime"; }

  Status Fault(SetupStep s) { return opt.fault ? opt.fault(s) : Status::Ok(); }

  Entry* Find(const std::string& id) {
    auto it = machines.find(id);
    return it == machines.end() ? nullptr : it->second.get();
  }

  Result<Entry*> GetOrCreate(const LaunchSpec& spec) {
    Entry* e = Find(spec.machine_id);
    if (!e) {
      auto up = std::make_unique<Entry>();
      up->serial = next_serial++;
      e = up.get();
      by_serial[e->serial] = spec.machine_id;
      machines[spec.machine_id] = std::move(up);
    }
    e->spec = spec;
    e->cg = cgm.For(spec.machine_id);
    return e;
  }

  void Forget(const std::string& id) {
    auto it = machines.find(id);
    if (it == machines.end()) return;
    Entry& e = *it->second;
    const uint64_t serial = e.serial;
    by_serial.erase(serial);
    machines.erase(it);  // closes the pidfd, which takes it out of the epoll set
    loop->Post([this, serial] {
      auto w = watches.find(serial);
      if (w == watches.end()) return;
      loop->Retire(std::move(w->second));  // an event of this batch may still name it
      watches.erase(w);
    });
  }

  // Queues an event for on_event; the loop delivers queued events in order, outside `mu`.
  // Caller holds mu.
  void Post(MachineEvent ev) {
    pending.push_back(std::move(ev));
    loop->Post([this] { DeliverEvents(); });
  }

  void DeliverEvents() {
    std::vector<MachineEvent> out;
    {
      std::lock_guard<std::mutex> lock(mu);
      out.swap(pending);
    }
    for (const auto& ev : out) {
      if (opt.on_event) opt.on_event(ev);
    }
  }

  // Watches e's pidfd on the loop (registration is the loop's; this runs on any thread under mu).
  void WatchPidfd(const Entry& e) {
    loop->Post([this, serial = e.serial, fd = e.pidfd.get()] {
      std::lock_guard<std::mutex> lock(mu);
      auto it = by_serial.find(serial);
      Entry* cur = it == by_serial.end() ? nullptr : Find(it->second);
      if (!cur || cur->pidfd.get() != fd) return;  // exited, restarted or forgotten meanwhile
      auto& w = watches[serial];
      if (!w) {
        w = std::make_unique<PidfdWatch>();
        w->impl = this;
        w->serial = serial;
      }
      if (!loop->Add(fd, EPOLLIN, w.get()))
        log::Error(kComp, "cannot watch a machine's pidfd", {{"machine", it->second}, {"errno", errno}});
    });
  }

  // Arms e's one timer `d` from now on the Clock (replacing what was armed). Caller holds mu.
  void ArmTimer(Entry& e, Duration d) {
    const uint64_t gen = ++e.timer_gen;
    const MonoTime when = clock->Now() + d;
    loop->Post(
        [this, serial = e.serial, gen, when] { loop->AddTimer(when, [this, serial, gen] { OnTimer(serial, gen); }); });
  }
  // A timer of an older generation finds nothing to do when it fires. Caller holds mu.
  static void DisarmTimer(Entry& e) { ++e.timer_gen; }

  void OnPidfd(uint64_t serial) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = by_serial.find(serial);
    if (it == by_serial.end()) return;
    std::string id = it->second;
    Entry* e = Find(id);
    if (e && e->pidfd) HandleExit(id, *e);
  }

  void OnTimer(uint64_t serial, uint64_t gen) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = by_serial.find(serial);
    if (it == by_serial.end()) return;
    std::string id = it->second;
    Entry* e = Find(id);
    if (e && e->timer_gen == gen) HandleTimer(id, *e);
  }

  // Runs every OS step of bringing the machine up; on failure undoes the earlier ones.
  // NOLINTNEXTLINE(readability-function-size): one undo list shared by every step; to split with it
  Status Setup(Entry& e) {
    const LaunchSpec& s = e.spec;
    std::vector<std::function<void()>> undo;
    auto fail = [&undo](Status st) {
      for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
      return st;
    };
#define PC_STEP(step)              \
  do {                             \
    Status _f = Fault(step);       \
    if (!_f.ok()) return fail(_f); \
  } while (0)

    std::string exec_path;
    std::vector<std::string> argv;
    if (!s.shell_command.empty()) {
      exec_path = "/bin/sh";
      argv = {"/bin/sh", "-c", s.shell_command};
    } else if (s.sandbox) {
      // Looked up inside the machine's root by privcast-init (the machine's PATH).
      exec_path = s.argv[0];
      argv = s.argv;
    } else {
      auto r = ResolveProgram(s.argv[0], s.env);
      if (!r.ok()) return r.status();
      exec_path = *r;
      argv = s.argv;
    }
    const std::string dir = StateDir(s.machine_id);

    PC_STEP(SetupStep::kStateDir);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return fail(ErrnoStatus("mkdir " + dir, errno));
    // A failed start keeps a persisted writable layer (persist_rootfs: the machine's data).
    undo.push_back([dir, keep_root = s.image && s.image->persist] {
      RemoveStateFiles(dir);
      if (!keep_root) RemoveImageRoot(dir);
      ::rmdir(dir.c_str());
    });
    if (s.sandbox) {
      std::string root = dir + "/" + kRootfsDir;
      if (::mkdir(root.c_str(), 0755) != 0 && errno != EEXIST) return fail(ErrnoStatus("mkdir " + root, errno));
    }

    PC_STEP(SetupStep::kCgroupCreate);
    undo.push_back([this, cg = e.cg] {
      (void)cg.KillAll(opt.kernel_wait);
      (void)cg.Remove(opt.kernel_wait);
    });
    if (Status st = e.cg.Create(); !st.ok()) return fail(st);

    PC_STEP(SetupStep::kCgroupLimits);
    if (Status st = e.cg.ApplyLimits(s.limits); !st.ok()) return fail(st);

    PC_STEP(SetupStep::kFiles);
    if (Status st = WriteNewFile(dir + "/resolv.conf", s.resolv_conf); !st.ok()) return fail(st);
    if (Status st = WriteNewFile(dir + "/hosts", s.hosts); !st.ok()) return fail(st);

    PC_STEP(SetupStep::kLogFile);
    UniqueFd log_fd;
    if (!s.log_path.empty()) {
      bool created = ::access(s.log_path.c_str(), F_OK) != 0;
      log_fd.reset(::open(s.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
      if (!log_fd) return fail(ErrnoStatus("open log " + s.log_path, errno));
      if (created) undo.push_back([p = s.log_path] { ::unlink(p.c_str()); });
    }
    UniqueFd null_fd(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null_fd) return fail(ErrnoStatus("open /dev/null", errno));

    PC_STEP(SetupStep::kNetns);
    UniqueFd netns_fd;
    if (!s.netns_path.empty()) {
      netns_fd.reset(::open(s.netns_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!netns_fd) return fail(ErrnoStatus("open netns " + s.netns_path, errno));
    }

    PC_STEP(SetupStep::kSpawn);
    // Private duplicates >= 3 so the child's dup2 onto 0..2 cannot clobber a source.
    auto dupfd = [](int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)); };
    UniqueFd in, out, err;
    if (s.stdio) {
      in = dupfd(s.stdio->in >= 0 ? s.stdio->in : null_fd.get());
      out = dupfd(s.stdio->out >= 0 ? s.stdio->out : (log_fd ? log_fd.get() : null_fd.get()));
      err = dupfd(s.stdio->err >= 0 ? s.stdio->err : (log_fd ? log_fd.get() : null_fd.get()));
    } else {
      in = dupfd(null_fd.get());
      out = dupfd(log_fd.get());
      err = dupfd(log_fd.get());
    }
    if (!in || !out || !err) return fail(ErrnoStatus("dup stdio", errno));
    std::vector<UniqueFd> procs_fds;
    SpawnPlan plan;
    // The child moves itself into every machine cgroup before exec. v1: through `tasks`, not
    // `cgroup.procs`: the child is a single thread, so that moves the whole process, and a
    // `cgroup.procs` write takes cgroup_threadgroup_rwsem for writing, i.e. waits for an RCU
    // grace period (measured 3-30 ms per start on this host, `tasks` 0.1 ms). v2 has only
    // `cgroup.procs`. Not CLONE_INTO_CGROUP on v2: on the 6.18 kernel here a child cloned into
    // a cgroup that once received cgroup.kill is SIGKILLed at fork, which broke restarts after
    // a kill_timeout escalation (docs/supervisor.md#launch).
    const char* attach_file = e.cg.version() == CgroupVersion::kV1 ? "/tasks" : "/cgroup.procs";
    for (const auto& d : e.cg.dirs()) {
      UniqueFd fd(::open((d + attach_file).c_str(), O_WRONLY | O_CLOEXEC));
      if (!fd) return fail(ErrnoStatus("open " + d + attach_file, errno));
      plan.cgroup_procs_fds.push_back(fd.get());
      procs_fds.push_back(std::move(fd));
    }
    plan.exec_path = exec_path;
    plan.argv = std::move(argv);
    plan.env = s.env;
    plan.netns_fd = netns_fd.get();
    plan.hostname = s.hostname.empty() ? s.machine_id : s.hostname;
    plan.resolv_path = dir + "/resolv.conf";
    plan.hosts_path = dir + "/hosts";
    plan.stdin_fd = in.get();
    plan.stdout_fd = out.get();
    plan.stderr_fd = err.get();
    plan.controlling_tty = s.stdio && s.stdio->controlling_tty;
    plan.working_dir = s.working_dir;
    RootfsPlan rootfs;
    UniqueFd report_rd, report_wr;
    UniqueFd image_mount;                 // the image's overlay until the child has moved it onto its root
    std::vector<UniqueFd> volume_mounts;  // the volumes' idmapped mounts, likewise
    if (s.sandbox) {
      if (opt.init_path.empty())
        return fail(FailedPrecondition("sandboxed machine but no privcast-init (SupervisorOptions::init_path)"));
      if (!e.userns || !(e.userns_ids == s.sandbox->ids)) {
        auto ns = CreateUserNamespace(s.sandbox->ids);
        if (!ns.ok()) return fail(ns.status());
        e.userns = std::move(*ns);
        e.userns_ids = s.sandbox->ids;
      }
      RootfsInputs ri;
      ri.root = dir + "/" + kRootfsDir;
      ri.ids = s.sandbox->ids;
      ri.hostname = plan.hostname;
      ri.hosts = s.hosts;
      ri.resolv_conf = s.resolv_conf;
      ri.etc = &host_etc;
      ri.init_path = opt.init_path;
      for (size_t i = 0; i < e.cg.dirs().size(); ++i) {
        if (e.cg.version() == CgroupVersion::kV2) {
          ri.cgroups.emplace_back("", e.cg.dirs()[i]);
        } else if (i < e.cg.controllers().size()) {
          ri.cgroups.emplace_back(e.cg.controllers()[i], e.cg.dirs()[i]);
        }
      }
      if (plan.controlling_tty) {
        char link[256];
        ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(s.stdio->in)).c_str(), link, sizeof link - 1);
        if (n > 0) ri.tty_slave.assign(link, static_cast<size_t>(n));
      }
      UniqueFd image_mnt;
      if (s.image) {
        ImageRootInputs ii;
        ii.image = &*s.image;
        ii.dir = dir;
        ii.ids = s.sandbox->ids;
        ii.userns_fd = e.userns.get();
        ii.hostname = plan.hostname;
        ii.hosts = s.hosts;
        ii.resolv_conf = s.resolv_conf;
        ii.working_dir = s.working_dir;
        auto mnt = PrepareImageRoot(ii);
        if (!mnt.ok()) return fail(mnt.status());
        image_mnt = std::move(*mnt);
        ri.image_mount_fd = image_mnt.get();
      }
      for (const VolumeMount& v : s.volumes) {
        auto mnt = PrepareVolumeMount(v, e.userns.get());
        if (!mnt.ok()) return fail(mnt.status());
        ri.volumes.emplace_back(v.destination, mnt->get());
        volume_mounts.push_back(std::move(*mnt));
      }
      rootfs = BuildRootfsPlan(ri);
      image_mount = std::move(image_mnt);
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) return fail(ErrnoStatus("pipe2", errno));
      report_rd.reset(fds[0]);
      report_wr.reset(::fcntl(fds[1], F_DUPFD_CLOEXEC, 10));  // never 3: the child dup2s it to 3
      ::close(fds[1]);
      if (!report_wr) return fail(ErrnoStatus("dup report fd", errno));
      SpawnSandbox sb;
      sb.ids = s.sandbox->ids;
      sb.userns_fd = e.userns.get();
      sb.rootfs = &rootfs;
      sb.init_in_root = kInitInRoot;
      sb.report_fd = report_wr.get();
      sb.seccomp = seccomp;
      // Never above our own hard limit: raising it needs CAP_SYS_RESOURCE, which a daemon in
      // a container (this VM's root, for one) may lack.
      struct rlimit own;
      sb.nofile = s.sandbox->nofile;
      sb.ping_group_range = std::to_string(sb.ids.base) + " " + std::to_string(sb.ids.base + sb.ids.count - 1);
      if (::getrlimit(RLIMIT_NOFILE, &own) == 0 && own.rlim_max < sb.nofile) sb.nofile = own.rlim_max;
      plan.sandbox = sb;
      // The machine's root must be able to reopen its own stdio (/dev/stdout, /dev/stderr
      // are /proc/self/fd links; a reopen checks the file's owner): the ids of its root get
      // what is the machine's anyway — its log file, the daemon's pty slave and anonymous
      // pipes and sockets — never a file or terminal of the caller's (runc does the same).
      for (int fd : {in.get(), out.get(), err.get()}) {
        struct stat st;
        if (::fstat(fd, &st) != 0) continue;
        bool log = log_fd && fd != in.get() && !s.stdio;
        if (log || plan.controlling_tty || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
          if (S_ISCHR(st.st_mode) && !plan.controlling_tty) continue;  // /dev/null
          (void)::fchown(fd, sb.ids.base, sb.ids.base);
        }
      }
      std::vector<std::string> init_argv = {"privcast-init"};
      if (plan.controlling_tty) init_argv.push_back("-t");
      if (s.image && (s.image->uid != 0 || s.image->gid != 0)) {
        init_argv.push_back("-u");
        init_argv.push_back(std::to_string(s.image->uid) + ":" + std::to_string(s.image->gid));
      }
      init_argv.push_back("--");
      init_argv.insert(init_argv.end(), plan.argv.begin(), plan.argv.end());
      plan.argv = std::move(init_argv);
    }
    auto spawned = Spawn(plan);
    if (!spawned.ok()) return fail(spawned.status());
    e.pid = spawned->pid;
    e.pidfd = std::move(spawned->pidfd);
    undo.push_back([&e] {
      PidfdSignal(e.pidfd.get(), SIGKILL);
      siginfo_t si;
      ::waitid(P_PIDFD, static_cast<id_t>(e.pidfd.get()), &si, WEXITED);
      e.pidfd.reset();
      e.pid = -1;
    });
    if (s.sandbox) {
      report_wr.reset();  // only privcast-init holds the write end now
      if (Status st = ReadInitReport(report_rd.get(), opt.exec_wait, exec_path); !st.ok()) return fail(st);
    }

    PC_STEP(SetupStep::kRecord);
    auto st = ReadProcStat(e.pid);
    if (!st.ok()) return fail(st.status());
    RuntimeRecord rec{e.pid, st->start_time, e.cg.dirs()};
    // The previous run's record describes a process that is gone. Remove it first: renaming
    // over an existing file makes ext4 flush the new one (auto_da_alloc), measured 0.5-2.4 ms
    // per start here against 0.05 ms for a rename onto nothing.
    ::unlink(RecordPath(s.machine_id).c_str());
    if (Status s2 = SaveRecord(RecordPath(s.machine_id), rec); !s2.ok()) return fail(s2);
#undef PC_STEP

    WatchPidfd(e);
    e.state = RunState::kRunning;
    e.adopted = false;
    e.stop_requested = false;
    e.killed_after_timeout = false;
    e.started_at = clock->Now();
    return Status::Ok();
  }

  // The main process of `e` is gone (pidfd readable): collect, clean up, decide.
  void HandleExit(const std::string& id, Entry& e) {
    ExitInfo exit;
    siginfo_t si = {};
    if (::waitid(P_PIDFD, static_cast<id_t>(e.pidfd.get()), &si, WEXITED | WNOHANG) == 0) {
      if (si.si_pid == 0) return;  // spurious: still running
      exit.known = true;
      if (si.si_code == CLD_EXITED) {
        exit.code = si.si_status;
      } else {
        exit.signal = si.si_status;
      }
    } else if (!PidfdReadable(e.pidfd.get())) {
      return;  // not our child and not exited yet
    }
    loop->Del(e.pidfd.get());  // on the loop thread: HandleExit runs from OnPidfd
    e.pidfd.reset();
    pid_t old_pid = e.pid;
    e.pid = -1;
    DisarmTimer(e);
    // A machine is its whole process tree: nothing outlives its main process.
    if (Status st = e.cg.KillAll(opt.kernel_wait); !st.ok()) {
      log::Warn(kComp, "leftover processes not killed", {{"machine", id}, {"error", st.ToString()}});
    }
    ::unlink(RecordPath(id).c_str());
    Duration ran_for = clock->Now() - e.started_at;
    RestartDecision d = DecideRestart(e.spec.restart, exit, e.stop_requested, e.attempts, ran_for);
    e.attempts = d.attempts_after;
    e.last_exit = exit;
    MachineEvent ev;
    ev.machine_id = id;
    ev.pid = old_pid;
    ev.exit = exit;
    ev.stop_requested = e.stop_requested;
    ev.killed_after_timeout = e.killed_after_timeout;
    if (d.restart) {
      e.state = RunState::kBackoff;
      ArmTimer(e, d.delay);
      ev.kind = EventKind::kRestartScheduled;
      ev.attempt = d.attempt;
      ev.delay = d.delay;
    } else {
      e.state = RunState::kExited;
      ev.kind = EventKind::kExited;
    }
    log::Info(kComp, "machine exited",
              {{"machine", id},
               {"pid", static_cast<int64_t>(old_pid)},
               {"code", exit.code},
               {"signal", exit.signal},
               {"known", exit.known ? "true" : "false"},
               {"next", EventKindName(ev.kind)}});
    Post(std::move(ev));
    cv.notify_all();
  }

  void HandleTimer(const std::string& id, Entry& e) {
    if (e.state == RunState::kStopping) {
      e.killed_after_timeout = true;
      log::Info(kComp, "kill_timeout passed, killing cgroup", {{"machine", id}});
      (void)e.cg.KillAll(opt.kernel_wait);  // the pidfd then reports the exit
    } else if (e.state == RunState::kBackoff) {
      int attempt = e.attempts;
      Status st = Setup(e);
      MachineEvent ev;
      ev.machine_id = id;
      ev.attempt = attempt;
      if (st.ok()) {
        ev.kind = EventKind::kRestarted;
        ev.pid = e.pid;
      } else {
        e.state = RunState::kExited;
        ev.kind = EventKind::kRestartFailed;
        ev.error = st.ToString();
      }
      Post(std::move(ev));
      cv.notify_all();
    }
  }

  Status StopLocked(const std::string& id, std::optional<int> signal, std::optional<Duration> timeout) {
    Entry* e = Find(id);
    if (!e) return Status::Ok();
    switch (e->state) {
      case RunState::kExited:
        return Status::Ok();
      case RunState::kBackoff: {
        DisarmTimer(*e);
        e->state = RunState::kExited;
        MachineEvent ev;
        ev.machine_id = id;
        ev.kind = EventKind::kExited;
        ev.stop_requested = true;
        if (e->last_exit) ev.exit = *e->last_exit;
        Post(std::move(ev));
        cv.notify_all();
        return Status::Ok();
      }
      case RunState::kStopping:
        // Already stopping: a plain repeat must not push the kill_timeout deadline back.
        if (!signal && !timeout) return Status::Ok();
        [[fallthrough]];
      case RunState::kSuspended:
        if (e->state == RunState::kSuspended) {
          PC_RETURN_IF_ERROR(e->cg.Thaw());  // a frozen task cannot act on its kill_signal
        }
        [[fallthrough]];
      case RunState::kRunning: {
        int sig = signal.value_or(e->spec.kill_signal.number());
        Duration to = timeout.value_or(e->spec.kill_timeout);
        e->stop_requested = true;
        e->state = RunState::kStopping;
        if (PidfdSignal(e->pidfd.get(), sig) != 0 && errno != ESRCH) {
          return ErrnoStatus("pidfd_send_signal", errno);
        }
        if (sig == SIGKILL || to <= Duration::zero()) {
          e->killed_after_timeout = sig != SIGKILL;
          (void)e->cg.KillAll(opt.kernel_wait);
        } else {
          ArmTimer(*e, to);
        }
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

  // Waits (condition variable) until the machine is neither running nor stopping.
  Status WaitSettled(std::unique_lock<std::mutex>& lock, const std::string& id, Duration max_wait) {
    bool ok = cv.wait_for(lock, max_wait, [&] {
      Entry* e = Find(id);
      return !e || e->state == RunState::kExited || e->state == RunState::kBackoff;
    });
    return ok ? Status::Ok() : Unavailable("machine " + id + " did not stop in time");
  }

  Status RemoveStateDir(const std::string& id) {
    std::string dir = StateDir(id);
    RemoveStateFiles(dir);
    RemoveImageRoot(dir);
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("rmdir " + dir, errno);
    return Status::Ok();
  }
};

Supervisor::Supervisor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Supervisor>> Supervisor::Create(SupervisorOptions o) {
  if (o.state_root.empty() || o.state_root.front() != '/') {
    return InvalidArgument("supervisor state_root must be an absolute path");
  }
  auto impl = std::make_unique<Impl>();
  impl->clock = o.clock ? o.clock : RealClock::Get();
  if (::mkdir(o.state_root.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoStatus("mkdir " + o.state_root, errno);
  }
  PC_ASSIGN_OR_RETURN(impl->cgm, CgroupManager::Open(o.cgroups));
  if (!o.init_path.empty()) {
    if (::access(o.init_path.c_str(), X_OK) != 0) return ErrnoStatus("privcast-init " + o.init_path, errno);
    PC_ASSIGN_OR_RETURN(impl->seccomp, DefaultSeccomp());
    impl->host_etc = ReadHostEtc();
  }
  impl->opt = std::move(o);
  impl->loop = std::make_unique<loop::EventLoop>(impl->clock);
  PC_RETURN_IF_ERROR(impl->loop->Init());
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->loop->Run(); });
  return std::unique_ptr<Supervisor>(new Supervisor(std::move(impl)));
}

Supervisor::~Supervisor() {
  impl_->loop->Stop();
  impl_->thread.join();
  // Entries (pidfds, timers) close here; the processes keep running.
}

Result<StartInfo> Supervisor::Start(const LaunchSpec& spec) {
  auto t0 = std::chrono::steady_clock::now();
  PC_RETURN_IF_ERROR(ValidateSpec(spec));
  std::lock_guard<std::mutex> lock(impl_->mu);
  Entry* existing = impl_->Find(spec.machine_id);
  if (existing && existing->state != RunState::kExited && existing->state != RunState::kBackoff) {
    return Conflict("machine " + spec.machine_id + " is " + RunStateName(existing->state));
  }
  PC_ASSIGN_OR_RETURN(Entry * e, impl_->GetOrCreate(spec));
  Impl::DisarmTimer(*e);
  e->attempts = 0;
  Status st = impl_->Setup(*e);
  if (!st.ok()) {
    e->state = RunState::kExited;
    log::Warn(kComp, "machine start failed", {{"machine", spec.machine_id}, {"error", st.ToString()}});
    return st;
  }
  StartInfo info;
  info.pid = e->pid;
  info.latency = std::chrono::steady_clock::now() - t0;
  log::Info(kComp, "machine started",
            {{"machine", spec.machine_id},
             {"pid", static_cast<int64_t>(e->pid)},
             {"ms", std::chrono::duration<double, std::milli>(info.latency).count()}});
  return info;
}

Status Supervisor::Stop(const std::string& id, std::optional<int> signal, std::optional<Duration> timeout) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->StopLocked(id, signal, timeout);
}

Status Supervisor::StopAndWait(const std::string& id, Duration max_wait, std::optional<int> signal,
                               std::optional<Duration> timeout) {
  if (std::this_thread::get_id() == impl_->thread.get_id()) {
    return FailedPrecondition("StopAndWait called from on_event would wait for itself");
  }
  std::unique_lock<std::mutex> lock(impl_->mu);
  PC_RETURN_IF_ERROR(impl_->StopLocked(id, signal, timeout));
  return impl_->WaitSettled(lock, id, max_wait);
}

Status Supervisor::Suspend(const std::string& id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Entry* e = impl_->Find(id);
  if (!e) return NotFound("machine " + id + " is not supervised here");
  if (e->state == RunState::kSuspended) return Status::Ok();
  if (e->state != RunState::kRunning) return Conflict("machine " + id + " is " + RunStateName(e->state));
  Status st = e->cg.Freeze(impl_->opt.kernel_wait);
  if (!st.ok()) {
    (void)e->cg.Thaw();
    return st;
  }
  e->state = RunState::kSuspended;
  return Status::Ok();
}

Status Supervisor::Resume(const std::string& id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Entry* e = impl_->Find(id);
  if (!e) return NotFound("machine " + id + " is not supervised here");
  if (e->state == RunState::kRunning) return Status::Ok();
  if (e->state != RunState::kSuspended) return Conflict("machine " + id + " is " + RunStateName(e->state));
  PC_RETURN_IF_ERROR(e->cg.Thaw());
  e->state = RunState::kRunning;
  return Status::Ok();
}

Status Supervisor::Destroy(const std::string& id, bool force) {
  if (std::this_thread::get_id() == impl_->thread.get_id()) {
    return FailedPrecondition("Destroy called from on_event would wait for itself");
  }
  std::unique_lock<std::mutex> lock(impl_->mu);
  Entry* e = impl_->Find(id);
  MachineCgroup cg = impl_->cgm.For(id);
  if (e) {
    Duration wait = e->spec.kill_timeout + 2 * impl_->opt.kernel_wait;
    PC_RETURN_IF_ERROR(impl_->StopLocked(id, force ? std::optional<int>(SIGKILL) : std::nullopt,
                                         force ? std::optional<Duration>(Duration::zero()) : std::nullopt));
    PC_RETURN_IF_ERROR(impl_->WaitSettled(lock, id, wait));
    e = impl_->Find(id);
    if (e) Impl::DisarmTimer(*e);
  }
  Status first;
  if (Status st = cg.KillAll(impl_->opt.kernel_wait); !st.ok()) first = st;
  if (Status st = cg.Remove(impl_->opt.kernel_wait); !st.ok() && first.ok()) first = st;
  if (Status st = impl_->RemoveStateDir(id); !st.ok() && first.ok()) first = st;
  if (first.ok()) impl_->Forget(id);
  return first;
}

Result<AdoptResult> Supervisor::Adopt(const LaunchSpec& spec) {
  PC_RETURN_IF_ERROR(ValidateSpec(spec));
  std::lock_guard<std::mutex> lock(impl_->mu);
  Entry* existing = impl_->Find(spec.machine_id);
  if (existing && existing->state != RunState::kExited) {
    return Conflict("machine " + spec.machine_id + " is already supervised");
  }
  const std::string& id = spec.machine_id;
  MachineCgroup cg = impl_->cgm.For(id);
  AdoptResult res;
  auto gone = [&](std::string why) -> Result<AdoptResult> {
    // Leftovers of a dead machine would otherwise run on unsupervised.
    (void)cg.KillAll(impl_->opt.kernel_wait);
    ::unlink(impl_->RecordPath(id).c_str());
    auto r = impl_->GetOrCreate(spec);
    if (r.ok()) (*r)->state = RunState::kExited;
    res.outcome = AdoptOutcome::kGone;
    res.reason = std::move(why);
    log::Info(kComp, "machine not adopted", {{"machine", id}, {"reason", res.reason}});
    return res;
  };
  auto rec = LoadRecord(impl_->RecordPath(id));
  if (!rec.ok()) return gone(rec.status().message());
  auto a = rec->cgroups, b = cg.dirs();
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  if (a != b) return gone("cgroup paths differ from the runtime record");
  auto st = ReadProcStat(rec->pid);
  if (!st.ok() || st->state == 'Z' || st->state == 'X') return gone("process exited");
  if (st->start_time != rec->start_time) return gone("pid reused by another process");
  UniqueFd pidfd(PidfdOpen(rec->pid));
  if (!pidfd) return gone("pidfd_open failed: process exited");
  // Re-check after the pidfd pins the process: the pid could have been reused in between.
  auto st2 = ReadProcStat(rec->pid);
  if (!st2.ok() || st2->start_time != rec->start_time || st2->state == 'Z') return gone("process exited");
  if (!cg.Contains(rec->pid)) return gone("process is not in the machine's cgroups");
  if (spec.sandbox) {
    auto ids = ProcessIdRange(rec->pid);
    if (!ids.ok() || !(*ids == spec.sandbox->ids)) return gone("process runs with another id range than the machine's");
  }

  PC_ASSIGN_OR_RETURN(Entry * e, impl_->GetOrCreate(spec));
  e->pid = rec->pid;
  e->pidfd = std::move(pidfd);
  impl_->WatchPidfd(*e);
  auto frozen = cg.Frozen();
  e->state = frozen.ok() && *frozen ? RunState::kSuspended : RunState::kRunning;
  e->adopted = true;
  e->stop_requested = false;
  e->killed_after_timeout = false;
  e->attempts = 0;
  e->started_at = impl_->clock->Now();  // run time counts from adoption
  res.outcome = AdoptOutcome::kAdopted;
  res.pid = e->pid;
  log::Info(kComp, "machine adopted", {{"machine", id}, {"pid", static_cast<int64_t>(e->pid)}});
  return res;
}

std::optional<MachineStatus> Supervisor::Describe(const std::string& id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->machines.find(id);
  if (it == impl_->machines.end()) return std::nullopt;
  const Entry& e = *it->second;
  MachineStatus s;
  s.state = e.state;
  s.pid = e.pid;
  s.adopted = e.adopted;
  s.restarts = e.attempts;
  s.last_exit = e.last_exit;
  return s;
}

std::string Supervisor::StateDir(const std::string& id) const { return impl_->StateDir(id); }
MachineCgroup Supervisor::CgroupOf(const std::string& id) const { return impl_->cgm.For(id); }
const CgroupManager& Supervisor::cgroups() const { return impl_->cgm; }
Status Supervisor::RemoveCgroupRoot() const { return impl_->cgm.RemoveRootIfEmpty(); }

}  // namespace privcast::supervisor
