#include "supervisor/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <thread>
#include <unordered_map>

#include "common/fd.h"
#include "common/log.h"
#include "common/mutex.h"
#include "loop/event_loop.h"
#include "supervisor/image_root.h"
#include "supervisor/machine_setup.h"
#include "supervisor/record.h"

namespace privcast::supervisor {
namespace {

constexpr const char* kComp = "supervisor";

int PidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

bool PidfdReadable(int pidfd) {
  struct pollfd p = {pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

// Adoption: why the process of the runtime record `rec` is not (any more) the machine's main
// process, or "" when it is; then `pidfd` pins it.
std::string WhyNotTheMachine(const LaunchSpec& spec, const MachineCgroup& cg, const RuntimeRecord& rec,
                             UniqueFd* pidfd) {
  auto a = rec.cgroups, b = cg.dirs();
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  if (a != b) return "cgroup paths differ from the runtime record";
  auto st = ReadProcStat(rec.pid);
  if (!st.ok() || st->state == 'Z' || st->state == 'X') return "process exited";
  if (st->start_time != rec.start_time) return "pid reused by another process";
  pidfd->reset(PidfdOpen(rec.pid));
  if (!*pidfd) return "pidfd_open failed: process exited";
  // Re-check after the pidfd pins the process: the pid could have been reused in between.
  auto st2 = ReadProcStat(rec.pid);
  if (!st2.ok() || st2->start_time != rec.start_time || st2->state == 'Z') return "process exited";
  if (!cg.Contains(rec.pid)) return "process is not in the machine's cgroups";
  if (spec.sandbox) {
    auto ids = ProcessIdRange(rec.pid);
    if (!ids.ok() || !(*ids == spec.sandbox->ids)) return "process runs with another id range than the machine's";
  }
  return "";
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
  MachineUserns userns;    // sandbox: the machine's user namespace (kept across restarts)
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

  // Every entry (and what it holds) is read and written with mu held; cv tells StopAndWait
  // and Destroy that an exit was handled.
  mutable Mutex mu;
  CondVar cv;
  std::map<std::string, std::unique_ptr<Entry>> machines GUARDED_BY(mu);
  std::unordered_map<uint64_t, std::string> by_serial GUARDED_BY(mu);
  std::vector<MachineEvent> pending GUARDED_BY(mu);
  uint64_t next_serial GUARDED_BY(mu) = 1;

  std::string StateDir(const std::string& id) const { return opt.state_root + "/" + id; }
  std::string RecordPath(const std::string& id) const { return StateDir(id) + "/runtime"; }

  Entry* Find(const std::string& id) REQUIRES(mu) {
    auto it = machines.find(id);
    return it == machines.end() ? nullptr : it->second.get();
  }

  Result<Entry*> GetOrCreate(const LaunchSpec& spec) REQUIRES(mu) {
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

  void Forget(const std::string& id) REQUIRES(mu) {
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
  void Post(MachineEvent ev) REQUIRES(mu) {
    pending.push_back(std::move(ev));
    loop->Post([this] { DeliverEvents(); });
  }

  void DeliverEvents() EXCLUDES(mu) {
    std::vector<MachineEvent> out;
    {
      MutexLock lock(&mu);
      out.swap(pending);
    }
    for (const auto& ev : out) {
      if (opt.on_event) opt.on_event(ev);
    }
  }

  // Watches e's pidfd on the loop (registration is the loop's; this runs on any thread under mu).
  void WatchPidfd(const Entry& e) REQUIRES(mu) {
    loop->Post([this, serial = e.serial, fd = e.pidfd.get()] {
      MutexLock lock(&mu);
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

  // Arms e's one timer `d` from now on the Clock (replacing what was armed).
  void ArmTimer(Entry& e, Duration d) REQUIRES(mu) {
    const uint64_t gen = ++e.timer_gen;
    const MonoTime when = clock->Now() + d;
    loop->Post(
        [this, serial = e.serial, gen, when] { loop->AddTimer(when, [this, serial, gen] { OnTimer(serial, gen); }); });
  }
  // A timer of an older generation finds nothing to do when it fires. Caller holds mu.
  static void DisarmTimer(Entry& e) { ++e.timer_gen; }

  void OnPidfd(uint64_t serial) EXCLUDES(mu) {
    MutexLock lock(&mu);
    auto it = by_serial.find(serial);
    if (it == by_serial.end()) return;
    std::string id = it->second;
    Entry* e = Find(id);
    if (e && e->pidfd) HandleExit(id, *e);
  }

  void OnTimer(uint64_t serial, uint64_t gen) EXCLUDES(mu) {
    MutexLock lock(&mu);
    auto it = by_serial.find(serial);
    if (it == by_serial.end()) return;
    std::string id = it->second;
    Entry* e = Find(id);
    if (e && e->timer_gen == gen) HandleTimer(id, *e);
  }

  // Sets the machine up (machine_setup.h: on failure every step done is undone) and watches
  // its new main process.
  Status Setup(Entry& e) REQUIRES(mu) {
    SetupEnv env{&opt, &host_etc, seccomp};
    PC_ASSIGN_OR_RETURN(Spawned main, SetupMachine(env, e.spec, e.cg, StateDir(e.spec.machine_id), &e.userns));
    e.pid = main.pid;
    e.pidfd = std::move(main.pidfd);
    WatchPidfd(e);
    e.state = RunState::kRunning;
    e.adopted = false;
    e.stop_requested = false;
    e.killed_after_timeout = false;
    e.started_at = clock->Now();
    return Status::Ok();
  }

  // The main process of `e` is gone (pidfd readable): collect, clean up, decide.
  void HandleExit(const std::string& id, Entry& e) REQUIRES(mu) {
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
    cv.NotifyAll();
  }

  void HandleTimer(const std::string& id, Entry& e) REQUIRES(mu) {
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
      cv.NotifyAll();
    }
  }

  Status StopLocked(const std::string& id, std::optional<int> signal, std::optional<Duration> timeout) REQUIRES(mu) {
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
        cv.NotifyAll();
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

  bool Settled(const std::string& id) REQUIRES(mu) {
    Entry* e = Find(id);
    return !e || e->state == RunState::kExited || e->state == RunState::kBackoff;
  }

  // Waits (condition variable) until the machine is neither running nor stopping. The bound
  // is real time, not `clock`: the exit comes from the kernel (the pidfd), and a kill_timeout
  // armed on a test's FakeClock fires only when the test advances it, which a waiting caller
  // cannot do.
  Status WaitSettled(const std::string& id, Duration max_wait) REQUIRES(mu) {
    const MonoTime deadline = RealClock::Get()->Now() + max_wait;
    while (!Settled(id)) {
      if (!cv.WaitUntil(&mu, deadline) && !Settled(id)) return Unavailable("machine " + id + " did not stop in time");
    }
    return Status::Ok();
  }

  // Adopt's answer when the recorded process is not the machine's any more.
  Result<AdoptResult> NotAdopted(const LaunchSpec& spec, const MachineCgroup& cg, std::string why) REQUIRES(mu) {
    // Leftovers of a dead machine would otherwise run on unsupervised.
    (void)cg.KillAll(opt.kernel_wait);
    ::unlink(RecordPath(spec.machine_id).c_str());
    auto r = GetOrCreate(spec);
    if (r.ok()) (*r)->state = RunState::kExited;
    AdoptResult res;
    res.outcome = AdoptOutcome::kGone;
    res.reason = std::move(why);
    log::Info(kComp, "machine not adopted", {{"machine", spec.machine_id}, {"reason", res.reason}});
    return res;
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
  const MonoTime t0 = impl_->clock->Now();
  PC_RETURN_IF_ERROR(ValidateSpec(spec));
  MutexLock lock(&impl_->mu);
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
  info.latency = impl_->clock->Now() - t0;
  log::Info(kComp, "machine started",
            {{"machine", spec.machine_id},
             {"pid", static_cast<int64_t>(e->pid)},
             {"ms", std::chrono::duration<double, std::milli>(info.latency).count()}});
  return info;
}

Status Supervisor::Stop(const std::string& id, std::optional<int> signal, std::optional<Duration> timeout) {
  MutexLock lock(&impl_->mu);
  return impl_->StopLocked(id, signal, timeout);
}

Status Supervisor::StopAndWait(const std::string& id, Duration max_wait, std::optional<int> signal,
                               std::optional<Duration> timeout) {
  if (std::this_thread::get_id() == impl_->thread.get_id()) {
    return FailedPrecondition("StopAndWait called from on_event would wait for itself");
  }
  MutexLock lock(&impl_->mu);
  PC_RETURN_IF_ERROR(impl_->StopLocked(id, signal, timeout));
  return impl_->WaitSettled(id, max_wait);
}

Status Supervisor::Suspend(const std::string& id) {
  MutexLock lock(&impl_->mu);
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
  MutexLock lock(&impl_->mu);
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
  MutexLock lock(&impl_->mu);
  Entry* e = impl_->Find(id);
  MachineCgroup cg = impl_->cgm.For(id);
  if (e) {
    Duration wait = e->spec.kill_timeout + 2 * impl_->opt.kernel_wait;
    PC_RETURN_IF_ERROR(impl_->StopLocked(id, force ? std::optional<int>(SIGKILL) : std::nullopt,
                                         force ? std::optional<Duration>(Duration::zero()) : std::nullopt));
    PC_RETURN_IF_ERROR(impl_->WaitSettled(id, wait));
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
  MutexLock lock(&impl_->mu);
  Entry* existing = impl_->Find(spec.machine_id);
  if (existing && existing->state != RunState::kExited) {
    return Conflict("machine " + spec.machine_id + " is already supervised");
  }
  const std::string& id = spec.machine_id;
  MachineCgroup cg = impl_->cgm.For(id);
  auto rec = LoadRecord(impl_->RecordPath(id));
  if (!rec.ok()) return impl_->NotAdopted(spec, cg, rec.status().message());
  UniqueFd pidfd;
  if (std::string why = WhyNotTheMachine(spec, cg, *rec, &pidfd); !why.empty()) {
    return impl_->NotAdopted(spec, cg, std::move(why));
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
  AdoptResult res;
  res.outcome = AdoptOutcome::kAdopted;
  res.pid = e->pid;
  log::Info(kComp, "machine adopted", {{"machine", id}, {"pid", static_cast<int64_t>(e->pid)}});
  return res;
}

std::optional<MachineStatus> Supervisor::Describe(const std::string& id) const {
  MutexLock lock(&impl_->mu);
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
