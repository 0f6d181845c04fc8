// Named, persistent network namespaces and running code inside them.
//
// A named netns is a file <dir>/<name> with the namespace bind-mounted on it (what
// `ip netns add` does under /run/netns, but the directory is a parameter so parallel daemons
// with different data dirs never collide). The namespace lives as long as that mount (or a
// process, or an fd) holds it.
//
// Thread model: a thread's network namespace is per thread. Nothing here ever changes the
// caller's thread: Create/RunIn/SocketIn do their setns/unshare on a short-lived helper thread
// that exits afterwards. A socket keeps the netns it was created in, which is how the rest of
// privcast "talks to" a namespace (SocketIn, Rtnl::OpenIn, ListenerProbe::Open).
//
// Mount propagation: <dir> is made a shared mount (bind-mounted on itself first if needed,
// like iproute2), so that Delete's umount propagates into mount namespaces cloned from ours
// as slaves. A machine's mount namespace must therefore use MS_SLAVE (not MS_PRIVATE) for /,
// or unmount <dir> inside, or it will pin every netns that existed when it was cloned.
//
// All functions are thread-safe.
#pragma once

#include <functional>
#include <string>

#include "common/fd.h"
#include "common/result.h"

namespace privcast::netns {

// Creates the directory (mkdir -p) and makes it a shared mount point. Idempotent; Create()
// calls it, so callers need it only to prepare a directory early.
Status PrepareDir(const std::string& dir);
// Undoes PrepareDir's self bind mount (for tests and clean shutdown). The directory must hold
// no netns files anymore; it is not removed.
Status ReleaseDir(const std::string& dir);

// Creates <dir>/<name> holding a fresh network namespace. `init`, if given, runs on the helper
// thread while it is inside the new namespace (sysctls, opening sockets), before Create
// returns; its failure deletes the namespace again. AlreadyExists if the file exists.
Status Create(const std::string& dir, const std::string& name, const std::function<Status()>& init = nullptr);
// Re-creates <dir>/<name> from the netns of a running process (/proc/<pid>/ns/net): how a
// restarted daemon (whose old mount namespace, and so its bind mounts, died with it) gets
// its running machines' namespaces back. Ok if <dir>/<name> already is a netns.
Status Adopt(const std::string& dir, const std::string& name, int pid);
// Unmounts and unlinks <path>. Ok when it does not exist (idempotent). The namespace itself
// goes away when the last process/fd/socket holding it is gone.
Status Delete(const std::string& path);
// True when <path> exists and is a netns bind mount.
bool Exists(const std::string& path);

// O_RDONLY|O_CLOEXEC fd of the netns at <path>.
Result<UniqueFd> Open(const std::string& path);
// fd of the calling thread's own netns (/proc/thread-self/ns/net).
Result<UniqueFd> OpenCurrent();

// Runs fn on a helper thread that first setns()es into nsfd; returns fn's status.
Status RunIn(int nsfd, const std::function<Status()>& fn);
// socket(domain, type|SOCK_CLOEXEC, protocol) created inside nsfd.
Result<UniqueFd> SocketIn(int nsfd, int domain, int type, int protocol);

// Writes /proc/sys/<key> (e.g. "net/ipv6/conf/all/forwarding") in the CALLING thread's
// netns. Use through RunIn for any other netns.
Status WriteSysctl(const std::string& key, const std::string& value);

}  // namespace privcast::netns
