// Registry: the typed, validated operations on privcast's model, on top of a Store.
//
// Every public mutation is exactly one Store Txn (so it is all-or-nothing and a crash never
// leaves half a change); read-modify-write operations compare the mod_revision they read and
// retry a bounded number of times on conflict. Errors name what went wrong and what exists:
// `unknown app "foo" (apps: db, web)`, `org "acme" already exists` (docs/store.md lists them).
//
// Allocation rules:
//   - network ids: random net32 != 0, unique (checked in the same Txn via /netids/).
//   - flycast addresses: fdaa:<net32>:0:1::<n>, n from a per-network counter; a released
//     address is reused only after `released_cooldown` (>= the DNS TTL clients may cache),
//     oldest first.
//   - machine32: random, unique per host; link_slot: lowest free slot on the host.
//
// Thread-safety: all methods are thread-safe (the Store serialises; the Registry holds no
// mutable state besides options). The Registry does not own the Store or the Clock.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/region_table.h"
#include "common/result.h"
#include "store/model.h"
#include "store/store.h"

namespace privcast::store {

struct RegistryOptions {
  Duration released_cooldown = std::chrono::seconds(60);
  int max_cas_retries = 16;
};

// Everything the routing snapshot and the reconciler need, read at one revision.
struct StateView {
  int64_t revision = 0;
  std::vector<Host> hosts;
  std::vector<Org> orgs;
  std::vector<Network> networks;
  std::vector<App> apps;
  std::vector<Machine> machines;
  std::vector<IpAssignment> ips;
  std::vector<Release> current_releases;  // each app's current release (if deployed)
  std::vector<Volume> volumes;
  // The cluster's region table (/config/regions, ADR 0018); null = Fly's built-in one. A
  // stored table that does not decode is logged and ignored (null).
  std::shared_ptr<const RegionTable> regions;
};

struct MachineSpec {
  std::string app;
  std::string region;  // empty = the host's region
  std::string process_group = "app";
  int64_t release_version = 0;
  std::vector<std::string> cmd;
  std::vector<std::pair<std::string, std::string>> env;
  std::string image;  // canonical reference; "" = host-/usr root
  std::string image_id;
  bool auto_destroy = false;
  bool carries_services = false;       // Machine::carries_services
  std::optional<std::string> org;      // machine run --org: that org's default network
  std::optional<std::string> network;  // machine run --network: a named network of the app's org
  MachineState initial_state = MachineState::kCreated;
  // Attach this volume (of the same app, unattached) at `volume_path`, in the same Txn.
  std::string volume_id;
  std::string volume_path;
  std::optional<uint32_t> host_id;  // placed on this host (cluster); empty = the local host
};

class Registry {
 public:
  Registry(Store* store, const Clock* clock, RegistryOptions opts = {});

  // Makes sure this host's record exists and that org "personal" with its default network
  // exists. Idempotent; returns the host (its id is kept across restarts).
  Result<Host> Bootstrap(const std::string& region, const std::string& hostname);
  Result<Host> GetLocalHost();  // the host Bootstrap created

  // Orgs. Slugs are DNS labels.
  Result<Org> CreateOrg(const std::string& slug);
  Result<Org> GetOrg(const std::string& slug);
  Result<std::vector<Org>> ListOrgs();

  // Networks. Names are DNS labels, unique within an org; "default" is each org's default.
  Result<Network> CreateNetwork(const std::string& org, const std::string& name);
  Result<Network> GetNetwork(const std::string& org, const std::string& name);
  Result<std::vector<Network>> ListNetworks(const std::optional<std::string>& org);

  // Apps. Names are DNS labels, unique per host/cluster. org defaults to "personal";
  // network to the org's default network.
  Result<App> CreateApp(const std::string& name, const std::optional<std::string>& org,
                        const std::optional<std::string>& network);
  Result<App> GetApp(const std::string& name);
  Result<std::vector<App>> ListApps();
  // Removes the app, its releases, its IP assignments (into cooldown) and its machine
  // records. Fails with kFailedPrecondition while any machine is not stopped/destroyed.
  Status DestroyApp(const std::string& name);

  // Releases: each deploy stores the parsed, validated config; becomes the app's current.
  Result<Release> CreateRelease(const std::string& app, const std::string& config_json, const std::string& source,
                                const std::string& description = "Deploy", const std::string& user = "");
  // Every release of the app, oldest first.
  Result<std::vector<Release>> ListReleases(const std::string& app);
  // The deploy's outcome ("complete", "failed") on the release record.
  Status SetReleaseStatus(const std::string& app, int64_t version, const std::string& status);
  Result<Release> GetRelease(const std::string& app, int64_t version);
  Result<std::optional<Release>> CurrentRelease(const std::string& app);

  // Secrets (sealed by the caller). Set replaces same-named ones; Unset fails with kNotFound
  // (naming the app's secrets) when a name is not set, and then changes nothing.
  Status SetSecrets(const std::string& app, const std::vector<Secret>& secrets);
  Status UnsetSecrets(const std::string& app, const std::vector<std::string>& names);
  Result<std::vector<Secret>> ListSecrets(const std::string& app);  // sorted by name

  // Machines.
  Result<Machine> CreateMachine(const MachineSpec& spec);
  Result<Machine> GetMachine(const std::string& id);  // by id, any app
  Result<std::vector<Machine>> ListMachines(const std::optional<std::string>& app);
  // Compare-and-set state change: fails with kConflict if the machine is not in one of
  // `from` (empty = any) or the transition is illegal. `event` becomes last_event.
  Result<Machine> TransitionMachine(const std::string& id, const std::vector<MachineState>& from, MachineState to,
                                    const std::string& event);
  // Replace the machine's release/cmd (deploy updates machines in place).
  Result<Machine> UpdateMachineRelease(const std::string& id, int64_t release_version);
  Status DeleteMachine(const std::string& id);  // the record; teardown is the supervisor's

  // Volumes (docs/volumes.md). A volume belongs to one app and is attached to at most one
  // machine (of that app) at a time; DeleteMachine detaches, DestroyApp destroys them.
  Result<Volume> CreateVolume(const std::string& app, const std::string& name, const std::string& region,
                              uint32_t size_gb);
  Result<Volume> GetVolume(const std::string& id);  // by id, any app
  Result<std::vector<Volume>> ListVolumes(const std::optional<std::string>& app);
  // Attaches (or moves the path of) volume `id` to machine `machine_id` of the same app.
  // FailedPrecondition when it is attached to another machine; InvalidArgument when the
  // machine belongs to another app.
  Result<Volume> AttachVolume(const std::string& id, const std::string& machine_id, const std::string& path);
  // FailedPrecondition while attached (destroy the machine first, as on Fly).
  Status DestroyVolume(const std::string& id);

  // IP assignments (flycast addresses). With neither org nor network: the app's network.
  // org: that org's default network. network: a named network of the app's org.
  // service: a per-service address (ADR 0013; the caller checks the name against the app's
  // release); "" = the app's. At most one address per (app, network, service): allocating
  // again returns it.
  Result<IpAssignment> AllocateFlycast(const std::string& app, const std::optional<std::string>& org,
                                       const std::optional<std::string>& network, const std::string& service = "");
  Result<std::vector<IpAssignment>> ListIps(const std::optional<std::string>& app);
  Status ReleaseIp(const std::string& app, const std::string& address);

  // Everything, at one revision (for the routing snapshot and the reconciler).
  Result<StateView> LoadState();
  // Stores `table` as the cluster's region table unless the store holds an equal one
  // already; *changed says whether it wrote (store/region_record.h).
  Status PutRegionTable(const RegionTable& table, bool* changed);

  Store* store() const { return store_; }

 private:
  Store* store_;
  const Clock* clock_;
  RegistryOptions opts_;
};

}  // namespace privcast::store
