#include "supervisor/sandbox.h"

#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <sstream>

#include "common/file.h"
#include "common/strings.h"
#include "supervisor/cgroup.h"

namespace privcast::supervisor {
namespace {

// The helper that holds a fresh user namespace while its maps are written. Raw system
// calls only, on its own stack, sharing our memory: it just waits to be killed.
__attribute__((no_sanitize("address", "undefined"))) int HoldUserns(void*) {
  for (;;) ::syscall(SYS_pause);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

// Lines of a passwd/group file whose id (field `id_field`) is a system id.
std::string FilterIds(const std::string& text, size_t id_field, size_t min_fields) {
  std::string out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == '+' || line[0] == '-') continue;
    auto f = Split(line, ':');
    if (f.size() < min_fields) continue;
    std::optional<unsigned long> id = ParseDecimal<unsigned long>(f[id_field]);
    if (!id) continue;
    if (*id >= 1000 && *id != 65534) continue;
    f[1] = "x";  // never a hash, even where the host keeps one in passwd
    std::string joined;
    for (size_t i = 0; i < f.size(); ++i) joined += (i ? ":" : "") + f[i];
    out += joined + "\n";
  }
  return out;
}

bool IsSymlink(const std::string& p, std::string* target) {
  char buf[4096];
  ssize_t n = ::readlink(p.c_str(), buf, sizeof buf - 1);
  if (n < 0) return false;
  target->assign(buf, static_cast<size_t>(n));
  return true;
}

bool IsDir(const std::string& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Public host files a machine's /etc copies (name resolution, the dynamic linker's cache,
// time zone, os identity). Nothing with secrets: no shadow, no ssl/private, no ssh.
constexpr const char* kCopiedEtc[] = {
    "ld.so.cache", "protocols",      "services", "ethertypes",  "rpc",         "localtime",
    "os-release",  "debian_version", "shells",   "login.defs",  "host.conf",   "gai.conf",
    "mime.types",  "inputrc",        "profile",  "bash.bashrc", "environment",
};
// Host /etc directories a machine sees read-only: the CA bundle and Debian's alternatives
// (/usr/bin/awk, nc, ... are links through /etc/alternatives).
constexpr const char* kRoEtcDirs[] = {"ssl/certs", "alternatives"};

// OCI runtime-spec defaults (runc's `spec`, Docker): masked and read-only kernel paths.
constexpr const char* kMaskedPaths[] = {
    "/proc/acpi",        "/proc/asound",        "/proc/interrupts", "/proc/kcore",
    "/proc/keys",        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi",          "/sys/firmware",    "/sys/devices/virtual/powercap",
};
constexpr const char* kReadOnlyPaths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};
constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

// Docker's default allow-list (moby profiles/seccomp/default.json, unconditional part, plus
// ptrace and process_vm_* which it allows on kernels >= 4.8, chroot for CAP_SYS_CHROOT and
// the x86-64 arch_prctl/modify_ldt), minus io_uring_setup/enter/register, which current
// Docker and containerd profiles no longer allow either: io_uring performs operations that
// never pass through seccomp, and has been a steady source of kernel bugs. Programs fall back
// to epoll or threads when io_uring_setup fails. Names libseccomp does not know are skipped.
constexpr const char* kAllowed[] = {
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_adjtime",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "socketpair",
    "splice",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "write",
    "writev",
    // kernel >= 4.8 (Docker), CAP_SYS_CHROOT (default set), x86-64
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "chroot",
    "arch_prctl",
    "modify_ldt",
};

Result<SeccompProgram> BuildSeccomp() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) return Internal("seccomp_init failed");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  auto add = [&](uint32_t action, const char* name, unsigned n, const scmp_arg_cmp* cmp) -> Status {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) return Status::Ok();
    int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
    if (rc != 0) return ErrnoStatus(std::string("seccomp rule ") + name, -rc);
    return Status::Ok();
  };
  for (const char* name : kAllowed) PC_RETURN_IF_ERROR(add(SCMP_ACT_ALLOW, name, 0, nullptr));
  // socket: anything but AF_VSOCK (40).
  scmp_arg_cmp not_vsock = SCMP_A0(SCMP_CMP_NE, 40);
  PC_RETURN_IF_ERROR(add(SCMP_ACT_ALLOW, "socket", 1, &not_vsock));
  // personality: PER_LINUX, PER_LINUX32 (8), UNAME26 (0x20000), both, and the query 0xffffffff.
  for (uint64_t v : {0ULL, 8ULL, 0x20000ULL, 0x20008ULL, 0xffffffffULL}) {
    scmp_arg_cmp eq = SCMP_A0(SCMP_CMP_EQ, v);
    PC_RETURN_IF_ERROR(add(SCMP_ACT_ALLOW, "personality", 1, &eq));
  }
  // clone: no namespace flags (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET).
  scmp_arg_cmp no_ns = SCMP_A0(SCMP_CMP_MASKED_EQ, 0x7E020000ULL, 0);
  PC_RETURN_IF_ERROR(add(SCMP_ACT_ALLOW, "clone", 1, &no_ns));
  // clone3 hides its flags in memory: ENOSYS makes libc fall back to clone.
  PC_RETURN_IF_ERROR(add(SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, nullptr));

  UniqueFd mem(static_cast<int>(::syscall(SYS_memfd_create, "seccomp", MFD_CLOEXEC)));
  if (!mem) return ErrnoStatus("memfd_create", errno);
  if (int rc = seccomp_export_bpf(ctx, mem.get()); rc != 0) return ErrnoStatus("seccomp_export_bpf", -rc);
  off_t size = ::lseek(mem.get(), 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0) return Internal("seccomp: bad BPF size");
  SeccompProgram p;
  p.insns.resize(static_cast<size_t>(size) / sizeof(sock_filter));
  if (::pread(mem.get(), p.insns.data(), static_cast<size_t>(size), 0) != size) return ErrnoStatus("read BPF", errno);
  return p;
}

}  // namespace

IdRange MachineIdRange(uint32_t id_base, uint32_t link_slot) {
  return IdRange{id_base + link_slot * kIdsPerMachine, kIdsPerMachine};
}

Result<UniqueFd> CreateUserNamespace(const IdRange& r) {
  constexpr size_t kStack = 16 * 1024;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return ErrnoStatus("mmap", errno);
  int pidfd = -1;
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);  // the helper never runs a handler of ours
  int pid = ::clone(HoldUserns, static_cast<char*>(stack) + kStack, CLONE_VM | CLONE_NEWUSER | CLONE_PIDFD | SIGCHLD,
                    nullptr, &pidfd);
  int clone_err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    ::munmap(stack, kStack);
    return ErrnoStatus("clone(CLONE_NEWUSER)", clone_err);
  }
  UniqueFd pfd(pidfd);
  std::string proc = "/proc/" + std::to_string(pid);
  std::string map = "0 " + std::to_string(r.base) + " " + std::to_string(r.count) + "\n";
  Status st = WriteFile(proc + "/uid_map", map);
  if (st.ok()) st = WriteFile(proc + "/gid_map", map);
  UniqueFd ns;
  if (st.ok()) {
    ns.reset(::open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) st = ErrnoStatus("open " + proc + "/ns/user", errno);
  }
  ::syscall(SYS_pidfd_send_signal, pfd.get(), SIGKILL, nullptr, 0);
  siginfo_t si;
  ::waitid(P_PIDFD, static_cast<id_t>(pfd.get()), &si, WEXITED);
  ::munmap(stack, kStack);  // only now: the helper ran on it
  if (!st.ok()) return st;
  return ns;
}

Result<IdRange> ProcessIdRange(pid_t pid) {
  PC_ASSIGN_OR_RETURN(std::string text, ReadFile("/proc/" + std::to_string(pid) + "/uid_map"));
  std::istringstream in(text);
  uint64_t inside = 0, outside = 0, count = 0;
  if (!(in >> inside >> outside >> count) || inside != 0) return Internal("unexpected uid_map: " + text);
  return IdRange{static_cast<uint32_t>(outside), static_cast<uint32_t>(count)};
}

std::string FilterPasswd(const std::string& text) { return FilterIds(text, 2, 7); }
std::string FilterGroup(const std::string& text) { return FilterIds(text, 2, 4); }

HostEtc ReadHostEtc(const std::string& etc) {
  HostEtc h;
  if (auto p = ReadFile(etc + "/passwd"); p.ok()) h.passwd = FilterPasswd(*p);
  if (auto g = ReadFile(etc + "/group"); g.ok()) h.group = FilterGroup(*g);
  if (h.passwd.find("root:") != 0) h.passwd = "root:x:0:0:root:/root:/bin/sh\n" + h.passwd;
  if (h.group.find("root:") != 0) h.group = "root:x:0:\n" + h.group;
  for (const char* name : kCopiedEtc) {
    std::string p = etc + "/" + name, target;
    if (IsSymlink(p, &target)) {
      h.symlinks.emplace_back(name, target);
    } else if (auto f = ReadFile(p); f.ok() && f->size() <= (1u << 20)) {
      h.files.emplace_back(name, std::move(*f));
    }
  }
  for (const char* d : kRoEtcDirs) {
    if (IsDir(etc + "/" + d)) h.ro_dirs.push_back(d);
  }
  return h;
}

namespace {

// Appends the steps of a RootfsPlan; each helper fills in only the fields its kind uses.
struct RootfsOpsBuilder {
  RootfsPlan& plan;
  std::string R;  // the root, prefixed to every path

  RootfsOp& add(RootfsOp::Kind k, const std::string& p, std::string target = {}, std::string data = {},
                unsigned long flags = 0) {
    RootfsOp o;
    o.kind = k;
    o.path = R + p;
    o.target = std::move(target);
    o.data = std::move(data);
    o.flags = flags;
    plan.ops.push_back(std::move(o));
    return plan.ops.back();
  }
  void mkdir(const std::string& p, uint32_t mode = 0755, bool chown = true) {
    RootfsOp& o = add(RootfsOp::kMkdir, p);
    o.mode = mode;
    o.chown = chown;
  }
  void mount(const std::string& fstype, const std::string& p, unsigned long flags, const std::string& data) {
    add(RootfsOp::kMount, p, fstype, data, flags);
  }
  void bind(const std::string& src, const std::string& p, bool ro, unsigned long flags) {
    add(RootfsOp::kBind, p, src, {}, flags).ro = ro;
  }
  void symlink(const std::string& p, const std::string& target) { add(RootfsOp::kSymlink, p, target); }
  void file(const std::string& p, const std::string& data, uint32_t mode = 0644) {
    add(RootfsOp::kFile, p, {}, data).mode = mode;
  }
  void simple(RootfsOp::Kind k, const std::string& p) { add(k, p); }
};

// A root without an image: tmpfs, the host's /usr read-only, a generated /etc.
void AddHostRoot(RootfsOpsBuilder& b, const RootfsInputs& in, const std::string& hr, const std::string& own) {
  // The root itself: a fresh tmpfs owned by the machine's root, gone with the machine.
  b.mount("tmpfs", "", MS_NOSUID | MS_NODEV, "mode=755," + own);
  // Host /usr read-only, and the top-level links (or dirs) into it as the host has them.
  b.mkdir("/usr", 0755, false);
  b.bind(hr + "/usr", "/usr", true, MS_NOSUID | MS_NODEV);
  for (const char* top : {"bin", "sbin", "lib", "lib32", "lib64", "libx32"}) {
    std::string hp = hr + "/" + top, target;
    if (IsSymlink(hp, &target)) {
      b.symlink(std::string("/") + top, target);
    } else if (IsDir(hp)) {
      b.mkdir(std::string("/") + top, 0755, false);
      b.bind(hp, std::string("/") + top, true, MS_NOSUID | MS_NODEV);
    }
  }
  if (!in.init_path.empty()) {
    b.file(kInitInRoot, "", 0755);
    b.bind(in.init_path, kInitInRoot, true, MS_NOSUID | MS_NODEV);
  }
  for (const char* d : {"/root", "/home", "/mnt", "/opt", "/srv", "/media"}) {
    b.mkdir(d, std::string(d) == "/root" ? 0700 : 0755);
  }

  // /etc: generated, writable by the machine's root; the CA bundle and alternatives bound.
  b.mkdir("/etc");
  if (in.etc) {
    b.file("/etc/passwd", in.etc->passwd);
    b.file("/etc/group", in.etc->group);
    for (const auto& [name, data] : in.etc->files) b.file("/etc/" + name, data);
    for (const auto& [name, target] : in.etc->symlinks) b.symlink("/etc/" + name, target);
    for (const auto& d : in.etc->ro_dirs) {
      std::string sub;
      for (const auto& part : Split(d, '/')) {
        sub += "/" + part;
        b.mkdir("/etc" + sub);
      }
      b.bind(hr + "/etc/" + d, "/etc/" + d, true, MS_NOSUID | MS_NODEV | MS_NOEXEC);
    }
  }
  b.file("/etc/hostname", in.hostname + "\n");
  b.file("/etc/hosts", in.hosts);
  b.file("/etc/resolv.conf", in.resolv_conf);
  b.file("/etc/nsswitch.conf",
         "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n"
         "protocols: files\nservices: files\nethers: files\nrpc: files\n");
}

// /dev, its ptys and shm, and the /dev/fd links.
void AddDev(RootfsOpsBuilder& b, const RootfsInputs& in, const std::string& hr, const std::string& own, bool image) {
  // Minimal /dev: the harmless character devices bound from the host, its own devpts
  // (ptys for `--shell` inside and tools that open one), shm.
  if (!image) b.mkdir("/dev", 0755, false);
  b.mount("tmpfs", "/dev", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k");
  for (const char* d : kDevices) {
    b.file(std::string("/dev/") + d, "", 0666);
    b.bind(hr + "/dev/" + d, std::string("/dev/") + d, false, 0);
  }
  const std::string devpts = "newinstance,ptmxmode=0666,mode=0620,gid=" + std::to_string(in.ids.base + 5);
  b.mkdir("/dev/pts", 0755, false);
  if (in.tty_slave.rfind("/dev/pts/", 0) == 0 && in.tty_slave.find('/', 9) == std::string::npos) {
    b.mount("tmpfs", "/dev/pts", MS_NOSUID | MS_NOEXEC, "mode=755,size=4k");
    b.file(in.tty_slave, "", 0620);
    b.bind(hr + in.tty_slave, in.tty_slave, false, 0);
    b.mkdir("/dev/pts/.machine", 0755, false);
    b.mount("devpts", "/dev/pts/.machine", MS_NOSUID | MS_NOEXEC, devpts);
    b.symlink("/dev/ptmx", "pts/.machine/ptmx");
  } else {
    b.mount("devpts", "/dev/pts", MS_NOSUID | MS_NOEXEC, devpts);
    b.symlink("/dev/ptmx", "pts/ptmx");
  }
  b.mkdir("/dev/shm", 01777, false);
  b.mount("tmpfs", "/dev/shm", MS_NOSUID | MS_NODEV, "mode=1777," + own);
  b.symlink("/dev/fd", "/proc/self/fd");
  b.symlink("/dev/stdin", "/proc/self/fd/0");
  b.symlink("/dev/stdout", "/proc/self/fd/1");
  b.symlink("/dev/stderr", "/proc/self/fd/2");
}

}  // namespace

RootfsPlan BuildRootfsPlan(const RootfsInputs& in) {
  RootfsPlan plan;
  plan.root = in.root;
  const std::string R = in.root;
  const std::string hr = in.host_root == "/" ? "" : in.host_root;
  const std::string own = "uid=" + std::to_string(in.ids.base) + ",gid=" + std::to_string(in.ids.base);
  RootfsOpsBuilder b{plan, R};

  const bool image = in.image_mount_fd >= 0;
  if (image) {
    // An image's overlay; the mount points and /etc files are in its writable layer.
    b.add(RootfsOp::kMoveMount, "").fd = in.image_mount_fd;
    if (!in.init_path.empty()) b.bind(in.init_path, kInitInRoot, true, MS_NOSUID | MS_NODEV);
  } else {
    AddHostRoot(b, in, hr, own);
  }

  // Fresh /proc of the machine's PID namespace, kernel paths masked or read-only.
  if (!image) b.mkdir("/proc", 0555, false);
  b.mount("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
  // Read-only /sys of the machine's network namespace.
  if (!image) b.mkdir("/sys", 0555, false);
  b.mount("sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "");
  // Its own cgroups, read-only (the tmpfs holding the v1 mount points belongs to host root,
  // so nothing can be created there either).
  const unsigned long cg_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (!in.cgroups.empty() && in.cgroups.front().first.empty()) {
    b.bind(in.cgroups.front().second, "/sys/fs/cgroup", true, cg_flags);
  } else if (!in.cgroups.empty()) {
    b.mount("tmpfs", "/sys/fs/cgroup", cg_flags, "mode=755,size=4k");
    for (const auto& [name, dir] : in.cgroups) {
      b.mkdir("/sys/fs/cgroup/" + name, 0755, false);
      b.bind(dir, "/sys/fs/cgroup/" + name, true, cg_flags);
    }
  }
  for (const char* p : kMaskedPaths) b.simple(RootfsOp::kMask, p);
  for (const char* p : kReadOnlyPaths) b.simple(RootfsOp::kReadOnly, p);

  AddDev(b, in, hr, own, image);

  // Private writable /tmp, /run and /var (nginx, PostgreSQL and friends want /var/lib,
  // /var/log); an image's own are writable.
  if (!image) {
    b.mkdir("/tmp", 01777, false);
    b.mount("tmpfs", "/tmp", MS_NOSUID | MS_NODEV, "mode=1777," + own);
    b.mkdir("/run", 0755, false);
    b.mount("tmpfs", "/run", MS_NOSUID | MS_NODEV, "mode=755," + own);
    b.mkdir("/run/lock", 01777);
    b.mkdir("/var", 0755, false);
    b.mount("tmpfs", "/var", MS_NOSUID | MS_NODEV, "mode=755," + own);
    for (const char* d :
         {"/var/lib", "/var/log", "/var/cache", "/var/spool", "/var/mail", "/var/local", "/var/opt", "/var/backups"}) {
      b.mkdir(d);
    }
    b.mkdir("/var/tmp", 01777);
    b.symlink("/var/run", "/run");
    b.symlink("/var/lock", "/run/lock");
  }
  // Volumes last: over the root's own mounts (/var of a host-/usr machine, ...).
  for (const auto& [dest, fd] : in.volumes) {
    RootfsOp& v = b.add(RootfsOp::kVolume, "");
    v.path = dest;
    v.target = in.root;
    v.data = dest.substr(dest.find_first_not_of('/'));
    v.fd = fd;
  }
  return plan;
}

Result<const SeccompProgram*> DefaultSeccomp() {
  static std::once_flag once;
  static Result<SeccompProgram>* built = nullptr;
  std::call_once(once, [] { built = new Result<SeccompProgram>(BuildSeccomp()); });
  if (!built->ok()) return built->status();
  return &built->value();
}

}  // namespace privcast::supervisor
