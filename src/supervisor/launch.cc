#include "supervisor/launch.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "common/ids.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace privcast::supervisor {
namespace {

// Steps the child reports on failure; names index kStepNames.
enum ChildStep : int32_t {
  kStepSignals,
  kStepSetpgid,
  kStepCgroup,
  kStepSetns,
  kStepUnshare,
  kStepRslave,
  kStepTmp,
  kStepRun,
  kStepResolv,
  kStepHosts,
  kStepHostname,
  kStepStdio,
  kStepChdir,
  kStepCloexec,
  kStepExec,
  kStepSetsid,
  kStepCtty,
  kStepAffinity,
  kStepCaps,
  kStepCgroupns,
  kStepSysctl,
  kStepRootfs,
  kStepPivot,
  kStepRlimit,
  kStepUserns,
  kStepIds,
  kStepReport,
  kStepNoNewPrivs,
  kStepSeccomp,
};
const char* const kStepNames[] = {
    "reset signals",
    "setpgid",
    "join cgroup",
    "setns(netns)",
    "unshare(mount|uts)",
    "make / rslave",
    "mount tmpfs /tmp",
    "mount tmpfs /run",
    "bind /etc/resolv.conf",
    "bind /etc/hosts",
    "sethostname",
    "stdio",
    "chdir",
    "close fds",
    "execve",
    "setsid",
    "set controlling terminal (TIOCSCTTY)",
    "restore cpu affinity",
    "drop capabilities",
    "unshare(cgroup)",
    "machine netns sysctls",
    "build the root",
    "pivot_root",
    "RLIMIT_NOFILE",
    "setns(user)",
    "become root of the user namespace",
    "report fd",
    "no_new_privs",
    "seccomp filter",
};

struct ChildError {
  int32_t step;
  int32_t err;
};

// Shared with the child (CLONE_VM): the parent reads the failure report here once the
// child has exited; the child writes nothing else of ours.
struct ChildArgs {
  const SpawnPlan* p;
  char* const* argv;
  char* const* envp;
  const char* resolv;
  const char* hosts;
  const cpu_set_t* restore_mask = nullptr;  // the parent's CPU mask, restored before exec
  volatile int32_t step = -1;
  volatile int32_t err = 0;
  volatile int32_t op = -1;  // kStepRootfs: index of the failed RootfsOp
};

#define PC_CHILD_CODE __attribute__((no_sanitize("address", "undefined")))

// Runs on the child's borrowed stack: no instrumentation (ASan would see a foreign stack).
[[noreturn]] PC_CHILD_CODE void ChildFail(ChildArgs* a, ChildStep step) {
  a->err = errno;
  a->step = step;
  ::_exit(127);
}

PC_CHILD_CODE bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

PC_CHILD_CODE bool WriteSysctl(const char* path, const char* value) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = WriteAll(fd, value, std::strlen(value));
  ::close(fd);
  return ok;
}

// RootfsOp::kVolume: creates the mount point `o.data` (relative, components owned by the
// machine's root) inside the root `o.target`, each prefix resolved with RESOLVE_IN_ROOT (a
// symlink of the image or of a persisted writable layer resolves inside the root, never to
// the host's files), and moves the volume's detached mount there.
PC_CHILD_CODE bool MountVolume(const RootfsOp& o, uid_t owner) {
  char buf[PATH_MAX];
  const size_t n = o.data.size();
  if (n == 0 || n >= sizeof buf) {
    errno = ENAMETOOLONG;
    return false;
  }
  std::memcpy(buf, o.data.data(), n);
  buf[n] = '\0';
  int root = ::open(o.target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return false;
  int dir = ::openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  bool ok = dir >= 0;
  size_t i = 0;
  while (ok && i < n) {
    size_t j = i;
    while (j < n && buf[j] != '/') ++j;
    if (j == i) {  // "//"
      ++i;
      continue;
    }
    const char saved = buf[j];
    buf[j] = '\0';
    struct open_how how = {};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    int next = static_cast<int>(::syscall(SYS_openat2, root, buf, &how, sizeof how));
    if (next < 0 && errno == ENOENT) {
      // `dir` is the resolved parent (inside the root); buf + i is a plain name.
      if (::mkdirat(dir, buf + i, 0755) == 0 || errno == EEXIST) {
        if (::fchownat(dir, buf + i, owner, owner, AT_SYMLINK_NOFOLLOW) == 0)
          next = ::openat(dir, buf + i, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      }
    }
    buf[j] = saved;
    ::close(dir);
    dir = next;
    ok = dir >= 0;
    i = j + 1;
  }
  if (ok) ok = ::syscall(SYS_move_mount, o.fd, "", dir, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0;
  int saved_errno = errno;
  if (dir >= 0) ::close(dir);
  ::close(root);
  errno = saved_errno;
  return ok;
}

// One step of building the machine's root (RootfsOp), as host root in the new mount ns.
PC_CHILD_CODE bool RunRootfsOp(const RootfsOp& o, uid_t owner) {
  const char* path = o.path.c_str();
  struct stat st;
  switch (o.kind) {
    case RootfsOp::kMkdir:
      if (::mkdir(path, o.mode) != 0 && errno != EEXIST) return false;
      if (::chmod(path, o.mode) != 0) return false;  // umask-free, sticky bits included
      return !o.chown || ::lchown(path, owner, owner) == 0;
    case RootfsOp::kSymlink:
      if (::symlink(o.target.c_str(), path) != 0) return false;
      return !o.chown || ::lchown(path, owner, owner) == 0;
    case RootfsOp::kFile: {
      int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, o.mode);
      if (fd < 0) return false;
      bool ok = WriteAll(fd, o.data.data(), o.data.size()) && ::fchmod(fd, o.mode) == 0 &&
                (!o.chown || ::fchown(fd, owner, owner) == 0);
      ::close(fd);
      return ok;
    }
    case RootfsOp::kMount:
      return ::mount(o.target.c_str(), path, o.target.c_str(), o.flags, o.data.empty() ? nullptr : o.data.c_str()) == 0;
    case RootfsOp::kBind:
      if (::mount(o.target.c_str(), path, nullptr, MS_BIND, nullptr) != 0) return false;
      return !o.ro || ::mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | o.flags, nullptr) == 0;
    case RootfsOp::kMask:
      if (::stat(path, &st) != 0) return errno == ENOENT;
      if (S_ISDIR(st.st_mode)) return ::mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0") == 0;
      return ::mount("/dev/null", path, nullptr, MS_BIND, nullptr) == 0;
    case RootfsOp::kMoveMount:
      return ::syscall(SYS_move_mount, o.fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) == 0;
    case RootfsOp::kVolume:
      return MountVolume(o, owner);
    case RootfsOp::kReadOnly:
      if (::stat(path, &st) != 0) return errno == ENOENT;
      if (::mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) return false;
      return ::mount(nullptr, path, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                     nullptr) == 0;
  }
  return false;
}

// The sandbox part of the child (docs/supervisor.md#sandbox), after it joined its cgroups
// and network namespace: it is PID 1 of a new PID namespace, in new mount, UTS and IPC
// namespaces, still host root. Builds the root, pivots into it, joins the machine's user
// namespace as its root, locks itself down and execs privcast-init. Never returns.
[[noreturn]] PC_CHILD_CODE void ChildSandbox(ChildArgs* rep) {
  const SpawnPlan& p = *rep->p;
  const SpawnSandbox& sb = *p.sandbox;
  // Only the machine's cgroup is visible from here on (/proc/self/cgroup shows "/").
  if (::unshare(CLONE_NEWCGROUP) != 0) ChildFail(rep, kStepCgroupns);
  // The machine's netns belongs to the host's user namespace, so root inside has no
  // CAP_NET_RAW / CAP_NET_BIND_SERVICE there: ICMP echo sockets (ping) for its groups, and
  // every port bindable, in this machine's netns only (what Docker and Podman set too).
  if (!WriteSysctl("/proc/sys/net/ipv4/ping_group_range", sb.ping_group_range.c_str()) ||
      !WriteSysctl("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0")) {
    ChildFail(rep, kStepSysctl);
  }
  ::umask(0);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) ChildFail(rep, kStepRslave);
  const RootfsPlan& rp = *sb.rootfs;
  for (size_t i = 0; i < rp.ops.size(); ++i) {
    rep->op = static_cast<int32_t>(i);
    if (!RunRootfsOp(rp.ops[i], sb.ids.base)) ChildFail(rep, kStepRootfs);
  }
  rep->op = -1;
  if (!p.hostname.empty() && ::sethostname(p.hostname.data(), p.hostname.size()) != 0) ChildFail(rep, kStepHostname);
  // pivot_root(".", "."): the old root ends up on top of the new one and is detached at
  // once; nothing of the host's mount tree stays reachable.
  if (::chdir(rp.root.c_str()) != 0 || ::syscall(SYS_pivot_root, ".", ".") != 0 || ::umount2(".", MNT_DETACH) != 0 ||
      ::chdir("/") != 0) {
    ChildFail(rep, kStepPivot);
  }
  // Raising a hard limit needs CAP_SYS_RESOURCE in the host's user namespace: set it now.
  struct rlimit nofile = {sb.nofile, sb.nofile};
  if (::setrlimit(RLIMIT_NOFILE, &nofile) != 0) ChildFail(rep, kStepRlimit);
  // Root of the machine's user namespace (host ids sb.ids.base...). Raw system calls: the
  // libc wrappers would try to apply the change to every thread of the daemon we share
  // memory with.
  if (::setns(sb.userns_fd, CLONE_NEWUSER) != 0) ChildFail(rep, kStepUserns);
  if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, 0, 0, 0) != 0 ||
      ::syscall(SYS_setresuid, 0, 0, 0) != 0) {
    ChildFail(rep, kStepIds);
  }
  if (p.stdin_fd >= 0 && ::dup2(p.stdin_fd, 0) < 0) ChildFail(rep, kStepStdio);
  if (p.stdout_fd >= 0 && ::dup2(p.stdout_fd, 1) < 0) ChildFail(rep, kStepStdio);
  if (p.stderr_fd >= 0 && ::dup2(p.stderr_fd, 2) < 0) ChildFail(rep, kStepStdio);
  if (::chdir(p.working_dir.c_str()) != 0) ChildFail(rep, kStepChdir);
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) ChildFail(rep, kStepCloexec);
  // The parent made report_fd >= 10, so this dup2 makes a fresh, inheritable fd 3.
  if (::dup2(sb.report_fd, 3) != 3) ChildFail(rep, kStepReport);
  if (rep->restore_mask && ::sched_setaffinity(0, sizeof(cpu_set_t), rep->restore_mask) != 0)
    ChildFail(rep, kStepAffinity);
  for (int cap = 0; cap < 64; ++cap) {
    if (p.capability_bounding & (1ULL << cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) ChildFail(rep, kStepCaps);
  }
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  ::umask(022);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ChildFail(rep, kStepNoNewPrivs);
  if (sb.seccomp) {
    sock_fprog prog = sb.seccomp->prog();
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) ChildFail(rep, kStepSeccomp);
  }
  ::execve(sb.init_in_root, rep->argv, rep->envp);
  ChildFail(rep, kStepExec);
}

// Runs in the cloned child: raw system calls only, everything prepared by the parent.
[[noreturn]] PC_CHILD_CODE void ChildMain(ChildArgs* rep) {
  const SpawnPlan& p = *rep->p;
  const char* resolv_src = rep->resolv;
  const char* hosts_src = rep->hosts;
  // Handlers and SIG_IGN of the daemon must not reach the machine (SIG_IGN survives exec),
  // and a handler must never run on this borrowed stack: reset first, then unblock.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int s = 1; s < NSIG; ++s) (void)sigaction(s, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) ChildFail(rep, kStepSignals);
  // Own process group, so terminal signals aimed at the daemon's group never reach the
  // machine. Not setsid(): a new session creates a scheduler autogroup, which measured
  // 6-8 ms per start here against ~0.4 ms for the whole clone+exec. Only a machine with a
  // pty (machine run --shell on a terminal) pays for it: a controlling terminal needs a
  // session of its own, and its leader's group becomes the pty's foreground group.
  if (p.controlling_tty && !p.sandbox) {  // sandboxed: privcast-init gives the program its session
    if (::setsid() < 0) ChildFail(rep, kStepSetsid);
  } else if (::setpgid(0, 0) != 0) {
    ChildFail(rep, kStepSetpgid);
  }
  for (int fd : p.cgroup_procs_fds) {
    if (::write(fd, "0", 1) != 1) ChildFail(rep, kStepCgroup);
  }
  if (p.netns_fd >= 0 && ::setns(p.netns_fd, CLONE_NEWNET) != 0) ChildFail(rep, kStepSetns);
  if (p.sandbox) ChildSandbox(rep);
  if (p.new_mount_ns) {
    if (::unshare(CLONE_NEWNS | CLONE_NEWUTS) != 0) ChildFail(rep, kStepUnshare);
    // Before any mount of ours: nothing we mount may propagate back to the host.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) ChildFail(rep, kStepRslave);
    // Bind the generated files first: their source (the state dir) may be under /tmp, which
    // the tmpfs below hides. Bind mounts hold the file itself, so they stay valid.
    if (resolv_src && ::mount(resolv_src, "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0)
      ChildFail(rep, kStepResolv);
    if (hosts_src && ::mount(hosts_src, "/etc/hosts", nullptr, MS_BIND, nullptr) != 0) ChildFail(rep, kStepHosts);
    if (::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) ChildFail(rep, kStepTmp);
    if (::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") != 0) ChildFail(rep, kStepRun);
    if (!p.hostname.empty() && ::sethostname(p.hostname.data(), p.hostname.size()) != 0) ChildFail(rep, kStepHostname);
  }
  // The parent gave us private duplicates >= 3, so these dup2 never clobber each other.
  if (p.stdin_fd >= 0 && ::dup2(p.stdin_fd, 0) < 0) ChildFail(rep, kStepStdio);
  if (p.stdout_fd >= 0 && ::dup2(p.stdout_fd, 1) < 0) ChildFail(rep, kStepStdio);
  if (p.stderr_fd >= 0 && ::dup2(p.stderr_fd, 2) < 0) ChildFail(rep, kStepStdio);
  // The pty slave on stdin becomes the session's controlling terminal (job control, Ctrl-C
  // as SIGINT to the foreground job, SIGWINCH on resize). 0: never steal another session's.
  if (p.controlling_tty && ::ioctl(0, TIOCSCTTY, 0) != 0) ChildFail(rep, kStepCtty);
  if (::chdir(p.working_dir.c_str()) != 0) ChildFail(rep, kStepChdir);
  if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) ChildFail(rep, kStepCloexec);
  if (rep->restore_mask && ::sched_setaffinity(0, sizeof(cpu_set_t), rep->restore_mask) != 0)
    ChildFail(rep, kStepAffinity);
  // Last, since the steps above need CAP_SYS_ADMIN. EINVAL: past the kernel's last capability.
  // EPERM: we lack CAP_SETPCAP, i.e. are not root, and then have nothing to drop.
  for (int cap = 0; cap < 64; ++cap) {
    if (p.capability_bounding & (1ULL << cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL && errno != EPERM) ChildFail(rep, kStepCaps);
  }
  ::execve(p.exec_path.c_str(), rep->argv, rep->envp);
  ChildFail(rep, kStepExec);
}

PC_CHILD_CODE int ChildEntry(void* arg) { ChildMain(static_cast<ChildArgs*>(arg)); }

}  // namespace

Status ValidateSpec(const LaunchSpec& s) {
  if (!ids::IsMachineId(s.machine_id) &&
      (s.machine_id.empty() || s.machine_id.size() > 64 ||
       s.machine_id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)) {
    return InvalidArgument("bad machine id '" + s.machine_id + "'");
  }
  if (s.argv.empty() && s.shell_command.empty()) return InvalidArgument("machine has no command");
  if (s.log_path.empty() && !s.stdio) return InvalidArgument("machine has no log path");
  if (s.stdio && s.stdio->controlling_tty && s.stdio->in < 0)
    return InvalidArgument("a controlling terminal needs stdin (the pty slave)");
  if (s.kill_timeout < Duration::zero() || s.kill_timeout > std::chrono::seconds(300)) {
    return InvalidArgument("kill_timeout must be within 0..300 s");
  }
  if (s.working_dir.empty() || s.working_dir.front() != '/') return InvalidArgument("working dir must be absolute");
  if (!s.volumes.empty() && !s.sandbox) return InvalidArgument("volumes need the sandbox");
  for (const auto& v : s.volumes) {
    if (v.destination.size() < 2 || v.destination.front() != '/' || v.destination.find("/..") != std::string::npos)
      return InvalidArgument("bad volume destination '" + v.destination + "'");
  }
  return Status::Ok();
}

std::vector<std::string> BuildMachineEnv(const MachineEnvInputs& in) {
  std::vector<std::pair<std::string, std::string>> kv;
  auto set = [&kv](const std::string& k, const std::string& v) {
    for (auto& e : kv) {
      if (e.first == k) {
        e.second = v;
        return;
      }
    }
    kv.emplace_back(k, v);
  };
  const std::pair<const char*, const std::string*> fly[] = {
      {"FLY_APP_NAME", &in.app},
      {"FLY_MACHINE_ID", &in.machine_id},
      {"FLY_REGION", &in.region},
      {"FLY_PRIVATE_IP", &in.private_ip},
      {"FLY_PROCESS_GROUP", &in.process_group},
      {"PRIMARY_REGION", &in.primary_region},
  };
  set("PATH", kDefaultPath);
  set("HOME", "/root");
  for (const auto& [k, v] : fly) set(k, *v);
  for (const auto& [k, v] : in.extra) {
    if (k.empty() || k.find('=') != std::string::npos) continue;
    set(k, v);
  }
  for (const auto& [k, v] : fly) set(k, *v);
  std::vector<std::string> out;
  out.reserve(kv.size());
  for (const auto& [k, v] : kv) out.push_back(k + "=" + v);
  return out;
}

std::string RenderResolvConf() { return "nameserver fdaa::3\n"; }

std::string RenderHosts(const std::string& six_pn, const std::string& machine_id) {
  std::string h =
      "127.0.0.1\tlocalhost\n"
      "::1\tlocalhost ip6-localhost ip6-loopback\n";
  h += six_pn + "\tfly-local-6pn\n";
  h += six_pn + "\t" + machine_id + "\n";
  return h;
}

Result<std::string> ResolveProgram(const std::string& argv0, const std::vector<std::string>& env) {
  if (argv0.empty()) return InvalidArgument("empty program name");
  if (argv0.find('/') != std::string::npos) return argv0;
  std::string path = kDefaultPath;
  for (const auto& e : env) {
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = end > start ? path.substr(start, end - start) : std::string(1, '.');
    std::string cand = dir + "/" + argv0;
    struct stat st;
    if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(cand.c_str(), X_OK) == 0) {
      return cand;
    }
    start = end + 1;
  }
  return NotFound("program '" + argv0 + "' not found in PATH " + path);
}

namespace {

// Is `path` (absolute, normalised) under a host directory the machine sees?
bool UnderHostDir(const std::string& path) {
  for (const char* d : kMachineHostDirs) {
    size_t n = std::strlen(d);
    if (path.compare(0, n, d) == 0 && (path.size() == n || path[n] == '/')) return true;
  }
  return false;
}

constexpr const char* kNotVisible =
    "does not exist inside the machine: a machine sees only the host's /usr (read-only; /bin, /sbin "
    "and /lib* as the host links them) and its own /etc, /tmp, /run and /var (docs/security.md); "
    "install the program under /usr/local, e.g. /usr/local/libexec/<app>/";

// Why the machine cannot exec the file at host path `path` ("" = it can).
std::string WhyNotExecutable(const std::string& path) {
  std::string lexical = path.front() == '/' ? path : "/" + path;  // working directory "/"
  char real[PATH_MAX];
  if (!UnderHostDir(lexical) || (::realpath(lexical.c_str(), real) && !UnderHostDir(real))) return kNotVisible;
  struct stat st;
  if (::stat(lexical.c_str(), &st) != 0)
    return "does not exist inside the machine (" + std::string(std::strerror(errno)) + ")";
  if (!S_ISREG(st.st_mode) || ::access(lexical.c_str(), X_OK) != 0) return "is not an executable file";
  return "";
}

}  // namespace

Status CheckProgramInMachine(const std::string& argv0, const std::vector<std::string>& env) {
  if (argv0.empty()) return InvalidArgument("the command is empty");
  if (argv0.find('/') != std::string::npos) {
    std::string why = WhyNotExecutable(argv0);
    if (why.empty()) return Status::Ok();
    return InvalidArgument("command \"" + argv0 + "\" " + why);
  }
  std::string path = kDefaultPath;
  for (const auto& e : env)
    if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
  std::string hidden;  // a private directory of PATH that has it on the host
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    start = end + 1;
    if (dir.empty()) dir = "/";  // "" is the working directory
    std::string cand = (dir.back() == '/' ? dir : dir + "/") + argv0;
    std::string why = WhyNotExecutable(cand);
    if (why.empty()) return Status::Ok();
    if (hidden.empty() && why.rfind("does not exist inside the machine: ", 0) == 0 && ::access(cand.c_str(), X_OK) == 0)
      hidden = cand;
  }
  if (!hidden.empty())
    return InvalidArgument("command \"" + argv0 + "\" is found only at " + hidden + ", which " +
                           WhyNotExecutable(hidden));
  return InvalidArgument("command \"" + argv0 + "\" is not found in the machine's PATH (" + path + ")");
}

Result<Spawned> Spawn(const SpawnPlan& p) {
  // Everything the child touches is built here, before clone.
  std::vector<char*> argv, envp;
  for (const auto& a : p.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : p.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const std::string& resolv_src = p.resolv_path;
  const std::string& hosts_src = p.hosts_path;

  // vfork-style clone (like posix_spawn): the child borrows our memory on its own stack and
  // we are suspended until it execs or exits, so no page tables are copied and the child
  // runs at once. All signals stay blocked across the clone so no handler of ours can run
  // on the child's side; the child resets dispositions, then unblocks.
  constexpr size_t kStack = 256 * 1024;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE,
                       -1, 0);
  if (stack == MAP_FAILED) return ErrnoStatus("mmap child stack", errno);
  ChildArgs ca;
  ca.p = &p;
  ca.argv = argv.data();
  ca.envp = envp.data();
  ca.resolv = resolv_src.empty() ? nullptr : resolv_src.c_str();
  ca.hosts = hosts_src.empty() ? nullptr : hosts_src.c_str();
  // Run the child on this CPU: we sleep until it execs (vfork), so this CPU is free for it at
  // once, whereas placing it on an idle CPU means waking a vCPU first (0.1-4 ms on this VM,
  // measured: docs/supervisor.md#launch). The child restores our mask just before exec.
  cpu_set_t mask;
  bool pinned = false;
  if (::sched_getaffinity(0, sizeof mask, &mask) == 0 && CPU_COUNT(&mask) > 1) {
    int cpu = ::sched_getcpu();
    if (cpu >= 0 && CPU_ISSET(cpu, &mask)) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      pinned = ::sched_setaffinity(0, sizeof one, &one) == 0;
    }
  }
  ca.restore_mask = pinned ? &mask : nullptr;
  int pidfd = -1;
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  int flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD;
  if (p.sandbox) flags |= CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  int pid = ::clone(ChildEntry, static_cast<char*>(stack) + kStack, flags, &ca, &pidfd);
  int clone_err = errno;
  if (pinned) (void)::sched_setaffinity(0, sizeof mask, &mask);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::munmap(stack, kStack);
  if (pid < 0) return ErrnoStatus("clone", clone_err);
  Spawned out;
  out.pid = static_cast<pid_t>(pid);
  out.pidfd.reset(pidfd);
  // We resume when the child has exec'd (past the point of no return) or exited. Only the
  // latter writes a report, so no report means the program runs.
  int32_t step = ca.step;
  if (step < 0) return out;
  siginfo_t si;
  ::waitid(P_PIDFD, static_cast<id_t>(out.pidfd.get()), &si, WEXITED);  // reap the 127 exit
  ChildError e{step, ca.err};
  if (e.step > static_cast<int32_t>(std::size(kStepNames)) - 1) return Internal("machine child failed before exec");
  std::string what = kStepNames[e.step];
  if (e.step == kStepExec) what.append(" ").append(p.sandbox ? std::string("privcast-init") : p.exec_path);
  int32_t op = ca.op;
  if (e.step == kStepRootfs && p.sandbox && op >= 0 && static_cast<size_t>(op) < p.sandbox->rootfs->ops.size()) {
    what.append(" (").append(p.sandbox->rootfs->ops[static_cast<size_t>(op)].path).append(")");
  }
  return ErrnoStatus("machine setup: " + what, e.err);
}

}  // namespace privcast::supervisor
