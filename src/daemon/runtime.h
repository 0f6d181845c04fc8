// MachineRuntime: the daemon's seam to the kernel — machine networks (netns module), machine
// processes (supervisor module) and host plumbing (privcast0, flycast addresses, nftables).
//
// The reconciler (MachineManager) drives it from the control thread only; it never talks to
// netns/supervisor directly. runtime_linux.cc implements it for real; tests use a fake, so
// reconcile logic, wakes and failure paths are unit-testable in microseconds.
//
// Thread-safety: called on the control thread. Exit notifications arrive on the supervisor's
// thread through the callback given to SetExitCallback (the manager re-posts them).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/addr.h"
#include "common/clock.h"
#include "common/fd.h"
#include "common/result.h"
#include "common/signal.h"
#include "store/model.h"
#include "store/registry.h"
#include "supervisor/restart.h"

namespace privcast::daemon {

// What an OCI image gives a machine (docs/images.md#machines): its unpacked layers and the
// config that drives the program.
struct ImagePlan {
  std::vector<std::string> layers;      // unpacked layer directories, lowest first
  std::vector<std::string> entrypoint;  // Entrypoint
  std::vector<std::string> cmd;         // Cmd (replaced by [processes] / machine run -- CMD)
  std::vector<std::string> env;         // Env, "K=V", before [env] and the FLY_* variables
  std::string working_dir;              // "" = /
  uint32_t uid = 0, gid = 0;            // User, resolved in the image's /etc/passwd
};

struct LaunchPlan {
  store::Machine machine;
  std::vector<std::string> argv;  // empty → command from shell_command
  std::string shell_command;      // run with /bin/sh -c
  std::vector<std::pair<std::string, std::string>> env;
  uint64_t memory_mb = 0;  // 0 = no limit
  double cpus = 0;         // 0 = no limit
  KillSignal kill_signal;
  Duration kill_timeout = std::chrono::seconds(5);
  supervisor::RestartMode restart_mode = supervisor::RestartMode::kOnFailure;
  int restart_retries = 10;
  std::string primary_region;
  // Attached stdio (machine run --shell); invalid fds → the machine's log file.
  std::optional<ImagePlan> image;  // set: the machine runs this image (argv already composed)
  bool persist_rootfs = false;     // [[vm]] persist_rootfs: keep the writable layer
  struct Volume {
    std::string dir;   // its files on the host (volume_storage.h)
    std::string path;  // where the machine sees them
  };
  std::vector<Volume> volumes;  // the machine's attached volume (at most one)
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
  // stdin is the slave of a pty the daemon allocated (AttachPty): it becomes the main
  // process's controlling terminal, in a session of its own.
  bool tty = false;
};

struct Listener {
  std::string address;  // "0.0.0.0", "::", "fdaa:…"
  uint16_t port = 0;
  bool reachable = false;  // the proxy (over the machine's IPv4 link) can connect to it
};

struct ExitInfo {
  std::string machine_id;
  int code = -1;            // exit status, 128+signal, or -1 unknown (adopted process)
  bool restarting = false;  // the supervisor's restart policy will start it again
};

// Flycast address (text) → TCP port ranges [first, last] the proxy serves there.
using FlycastPortMap = std::map<std::string, std::vector<std::pair<uint16_t, uint16_t>>>;

// ssh console: a program to run inside a running machine (supervisor/enter.h).
struct EnterRequest {
  std::vector<std::string> argv;                         // argv[0] absolute, in the machine's root
  std::vector<std::pair<std::string, std::string>> env;  // on top of the machine's own environment
  int in = -1, out = -1, err = -1;                       // borrowed
  bool tty = false;                                      // `in` is a pty slave: make it the controlling terminal
};
struct Entered {
  pid_t pid = -1;      // what to wait for (a child of the daemon)
  UniqueFd pidfd;      // waitid(P_PIDFD): the program's exit code, or 128 + signal
  pid_t program = -1;  // the program's process group (host pid): kill(-program) ends the session
};

class MachineRuntime {
 public:
  virtual ~MachineRuntime() = default;

  // Host plumbing (once at start). TeardownHost (clean shutdown) keeps the nftables table,
  // links and routes for the machines that keep running (isolation fails closed).
  virtual Status SetupHost() = 0;
  virtual void TeardownHost() = 0;
  virtual Status AddFlycast(const Ip6& a) = 0;
  virtual Status RemoveFlycast(const Ip6& a) = 0;
  // Rebuild the isolation rules from the whole state (atomic). `ports`: for each flycast
  // address, the TCP port ranges of its app's services — the only ports admitted to it.
  virtual Status SyncFirewall(const store::StateView& state, const FlycastPortMap& ports) = 0;
  // Cluster (docs/cluster.md): the routes to other hosts' 6PN prefixes (prefix /80 → that
  // host's underlay address) and the underlay addresses the firewall admits as peers. Called
  // before SyncFirewall; the set given replaces the previous one. Default: one host, nothing.
  virtual Status SyncPeers(const std::map<Ip6, Ip6>& routes, const std::set<Ip6>& peers) {
    (void)routes;
    (void)peers;
    return Status::Ok();
  }

  // Machines. Network setup is idempotent and kept while the machine is stopped (fast wakes).
  virtual Status EnsureNetwork(const store::Machine& m) = 0;
  virtual Status Launch(const LaunchPlan& plan) = 0;                                 // running on return
  virtual Status Stop(const std::string& id, KillSignal sig, Duration timeout) = 0;  // exit via callback
  virtual Status Suspend(const std::string& id) = 0;
  virtual Status Resume(const std::string& id) = 0;
  virtual bool IsRunning(const std::string& id) = 0;
  virtual bool IsSuspended(const std::string& id) = 0;
  // Kill everything, remove cgroups, files, network. Idempotent.
  virtual Status Destroy(const store::Machine& m) = 0;
  // Find a machine's processes again after a daemon restart; false when they are gone.
  // The plan is what the machine was started with (kept for restarts).
  virtual Result<bool> Adopt(const LaunchPlan& plan) = 0;
  virtual Result<std::vector<Listener>> Listeners(const std::string& id) = 0;
  // Fast readiness check: does something the proxy can reach accept on `port`? (~10 µs)
  virtual Result<bool> Accepts(const std::string& id, uint16_t port) = 0;
  virtual std::string LogPath(const std::string& id) = 0;
  virtual void SetExitCallback(std::function<void(const ExitInfo&)> cb) = 0;
  // Stop watching (daemon shutdown) without touching running machines.
  virtual void Detach() = 0;
  // A program inside the running machine `id`, in its namespaces, cgroups and sandbox.
  // Thread-safe (API threads call it). Default: not supported (test runtimes).
  virtual Result<Entered> Enter(const std::string& id, const EnterRequest& req) {
    (void)id;
    (void)req;
    return FailedPrecondition("this runtime cannot enter machines");
  }
  // The ptmx of the running machine's own devpts, as the host reaches it; "" = none.
  virtual std::string PtmxPath(const std::string& id) {
    (void)id;
    return "";
  }
};

}  // namespace privcast::daemon
