// MachineManager: the reconciler. It makes the machines on this host match the store.
//
// The API records intent (a machine in `starting`, `stopping`, `suspending`, `destroying`);
// the manager, on the control thread, acts through MachineRuntime and writes the resting
// state (`started`, `stopped`, `suspended`, record deleted). It also:
//   - implements proxy::MachineWaker: wake a stopped/suspended machine and answer once the
//     app accepts on its internal port, coalescing concurrent wakes of a machine into one
//     start. When a machine is ready is the Readiness unit's job (daemon/readiness.h: the
//     prober, the waiters, the signal a deploy waits on); the manager drives its Tick() on
//     the control loop and publishes routing when readiness changes;
//   - implements proxy::MachineStopper (autostop);
//   - owns the Deployer (daemon/deployer.h: deploy and scale, machines per process group and
//     per region with --region, placed on other live hosts in a cluster), which decides and
//     acts through the manager as its Deployer::Host; runs ad-hoc machines (machine run);
//   - publishes a fresh routing Snapshot after every change (store or readiness);
//   - keeps host plumbing in sync: flycast addresses local to the host, nftables rules.
// A file per job: machine_manager.cc (reconciler core), machine_launch.cc, machine_wake.cc +
// machine_wake_remote.cc, host_sync.cc, machine_deploy.cc (the Deployer's host, resuming an
// interrupted deploy), machine_run.cc, volume_deploy.cc (the private section below is
// grouped the same way).
//
// Invariant: the manager acts on every transition it writes itself, at once. The store
// watcher's notifications skip bursts made only of its own writes (NotifyStoreChanged), so
// nothing else would pick such a transition up. A machine of another host is never acted on
// here: only its intent is written (Intend), and its host's daemon acts.
//
// Ownership: borrows the registry, runtime, loop, events and clock (all outlive it); owns the
// Readiness unit, the ReadinessSignal and the Deployer.
// Threading: every private member is touched on the control thread only, except the
// thread-safe ones: signal_, the metrics counters, and what notify_mu_ and snap_mu_ guard.
// Public methods are safe from any thread: they post to the control loop (and the blocking
// ones — Deploy, Scale, RunMachine, RunAttached — wait on the caller's thread, never on the
// control thread).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "common/snapshot.h"
#include "daemon/app_events.h"
#include "daemon/app_plan.h"
#include "daemon/control_loop.h"
#include "daemon/deployer.h"
#include "daemon/log_stamps.h"
#include "daemon/readiness.h"
#include "daemon/runtime.h"
#include "daemon/snapshot_builder.h"
#include "proxy/waker.h"
#include "store/registry.h"
#include "supervisor/log_rotate.h"

namespace privcast::daemon {

struct ManagerOptions {
  uint32_t host_id = 0;
  std::string region;
  Duration wake_timeout = std::chrono::seconds(30);
  Duration deploy_wait = std::chrono::seconds(10);           // how long deploy waits for listeners
  Duration probe_interval = std::chrono::microseconds(250);  // while a connection waits
  bool firewall = true;
  // Machine logs: size limit and rotated copies (supervisor/log_rotate.h), checked this often.
  supervisor::LogLimits log_limits;
  Duration log_check_interval = std::chrono::milliseconds(500);
  // An image (the id a machine was created with, or a release's [build] image reference) →
  // its layers and config; never pulls (the API made sure the store has it).
  // Unset: machines with an image cannot start (tests without an image store).
  std::function<Result<ImagePlan>(const std::string& image_id)> resolve_image;
  // Where volumes keep their files (daemon/volume_storage.h); empty: machines with a volume
  // cannot start (tests without a data dir).
  std::string volume_root;
  // The app's secrets, opened (ADR 0012): environment variables after [env]. Unset: none.
  std::function<Result<std::vector<std::pair<std::string, std::string>>>(const std::string& app)> secret_env;
  // Several hosts (etcd store, docs/cluster.md): the hosts alive now as (host id, region).
  // Set: `machine run --region R` for another region is placed on a live host of R (the one
  // with the fewest machines) and started by that host's daemon. Unset (one host): a region
  // is only a label, as before.
  std::function<Result<std::vector<std::pair<uint32_t, std::string>>>()> live_hosts;
  // Several hosts: every live host's underlay address (id → address). Set: on each reload the
  // manager routes the other live hosts' 6PN prefixes over the underlay, admits their proxies
  // in the firewall and makes their machines backends (SyncPeers). A failed read keeps the
  // last known set (the data path serves from the last snapshot while etcd is away).
  std::function<Result<std::map<uint32_t, std::string>>()> live_underlays;
};

class MachineManager final : public proxy::MachineWaker, public proxy::MachineStopper, private Deployer::Host {
 public:
  MachineManager(store::Registry* registry, MachineRuntime* runtime, ControlLoop* loop, AppEvents* events, Clock* clock,
                 ManagerOptions opts, PlanDecoder decode, std::function<void(SnapshotPtr)> publish);
  ~MachineManager() override;
  // The runtime (thread-safe methods only from other threads: Enter, LogPath).
  MachineRuntime* runtime() const { return runtime_; }

  // Control thread: adopt running machines, set up the host, first reconcile.
  Status Start();
  // Any thread: the store is now at `revision` (coalesced: one reconcile per burst). A
  // burst made only of the manager's own writes (its transitions, already applied to its
  // view) needs no reconcile: no full reload, no snapshot rebuild on the wake path.
  // revision <= 0: unknown, always reconcile.
  void NotifyStoreChanged(int64_t revision = 0);
  // Control thread, at shutdown: stop acting (running machines keep running).
  void Shutdown();

  // proxy::MachineWaker / MachineStopper (any thread).
  void Wake(const std::string& machine_id, uint16_t internal_port, proxy::Poster* reply_to,
            std::function<void(Status)> done) override;
  void Stop(const std::string& machine_id, bool suspend, const std::string& reason) override;
  // A DNS lookup of <app>.flycast (service "") or <service>.svc.<app>.flycast: wake the
  // nearest machine of the app (of that service) when none runs. Never blocks.
  void Prewarm(const std::string& app, const std::string& service = "");

  // Blocking calls for the API backend (any thread except the control thread).
  // Deploy and Scale are the Deployer's (deployer.h). regions (deploy --region, scale count N
  // --region ams,syd): a region is placed on a host of that region (this host for its own
  // region; in a cluster the live host of the region with the fewest machines; one host:
  // another region is FailedPrecondition).
  Result<DeployOutcome> Deploy(const store::App& app, const store::Release& release, bool ha,
                               const std::vector<std::string>& regions = {}) {
    return deployer_.Deploy(app, release, ha, regions);
  }
  Result<std::vector<store::Machine>> Scale(const store::App& app, int count,
                                            const std::vector<std::string>& regions = {}) {
    return deployer_.Scale(app, count, regions);
  }
  Result<store::Machine> RunMachine(const store::MachineSpec& spec);
  // Runs an attached machine to completion; returns its exit status.
  Result<int> RunAttached(const store::MachineSpec& spec, int in_fd, int out_fd, int err_fd, bool tty,
                          const std::function<bool()>& client_gone,
                          const std::function<void(const store::Machine&)>& on_started);

  SnapshotPtr snapshot() const;
  std::string LogPath(const std::string& machine_id);
  std::string MetricsText() const;

 private:
  using Waiter = WakeWaiter;
  // Per machine facts of the reconciler the store does not hold: a start owed after a stop.
  // (Readiness facts live in readiness_, attached runs in attached_, deploy rules in deployer_.)
  struct Rt {
    bool wake_pending = false;        // a wake arrived while stopping: start again after
    bool restart_after_stop = false;  // deploy replaced the config of a running machine
  };
  // An attached run (RunAttached: machine run --rm / --shell): the caller's stdio for the
  // machine's next launch, and who is told its exit status.
  struct Attached {
    struct Stdio {
      int in = -1, out = -1, err = -1;
      bool tty = false;
    };
    std::optional<Stdio> stdio;                     // until the launch takes it
    std::vector<std::function<void(int)>> on_exit;  // each called once, with the exit status
  };
  // ---- machine_manager.cc: the reconciler core
  Readiness::Hooks ReadinessHooks();
  void Reconcile();
  // True when every store revision in (seen_revision_, rev] is one of own_revisions_.
  bool OnlyOwnWritesThrough(int64_t rev);
  void Act(const store::Machine& m);
  void OnExit(const ExitInfo& e);
  void Publish() override;
  Result<store::Machine> Transition(const std::string& id, const std::vector<store::MachineState>& from,
                                    store::MachineState to, const std::string& event);
  const AppPlan* PlanFor(const std::string& app);
  std::vector<uint16_t> PortsFor(const store::Machine& m) override;
  bool IsReady(const store::Machine& m);
  void NoteEvent(const std::string& app, const std::string& source, const std::string& text) override;
  // Loads the store's state into state_ (and the volume view from it).
  Status ReloadState() override;
  // Every log_check_interval: rotates the logs of this host's machines that outgrew the limit,
  // and records when each log grew (LogStamper: the times of `privcast logs` machine lines).
  void CheckLogs();
  void ScheduleLogCheck();

  // ---- machine_launch.cc
  void LaunchMachine(const store::Machine& m);
  // What a machine runs: its command, env, limits, signals, restart policy.
  Result<LaunchPlan> BuildPlan(const store::Machine& m);
  // The start of `m` failed: record `failed` with the reason, fail waiters and attached runs.
  void FailLaunch(const store::Machine& m, const Status& st);
  // The exit listeners of m's attached run (none for other machines), taken: call each once.
  std::vector<std::function<void(int)>> TakeExitListeners(const std::string& id);

  // ---- machine_wake.cc (+ machine_wake_remote.cc): the proxy's requests, readiness probing
  void HandleWake(const std::string& id, Waiter w);
  void HandleStop(const std::string& id, bool suspend, const std::string& reason);
  // Wake of a suspended machine: thaw, answer the waiters, then record. False: not frozen
  // here or the thaw failed (the caller takes the start path).
  bool ResumeFirst(const store::Machine& m);
  // Readiness::Start, then a first probe round when there is something to wait for.
  void StartProbing(const std::string& id);
  // One Readiness round (step: probe intervals it stands for); publishes when a machine became
  // ready; schedules the next round on the loop.
  void ProbeTick(uint64_t step);
  // Wake across hosts: a machine of another live host is asked to start through the store
  // (its host's daemon starts it); the waiter is held until the machine listens on its 6PN
  // address over the underlay, or its deadline passes.
  bool WakeRemote(const std::string& id, Waiter& w);
  void PollRemoteWake(const std::string& id, Waiter w);

  // ---- host_sync.cc
  void SyncHost();
  // Each flycast address → the TCP ports of its app's current services (the firewall admits only those).
  FlycastPortMap FlycastPorts();
  // nftables from the networks, this host's machines (machines_) and flycast addresses;
  // nothing when they are as last applied.
  void SyncFirewall();
  // Cluster: reads the live hosts (opts_.live_underlays), syncs peer routes; loop thread.
  void SyncPeers();

  // ---- machine_deploy.cc: the Deployer's host (deployer.h has each method's contract)
  // Start(): apps whose machines are not all on the current release (a deploy was cut short by
  // a daemon stop) are brought to it, as the deploy would have.
  void ResumeInterruptedDeploys();
  std::vector<store::Machine>& StoreMachines() override { return state_.machines; }
  const AppPlan* FreshPlan(const std::string& app) override;
  // This host for its own region; else a live host of `region` (cluster) or FailedPrecondition.
  Result<uint32_t> HostForRegion(const std::string& region) override;
  // Records `to` for m: on this host acts at once (Transition, then Act or LaunchMachine); a
  // machine of another host only gets the store write (its daemon acts on it).
  void Intend(const store::Machine& m, const std::vector<store::MachineState>& from, store::MachineState to,
              const std::string& why) override;
  void MovedToRelease(const store::Machine& m, bool restart) override;
  void LaunchCreated(const store::MachineSpec& spec, const store::Machine& m) override;
  const store::Machine* LocalMachine(const std::string& id) override;

  // ---- machine_run.cc
  // machine run with a command: refused (InvalidArgument, why) when a machine cannot exec it.
  Status CheckRunCommand(const store::MachineSpec& spec);
  // A live host of `region` with the fewest machines (opts_.live_hosts set); loop thread.
  Result<uint32_t> PlaceInRegion(const std::string& region);

  // ---- volume_deploy.cc: the attachment view from state_, storage of destroyed volumes
  // removed; a deploy's machine of a group with [mounts] gets its volume.
  void SyncVolumes();
  Status GiveVolume(const store::App& app, const AppPlan::Group& g, const std::string& machine_id,
                    store::MachineSpec* spec) override;
  // A machine was created with spec.volume_id attached: record it in the view.
  void NoteAttached(const store::MachineSpec& spec, const std::string& machine_id);
  // The machine's attached volume as the runtime mounts it (storage created if missing).
  Result<std::vector<LaunchPlan::Volume>> VolumesFor(const store::Machine& m);

  store::Registry* registry_;
  MachineRuntime* runtime_;
  ControlLoop* loop_;
  AppEvents* events_;
  Clock* clock_;
  LogStamper log_stamper_;  // control loop only
  ManagerOptions opts_;
  PlanDecoder decode_;
  std::function<void(SnapshotPtr)> publish_;
  ReadinessSignal signal_;  // Deploy (API thread) waits on it
  Readiness readiness_;     // control thread
  Deployer deployer_;

  // control thread
  store::StateView state_;
  std::unordered_map<std::string, store::Machine> machines_;  // by id (this host's view)
  std::unordered_map<std::string, Rt> rt_;
  std::unordered_map<std::string, Attached> attached_;      // by machine id: attached runs only
  std::unordered_map<std::string, store::Volume> volumes_;  // by attached machine id (this host's view)
  std::set<std::string> volume_ids_;                        // every volume the store has (storage sweep)
  bool volumes_synced_ = false;
  std::unordered_map<std::string, std::pair<int64_t, std::shared_ptr<AppPlan>>> plans_;  // app → (version, plan)
  std::set<std::string> flycast_applied_;
  std::string firewall_key_;
  std::set<uint32_t> live_peers_;  // other live hosts (SyncPeers); empty on one host
  std::string peers_key_;          // what SyncPeers last applied
  std::set<Ip6> peers_applied_;    // the underlay addresses in it
  bool probe_scheduled_ = false;   // a ProbeTick is posted on the loop
  bool shut_down_ = false;
  // Delayed closures hold a weak reference: one due after this manager is destroyed (only on
  // the loop thread, as tests that restart the manager do) does nothing.
  std::shared_ptr<char> life_ = std::make_shared<char>();

  int64_t seen_revision_ = 0;        // store revision the manager's view reflects
  std::set<int64_t> own_revisions_;  // revisions of its own writes not yet seen as notified

  std::atomic<bool> reconcile_pending_{false};
  Mutex notify_mu_;  // NotifyStoreChanged (any thread) → the reconcile it posts
  int64_t notify_revision_ GUARDED_BY(notify_mu_) = 0;
  bool notify_force_ GUARDED_BY(notify_mu_) = false;
  mutable Mutex snap_mu_;  // the last published Snapshot, read by snapshot() on any thread
  SnapshotPtr snapshot_ GUARDED_BY(snap_mu_) = std::make_shared<const Snapshot>();

  // metrics (control thread writes, any thread reads)
  std::atomic<uint64_t> wakes_{0}, autostops_{0}, starts_{0}, prewarms_{0};
};

}  // namespace privcast::daemon
