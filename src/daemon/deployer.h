// Deployer: deploy and scale. How many machines of a release run per process group (and per
// region with --region, placed on that region's host in a cluster), which are kept, moved to
// the new release (a running one is stopped and started again), created or destroyed, and
// what a deploy reports (machines not listening, machines that failed to start). Split from
// MachineManager (issue 18).
//
// The deployer decides; the reconciler acts. Everything it does to a machine goes through its
// Host (the MachineManager): the view of the store it counts from, placing a region on a host,
// volumes, recording an intent (which the host acts on at once for its own machines),
// launching a machine it created. So the rules of a deploy live here and a machine's life
// stays in one place.
//
// Ownership: borrows the registry, the control loop, the ReadinessSignal and the Host (all
// outlive it); holds no machine state of its own.
// Threading: Deploy and Scale block the calling (API) thread and post their work to the
// control loop (never call them on it); Reconcile and every Host method run on the control
// thread only.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "daemon/app_plan.h"
#include "daemon/control_loop.h"
#include "daemon/readiness.h"
#include "store/registry.h"

namespace privcast::daemon {

// Deploy and scale manage (count, update, replace, destroy) the machines of a release that
// carry its services; machines from `machine run` are the user's.
bool IsDeployManaged(const store::Machine& m);
// The last_event of a machine a deploy stops to start it again with the new release.
inline constexpr const char* kDeployReplacing = "deploy: replacing config";
// The last_event of a failed machine: this prefix, then the error.
inline constexpr const char* kFailedToStart = "failed to start: ";

struct DeployOutcome {
  std::vector<std::string> warnings;
  std::vector<store::Machine> machines;
  // Machines that failed to start (state `failed`): how many, and each distinct reason once,
  // naming its machines ("<error> (machines a, b)"). Non-empty = the deploy failed.
  int failed = 0;
  std::vector<std::string> errors;
};

class Deployer {
 public:
  // What the deployer asks of the reconciler; control thread only.
  class Host {
   public:
    // Reloads the view of the store (every host's machines, volume attachments).
    virtual Status ReloadState() = 0;
    // The machines of that view; a machine the deployer created on another host is appended
    // (it counts for the next placement; its own host starts it).
    virtual std::vector<store::Machine>& StoreMachines() = 0;
    // The app's plan, decoded anew from its current release; nullptr when it does not decode.
    virtual const AppPlan* FreshPlan(const std::string& app) = 0;
    // This host for its own region; else a live host of `region` (cluster) or FailedPrecondition.
    virtual Result<uint32_t> HostForRegion(const std::string& region) = 0;
    // The volume of g's [mounts] for a machine of this host: attached to machine_id, or (a new
    // machine, machine_id "") put in *spec.
    virtual Status GiveVolume(const store::App& app, const AppPlan::Group& g, const std::string& machine_id,
                              store::MachineSpec* spec) = 0;
    // Records `to` for m; for this host's machine, acts on it at once.
    virtual void Intend(const store::Machine& m, const std::vector<store::MachineState>& from, store::MachineState to,
                        const std::string& why) = 0;
    // m, of this host, now has the new release (its record as written); restart: it runs, so
    // the stop the deployer asks for next is to be followed by a start.
    virtual void MovedToRelease(const store::Machine& m, bool restart) = 0;
    // A machine of this host the deployer created (spec: with its volume): record and launch it.
    virtual void LaunchCreated(const store::MachineSpec& spec, const store::Machine& m) = 0;
    // This host's current record of machine `id`; nullptr when it is not this host's.
    virtual const store::Machine* LocalMachine(const std::string& id) = 0;
    virtual std::vector<uint16_t> PortsFor(const store::Machine& m) = 0;  // its services' internal ports
    virtual void Publish() = 0;                                           // routing after the changes
    virtual void NoteEvent(const std::string& app, const std::string& source, const std::string& text) = 0;

   protected:
    ~Host() = default;
  };

  struct Options {
    uint32_t host_id = 0;
    std::string region;                               // this host's (where a deploy's machines go)
    Duration deploy_wait = std::chrono::seconds(10);  // Deploy waits this long (the signal's clock) for listeners
  };
  Deployer(store::Registry* registry, ControlLoop* loop, ReadinessSignal* signal, Host* host, Options opts);

  // API thread. regions (deploy --region, scale count N --region ams,syd): the machines per
  // process group in each region listed, placed on a host of that region (HostForRegion); the
  // other regions' machines keep their number but get the release. Empty: every region.
  [[nodiscard]] Result<DeployOutcome> Deploy(const store::App& app, const store::Release& release, bool ha,
                                             const std::vector<std::string>& regions);
  [[nodiscard]] Result<std::vector<store::Machine>> Scale(const store::App& app, int count,
                                                          const std::vector<std::string>& regions);
  // Control thread: the app's machines to `release`. count: machines per process group;
  // nullopt = Fly's HA default (2 when the app has services, else 1; a group with [mounts]
  // keeps what it has, at least 1).
  [[nodiscard]] Result<DeployOutcome> Reconcile(const store::App& app, const store::Release& release,
                                                std::optional<int> count, const std::vector<std::string>& regions);

 private:
  // The deploy-managed machines of one process group a ReconcileGroup acts on.
  struct GroupScope {
    std::function<bool(const store::Machine&)> contains;
    std::optional<int> want;  // how many; nullopt: as many as there are (release update only)
    std::string region;       // where new ones go ("" = this host's region)
  };
  // Every group of the plan, per region listed (then the regions not listed).
  Status ReconcileGroups(const store::App& app, const store::Release& release, const AppPlan& plan,
                         std::optional<int> count, const std::vector<std::string>& regions,
                         std::vector<std::string>* touched);
  // Count (destroy extras, create missing), move to `release`, start: one group, one scope.
  Status ReconcileGroup(const store::App& app, const store::Release& release, const AppPlan::Group& g,
                        const GroupScope& scope, std::vector<std::string>* touched);
  // One machine the group keeps: moved to `release` (replaced when running), started.
  Status Keep(const store::App& app, const store::Release& release, const AppPlan::Group& g, const store::Machine& m);
  // One new machine of the group in `region` ("" = this host's).
  Status Create(const store::App& app, const store::Release& release, const AppPlan::Group& g,
                const std::string& region, std::vector<std::string>* touched);
  // The live deploy-managed machines of app's `group` that `pred` accepts.
  std::vector<store::Machine> Managed(const std::string& app, const std::string& group,
                                      const std::function<bool(const store::Machine&)>& pred);
  // Scale to 0 without regions: every deploy-managed machine of the app is destroyed.
  void DestroyAll(const store::App& app);
  // The touched machines as the deploy reports them (and those with nothing to listen on: ready).
  DeployOutcome Outcome(const std::vector<std::string>& touched);
  // Deploy, after Reconcile: waits for this host's machines to listen; warnings, failures.
  void Report(const store::App& app, DeployOutcome* out);

  store::Registry* registry_;
  ControlLoop* loop_;
  ReadinessSignal* signal_;
  Host* host_;
  Options opts_;
};

}  // namespace privcast::daemon
