// What a machine is started with (LaunchSpec), the pure builders for its environment,
// /etc/resolv.conf and /etc/hosts, and the low-level spawn of its main process.
//
// Spawn (docs/supervisor.md#launch): clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) on a
// private stack, posix_spawn-style (a fork-style clone cost 10+ ms per start on the loaded
// test host, this ~0.5 ms); the child, before execve:
//   1. resets signal dispositions and mask, setpgid(0, 0) (own process group); setsid()
//      instead when the plan asks for a controlling terminal
//   2. writes "0" into every cgroup attach fd the parent opened (v1 `tasks`, v2
//      `cgroup.procs`), so it is in its cgroups before the program runs
//   3. setns(netns) when a netns path is given, unshare(CLONE_NEWNS | CLONE_NEWUTS)
//   4. mount --make-rslave /, bind-mounts the machine's resolv.conf and hosts over /etc's,
//      then tmpfs on /tmp and /run (binds first: the state dir may live under /tmp)
//   5. sethostname, stdio (caller's fds, or /dev/null + the log file in append mode), with
//      controlling_tty ioctl(0, TIOCSCTTY) (stdin, a pty slave, becomes the session's
//      controlling terminal), chdir
//   6. marks every other fd close-on-exec and execs.
// With a sandbox (SpawnPlan::sandbox, docs/supervisor.md#sandbox) the clone also creates
// PID, mount, UTS and IPC namespaces; after step 2 the child unshares its cgroup namespace,
// sets its netns's ping/low-port sysctls, builds the machine's root (RootfsPlan), pivots
// into it, sets RLIMIT_NOFILE, joins the machine's user namespace as its root, drops
// capabilities, sets no_new_privs and the seccomp filter and execs privcast-init, which
// starts the program and reports on fd 3 (Supervisor waits for that report).
// Any failure is written as {step, errno} into the shared report and the child exits 127;
// the parent (resumed by CLONE_VFORK on exit or on a successful execve) turns it into a
// Status. No report means execve succeeded, so Spawn returns only once the program runs. The child only makes raw system calls between clone and
// execve (no allocation, no writes to shared memory): everything is prepared by the parent.
//
// Thread-safety: pure functions; Spawn may be called from any thread.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/fd.h"
#include "common/result.h"
#include "common/signal.h"
#include "supervisor/cgroup.h"
#include "supervisor/image_root.h"
#include "supervisor/restart.h"
#include "supervisor/sandbox.h"
#include "supervisor/volume.h"

namespace privcast::supervisor {

// Standard streams to hand to the machine instead of /dev/null + log file (machine run
// --shell: the CLI's own fds received over the API socket, or the slave of the daemon's
// pty). Borrowed: the caller keeps ownership; the supervisor duplicates them for the child.
// controlling_tty: `in` is a pty slave that is nobody's controlling terminal yet; the main
// process gets a session of its own with it as controlling terminal (docs/supervisor.md).
struct StdioFds {
  int in = -1;
  int out = -1;
  int err = -1;
  bool controlling_tty = false;
};

struct LaunchSpec {
  std::string machine_id;         // 14 hex chars; also the cgroup and state dir name
  std::string netns_path;         // bind-mounted netns file; empty = the caller's netns
  std::string hostname;           // empty = machine_id
  std::vector<std::string> argv;  // argv[0] without '/' is looked up in the env's PATH
  std::string shell_command;      // non-empty: run `/bin/sh -c shell_command` (argv unused)
  std::vector<std::string> env;   // complete "K=V" list (BuildMachineEnv)
  std::string resolv_conf;        // contents of the machine's /etc/resolv.conf
  std::string hosts;              // contents of the machine's /etc/hosts
  CgroupLimits limits;            // [[vm]] memory / cpus
  std::string log_path;           // stdout+stderr, append; created if missing
  std::optional<StdioFds> stdio;  // instead of /dev/null + log file
  std::string working_dir = "/";
  KillSignal kill_signal;                           // fly.toml kill_signal (SIGINT unless set)
  Duration kill_timeout = std::chrono::seconds(5);  // fly.toml kill_timeout (max 300 s)
  RestartPolicy restart;                            // [[restart]]
  // Set: the machine runs in the sandbox (docs/supervisor.md#sandbox): own user, PID, mount,
  // cgroup, UTS and IPC namespaces, its own root, privcast-init as PID 1, seccomp. Unset: the
  // plain launch (private mount/UTS namespaces on the host's root; tests of process handling).
  std::optional<SandboxSpec> sandbox;
  // Set (with sandbox): the machine's root is this OCI image's layers plus a writable layer
  // of its own (image_root.h); argv is run as the image's user. Unset: the host-/usr root.
  std::optional<ImageRootfs> image;
  // With sandbox: volumes mounted read-write at their destinations (volume.h).
  std::vector<VolumeMount> volumes;
};

Status ValidateSpec(const LaunchSpec& s);

struct MachineEnvInputs {
  std::string app;
  std::string machine_id;
  std::string region;
  std::string private_ip;  // the 6PN address, textual
  std::string process_group;
  std::string primary_region;
  std::vector<std::pair<std::string, std::string>> extra;  // [env] (and machine env)
};

inline constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// PATH (kDefaultPath) and HOME=/root first, then the FLY_* variables and PRIMARY_REGION, then
// `extra` in order. A later key replaces an earlier one in place (so [env] may set PATH, but
// cannot hide FLY_MACHINE_ID: the FLY_* keys and PRIMARY_REGION are re-applied last).
std::vector<std::string> BuildMachineEnv(const MachineEnvInputs& in);
// "nameserver fdaa::3\n" (the internal DNS, docs/dns.md).
std::string RenderResolvConf();
// localhost lines, then "<6pn> fly-local-6pn" and "<6pn> <machine id>".
std::string RenderHosts(const std::string& six_pn, const std::string& machine_id);

// Everything the child needs, prepared by the parent (fds are the parent's, inherited).
// A machine's root keeps Docker's default capability set: enough for programs that start as
// root and drop privileges (nginx, su/runuser for PostgreSQL), bind low ports, chown and ping;
// not CAP_SYS_ADMIN (setns into the host's or another machine's network, mount), not
// CAP_NET_ADMIN (its own addresses, routes and firewall), not CAP_SYS_MODULE, SYS_PTRACE, ...
// Bits are capability numbers (linux/capability.h).
inline constexpr uint64_t kMachineCapabilities =
    (1ULL << 0) /*CHOWN*/ | (1ULL << 1) /*DAC_OVERRIDE*/ | (1ULL << 3) /*FOWNER*/ | (1ULL << 4) /*FSETID*/ |
    (1ULL << 5) /*KILL*/ | (1ULL << 6) /*SETGID*/ | (1ULL << 7) /*SETUID*/ | (1ULL << 8) /*SETPCAP*/ |
    (1ULL << 10) /*NET_BIND_SERVICE*/ | (1ULL << 13) /*NET_RAW*/ | (1ULL << 18) /*SYS_CHROOT*/ |
    (1ULL << 27) /*MKNOD*/ | (1ULL << 29) /*AUDIT_WRITE*/ | (1ULL << 31) /*SETFCAP*/;

// The sandbox part of a plan (all prepared by the parent; see ChildSandbox in launch.cc).
// With it, the clone also creates PID, mount, UTS and IPC namespaces, and the child execs
// privcast-init (at init_in_root, after pivot_root) with `argv` instead of exec_path.
struct SpawnSandbox {
  IdRange ids;
  int userns_fd = -1;                  // joined after pivot_root (CreateUserNamespace)
  const RootfsPlan* rootfs = nullptr;  // built, then pivot_root into rootfs->root
  const char* init_in_root = nullptr;  // privcast-init's path inside the root (kInitInRoot)
  int report_fd = -1;                  // becomes init's fd 3 (its "ok"/"E<errno>" report)
  const SeccompProgram* seccomp = nullptr;
  uint64_t nofile = kMachineNofile;
  std::string ping_group_range;  // "<base> <base+count-1>": the machine's groups
};

struct SpawnPlan {
  std::string exec_path;  // resolved program
  std::vector<std::string> argv;
  std::vector<std::string> env;
  int netns_fd = -1;  // -1: do not setns
  std::string hostname;
  bool new_mount_ns = true;  // false only for tests of plain spawning
  std::string resolv_path;   // generated files to bind; empty = skip
  std::string hosts_path;
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
  bool controlling_tty = false;       // setsid + TIOCSCTTY on stdin (a pty slave)
  std::vector<int> cgroup_procs_fds;  // v1 tasks / v2 cgroup.procs; child writes "0"
  std::string working_dir = "/";
  // Capabilities the program may ever hold: every other one leaves the bounding set just
  // before execve (after our own setns/mount, which need them). Default: kMachineCapabilities.
  uint64_t capability_bounding = kMachineCapabilities;
  std::optional<SpawnSandbox> sandbox;
};

struct Spawned {
  pid_t pid = -1;
  UniqueFd pidfd;
};

// Clones, sets up and execs; returns once execve succeeded (or the child reported failure,
// in which case it has been reaped and the Status names the step and errno).
Result<Spawned> Spawn(const SpawnPlan& plan);

// Resolve argv[0] through PATH from env (or kDefaultPath) when it has no '/'.
Result<std::string> ResolveProgram(const std::string& argv0, const std::vector<std::string>& env);

// The host directories a sandboxed machine without an image sees, read-only (supervisor/
// sandbox.h): /usr and the top-level bin, sbin and lib* the host has (links into /usr on a
// merged-/usr host). Everything else it sees is its own (/etc, /tmp, /run, /var, /dev, /proc).
inline constexpr const char* kMachineHostDirs[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

// Can a machine exec `argv0`? Checked before a machine is created (deploy, machine run), so a
// command that cannot work is refused with the reason instead of failing at every start.
// A machine sees the host's files only under kMachineHostDirs (the path and, symlinks
// resolved, its target); its working directory is "/". `argv0` without '/' is looked up in
// env's PATH (or kDefaultPath), skipping directories the machine does not see. InvalidArgument
// naming the command and why: outside what the machine sees, does not exist, is not an
// executable file, not in PATH. (Machines running OCI images will check against the image's
// root instead.)
Status CheckProgramInMachine(const std::string& argv0, const std::vector<std::string>& env);

}  // namespace privcast::supervisor
