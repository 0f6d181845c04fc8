// EnterMachine: run a program inside a running sandboxed machine (`privcast ssh console`),
// the way `nsenter` + the machine's own lockdown would: no server inside the image.
//
// The new process joins the machine's cgroups, then its network, UTS, IPC, cgroup, PID and
// mount namespaces (taken from /proc/<target>/ns/, target being the machine's privcast-init)
// and last its user namespace, as its root (setgroups/setresgid/setresuid 0); its
// RLIMIT_NOFILE is the machine's (read from the target with prlimit). Then, as the sandbox does before privcast-init
// (docs/supervisor.md#sandbox): the capability bounding set is cut to the machine's,
// ambient capabilities cleared, no_new_privs set and the machine's seccomp filter installed,
// then execve. So it sees exactly what the machine's processes see (its root, /proc of its
// PID namespace, its network) and can do no more than they can.
//
// Process shape: the daemon forks a relay (R) that does the joins; joining a PID namespace
// takes effect for children only, so R forks the program (P), which is in the machine's PID
// namespace, dies with R (PR_SET_PDEATHSIG), and execs. R waits for P and exits with P's
// status (its exit code, or 128 + signal), so the caller waits for R through the returned
// pidfd; killing R kills P, and P leads a process group of its own (a session with a pty)
// whose host-side id R reports, so the caller can end what P started too. Both are in the machine's cgroups: stopping or destroying the
// machine kills them with it. Failures before the execve are reported as {step, errno}
// through a pipe and become a Status; the children only make raw system calls (the daemon
// is multi-threaded).
//
// Thread-safety: a function; may be called from any thread (needs root).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.h"
#include "supervisor/launch.h"
#include "supervisor/sandbox.h"

namespace privcast::supervisor {

struct EnterPlan {
  pid_t target = -1;                                  // a process of the machine (its privcast-init)
  std::vector<int> cgroup_attach_fds;                 // v1 `tasks` / v2 `cgroup.procs` of its cgroups (borrowed)
  std::vector<std::string> argv;                      // argv[0] absolute, inside the machine's root
  std::vector<std::string> env;                       // "K=V"
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // borrowed
  bool controlling_tty = false;                       // setsid + TIOCSCTTY on stdin (a pty slave)
  uint64_t capability_bounding = kMachineCapabilities;
  const SeccompProgram* seccomp = nullptr;
  std::string working_dir = "/";
};

struct EnteredProcess {
  pid_t relay = -1;    // R, a child of the caller
  UniqueFd relay_fd;   // R's pidfd: waitid(P_PIDFD) gives the program's status (code, or 128 + signal)
  pid_t program = -1;  // P's pid in the caller's PID namespace: its process group and session
};

// Returns once the program exec'd. To end a session, kill P's process group (-program:
// what the program started in it too) and R.
Result<EnteredProcess> EnterMachine(const EnterPlan& plan);

}  // namespace privcast::supervisor
