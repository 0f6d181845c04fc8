// Supervisor: machines as supervised process trees (docs/supervisor.md).
//
// The daemon owns one Supervisor. Its control thread calls Start/Stop/Suspend/Resume/
// Destroy/Adopt; an internal event-loop thread (a loop::EventLoop on pidfds, its timers on
// the Clock) watches main processes, enforces kill_timeout, applies [[restart]] and reports
// through on_event. Setting a machine up is machine_setup.h.
//
// Ownership: the Supervisor owns, per machine, a state dir <state_root>/<machine id>/
// (resolv.conf, hosts, runtime, and rootfs/: the mount point of a sandboxed machine's root,
// mounted only inside the machine's own mount namespace), the machine's cgroup directories,
// the pidfd and, for sandboxed machines, an fd of its user namespace (kept across restarts,
// closed on Destroy; docs/supervisor.md#sandbox). A sandboxed machine's main process is
// privcast-init (SupervisorOptions::init_path), which runs the program. It does
// not own the netns (the netns module creates and deletes it) nor the log file's lifetime
// (it creates/appends; Destroy leaves it for `privcast logs`).
//
// Lifecycle of one machine here: Start → running ⇄ suspended; exit (or Stop) → the loop
// SIGKILLs leftovers in the cgroup, then either backoff → running again (restart) or
// exited. An exited machine keeps its cgroup and state dir (Start reuses them) until
// Destroy. Destroying the Supervisor leaves every machine running (daemon restart); the next
// Supervisor Adopt()s them from their runtime records.
//
// Thread-safety: all public methods are thread-safe. Operations on the same machine should
// be serialised by the caller (the daemon's control thread does). on_event runs on the loop
// thread with no Supervisor lock held; it may call the non-waiting methods (Start, Stop,
// Suspend, Resume, Describe), but never StopAndWait or Destroy (they wait for the loop thread
// that is running the callback), and must not block for long. The daemon should just enqueue.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "supervisor/cgroup.h"
#include "supervisor/launch.h"
#include "supervisor/restart.h"

namespace privcast::supervisor {

// The OS steps of setting a machine up, in order. The fault seam is consulted before each;
// a failure at step k undoes steps < k (and the step itself).
enum class SetupStep {
  kStateDir,
  kCgroupCreate,
  kCgroupLimits,
  kFiles,
  kLogFile,
  kNetns,
  kSpawn,
  kRecord,
};
inline constexpr int kSetupStepCount = 8;
const char* SetupStepName(SetupStep s);

enum class EventKind {
  kExited,            // final: the main process is gone and will not be restarted
  kRestartScheduled,  // it exited; a restart follows after `delay` (attempt n)
  kRestarted,         // a restart happened: new pid
  kRestartFailed,     // the restart could not spawn (error); machine is now exited
};
const char* EventKindName(EventKind k);

struct MachineEvent {
  std::string machine_id;
  EventKind kind = EventKind::kExited;
  pid_t pid = -1;                     // the process the event is about (new pid for kRestarted)
  ExitInfo exit;                      // kExited / kRestartScheduled
  bool stop_requested = false;        // the exit follows Stop/Destroy
  bool killed_after_timeout = false;  // kill_timeout passed: the cgroup was SIGKILLed
  int attempt = 0;                    // restart attempt (1-based)
  Duration delay{0};                  // back-off before the restart
  std::string error;                  // kRestartFailed
};

struct SupervisorOptions {
  std::string state_root;  // per-machine state dirs live in <state_root>/<machine id>
  CgroupOptions cgroups;   // root_name must be unique per daemon ("privcast-<instance>")
  Clock* clock = nullptr;  // null = RealClock; used for run durations (restart policy)
  std::function<void(const MachineEvent&)> on_event;
  // Test seam: called before each setup step; a non-ok Status fails that step.
  std::function<Status(SetupStep)> fault;
  Duration kernel_wait = std::chrono::seconds(5);  // bound on freeze/kill-all/rmdir waits
  // privcast-init (statically linked), PID 1 of sandboxed machines. Opened once at Create;
  // required for specs with a sandbox.
  std::string init_path;
  // How long Start waits for privcast-init to report that the program exec'd.
  Duration exec_wait = std::chrono::seconds(10);
};

enum class RunState { kRunning, kSuspended, kStopping, kBackoff, kExited };
const char* RunStateName(RunState s);

struct MachineStatus {
  RunState state = RunState::kExited;
  pid_t pid = -1;
  bool adopted = false;
  int restarts = 0;  // attempts in the current streak
  std::optional<ExitInfo> last_exit;
};

struct StartInfo {
  pid_t pid = -1;
  Duration latency{0};  // Start() call → execve done
};

enum class AdoptOutcome { kAdopted, kGone };
struct AdoptResult {
  AdoptOutcome outcome = AdoptOutcome::kGone;
  pid_t pid = -1;
  std::string reason;  // why gone (no record, dead, pid reused, not in cgroup)
};

class Supervisor {
 public:
  static Result<std::unique_ptr<Supervisor>> Create(SupervisorOptions o);
  // Stops the loop thread and closes pidfds; machines keep running (daemon restart).
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Sets up and starts the machine; returns once its program has exec'd. Conflict when it
  // is already running/suspended/stopping; a machine in back-off is started at once.
  Result<StartInfo> Start(const LaunchSpec& spec);
  // Sends spec.kill_signal (or `signal`) to the main process and arms kill_timeout, after
  // which the whole cgroup gets SIGKILL. Returns at once; the exit arrives as kExited with
  // stop_requested. A machine in back-off becomes exited. Ok if already exited.
  Status Stop(const std::string& id, std::optional<int> signal = std::nullopt,
              std::optional<Duration> timeout = std::nullopt);
  // Stop and wait (condition variable, not polling) until the exit was handled.
  Status StopAndWait(const std::string& id, Duration max_wait, std::optional<int> signal = std::nullopt,
                     std::optional<Duration> timeout = std::nullopt);
  // Freeze the cgroup and wait until frozen / thaw it. Resume is one write.
  Status Suspend(const std::string& id);
  Status Resume(const std::string& id);
  // Stops if running (SIGKILL at once when force, else kill_signal + kill_timeout), kills
  // all, removes the cgroups and the state dir. Works for machines this Supervisor never
  // saw (cleans up by name). Idempotent.
  Status Destroy(const std::string& id, bool force = false);
  // After a daemon restart: verifies the runtime record (pid alive, same start time, in the
  // machine's cgroups), opens a pidfd and watches it. kGone otherwise; then leftovers in
  // the cgroup are killed and the daemon marks the machine stopped and restarts it per
  // policy. The spec is kept for restarts. Exit of an adopted process: ExitInfo.known=false.
  Result<AdoptResult> Adopt(const LaunchSpec& spec);

  std::optional<MachineStatus> Describe(const std::string& id) const;
  std::string StateDir(const std::string& id) const;
  MachineCgroup CgroupOf(const std::string& id) const;
  const CgroupManager& cgroups() const;
  // rmdir the cgroup root dirs when no machine is left (clean shutdown, tests).
  Status RemoveCgroupRoot() const;

  struct Impl;

 private:
  explicit Supervisor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace privcast::supervisor
