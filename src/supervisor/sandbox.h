// The machine sandbox (docs/supervisor.md#sandbox, docs/security.md): what the parent
// prepares so that the spawned child can build it with raw system calls only.
//
//   - IdRange: the host uid/gid range a machine's user namespace maps 0..count-1 onto.
//     MachineIdRange derives it from the machine's link slot (unique per host, persisted in
//     the store), so no two machines of a host share ids and a restarted daemon derives the
//     same range again.
//   - CreateUserNamespace: a user namespace with that mapping, as an fd the child setns()
//     into (a helper task is cloned into a new user namespace, its maps written, its ns
//     file opened, and the helper killed).
//   - RootfsPlan / BuildRootfsPlan: the ordered mount/mkdir/write steps that assemble a
//     machine's root under a directory: an image's overlay (image_root.h), or a tmpfs root with read-only host /usr (+ the /bin, /lib*,
//     /sbin links or dirs as the host has them), generated /etc, fresh /proc with the OCI
//     default masked and read-only paths, read-only /sys, minimal /dev with its own devpts,
//     tmpfs /tmp, /run, /var, /dev/shm. Everything the machine can write is owned by its
//     root (host uid ids.base).
//   - HostEtc: the host files a machine's /etc is generated from (system users without
//     password hashes, a short list of public files), read once per Supervisor.
//   - SeccompProgram: the default seccomp filter (Docker's default allow-list), compiled to
//     classic BPF once with libseccomp.
//
// Values only; thread-safe as values are. CreateUserNamespace clones a task (needs root).
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/result.h"

namespace privcast::supervisor {

struct IdRange {
  uint32_t base = 0;       // host uid/gid of root inside
  uint32_t count = 65536;  // ids mapped: 0..count-1 inside

  bool operator==(const IdRange&) const = default;
};

// RLIMIT_NOFILE a machine gets (soft = hard; it may lower, never raise it).
inline constexpr uint64_t kMachineNofile = 65536;
// Default pids.max of a machine's cgroup.
inline constexpr int64_t kMachinePidsMax = 1024;

// What LaunchSpec::sandbox asks for.
struct SandboxSpec {
  IdRange ids;                       // MachineIdRange(id_base, link_slot)
  uint64_t nofile = kMachineNofile;  // RLIMIT_NOFILE, soft = hard
};

// Default first id: the start of systemd's container range (524288..1879048191,
// systemd's UIDS-GIDS.md), so machine ids never meet host users or systemd's dynamic users.
inline constexpr uint32_t kDefaultIdBase = 524288;
inline constexpr uint32_t kIdsPerMachine = 65536;
// base + slot × 65536. Slots are < addr::kMaxLinkSlots (2^15) and handed out lowest first:
// with the default base the first 28 663 slots stay inside systemd's container range, and
// the largest possible range still ends below (uid_t)-1.
IdRange MachineIdRange(uint32_t id_base, uint32_t link_slot);

// A user namespace mapping 0..r.count-1 to r.base.. (uids and gids). Needs CAP_SETUID and
// CAP_SETGID in the caller's user namespace.
Result<UniqueFd> CreateUserNamespace(const IdRange& r);
// The range a process's user namespace maps 0 onto, from /proc/<pid>/uid_map (adoption).
Result<IdRange> ProcessIdRange(pid_t pid);

// One step of building the root. The child runs them in order with raw system calls.
struct RootfsOp {
  enum Kind : uint8_t {
    kMkdir,      // path, mode
    kSymlink,    // path -> target
    kFile,       // path, mode, data (written in full)
    kMount,      // fstype on path with flags and data (source = fstype)
    kBind,       // source -> path, then read-only (flags: extra MS_* for the remount) when ro
    kMask,       // path: a directory gets a read-only tmpfs, a file /dev/null; absent: skip
    kReadOnly,   // path bound on itself and remounted read-only; absent: skip
    kMoveMount,  // the detached mount `fd` (an image's overlay, image_root.h) moved onto path
    kVolume,     // the detached mount `fd` (a volume, volume.h) moved onto `data` (relative to
                 // the root `target`, created as needed, resolved inside the root); path: for errors
  };
  Kind kind = kMkdir;
  std::string path;
  std::string target;       // kSymlink target, kBind source, kMount fstype
  std::string data;         // kFile contents, kMount options
  unsigned long flags = 0;  // kMount flags; kBind remount flags
  uint32_t mode = 0755;
  bool ro = false;    // kBind: remount read-only
  bool chown = true;  // kMkdir/kSymlink/kFile: owned by the machine's root
  int fd = -1;        // kMoveMount: borrowed from the caller until the spawn returns
};

struct RootfsPlan {
  std::string root;  // absolute dir the root is built on (becomes "/")
  std::vector<RootfsOp> ops;
};

// What a machine's /etc is made of on this host (read once, shared by every machine).
struct HostEtc {
  std::string passwd;  // system users (uid < 1000, and nobody), password field "x", no shadow
  std::string group;   // system groups (gid < 1000, and nogroup), members kept
  std::vector<std::pair<std::string, std::string>> files;     // name -> contents (copied)
  std::vector<std::pair<std::string, std::string>> symlinks;  // name -> target
  std::vector<std::string> ro_dirs;                           // /etc subdirs bound read-only (ssl/certs, alternatives)
};
// Reads the host's /etc under `etc` (tests pass a fake). Missing optional files are skipped.
HostEtc ReadHostEtc(const std::string& etc = "/etc");
// passwd/group text filtered as HostEtc describes (pure, for tests).
std::string FilterPasswd(const std::string& text);
std::string FilterGroup(const std::string& text);

struct RootfsInputs {
  std::string root;  // mount point for the machine's root (exists)
  IdRange ids;
  std::string hostname;     // /etc/hostname
  std::string hosts;        // /etc/hosts
  std::string resolv_conf;  // /etc/resolv.conf
  const HostEtc* etc = nullptr;
  std::string host_root = "/";  // where host /usr, /bin, ... are read (tests)
  std::string init_path;        // privcast-init on the host, bound read-only at kInitInRoot
  // `machine run --shell` on a terminal: the host path of the pty slave the machine gets
  // as stdio ("/dev/pts/N"). It appears at the same path inside, so `tty` names it; the
  // machine's own devpts instance then lives at /dev/pts/.machine (ptmx points there).
  std::string tty_slave;
  // The machine's own cgroup directories, bound read-only under /sys/fs/cgroup so programs
  // can read their limits (JVMs, Go, ...): (name, host dir) — v1: ("memory", ".../<id>"),
  // one per controller; v2: ("", ".../<id>") at /sys/fs/cgroup itself. Nothing else of the
  // hierarchy is visible (and /proc/self/cgroup says "/": own cgroup namespace).
  std::vector<std::pair<std::string, std::string>> cgroups;
  // >= 0: the machine runs an OCI image and this detached overlay (PrepareImageRoot) is its
  // root, with /etc/hostname, hosts, resolv.conf and the mount points already in its
  // writable layer. The plan then has no host /usr, generated /etc, nor tmpfs /tmp, /run,
  // /var (the image's own are writable); /proc, /sys, /dev and the masks are as for every
  // machine.
  int image_mount_fd = -1;
  // Volumes: destination (absolute inside the machine) → detached mount (PrepareVolumeMount),
  // mounted last, over whatever the root has there.
  std::vector<std::pair<std::string, int>> volumes;
};

// Where privcast-init is inside every machine (a read-only bind, like Docker's
// /sbin/docker-init): exec'd by path after pivot_root. The machine can read it; it is the
// public, static init binary and nothing else.
inline constexpr const char* kInitInRoot = "/.privcast-init";
RootfsPlan BuildRootfsPlan(const RootfsInputs& in);

// The default seccomp filter as classic BPF, built once per process (libseccomp). Docker's
// default profile: allow-list, EPERM for the rest, clone without namespace flags, clone3
// ENOSYS (libc falls back to clone), personality only with its harmless values, no
// AF_VSOCK sockets, nothing gated on capabilities a machine does not have.
struct SeccompProgram {
  std::vector<sock_filter> insns;
  sock_fprog prog() const {
    return sock_fprog{static_cast<unsigned short>(insns.size()), const_cast<sock_filter*>(insns.data())};
  }
};
Result<const SeccompProgram*> DefaultSeccomp();

}  // namespace privcast::supervisor
