#include "store/registry.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include "common/addr.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/strings.h"
#include "store/codec.h"
#include "store/keys.h"
#include "store/region_record.h"

namespace privcast::store {
namespace {

constexpr const char* kPersonalOrg = "personal";
constexpr const char* kDefaultNetwork = "default";
constexpr size_t kMaxListed = 20;  // names listed in a "what exists" error message

// A decoded record and the mod_revision it was read at (for compare-and-set).
template <typename T>
struct Loaded {
  T v;
  int64_t rev = 0;
};

std::string Q(const std::string& s) { return "\"" + s + "\""; }

// "db, web" — sorted, "none" when empty, long lists cut short.
std::string NameList(std::vector<std::string> names) {
  if (names.empty()) return "none";
  std::sort(names.begin(), names.end());
  std::string out;
  for (size_t i = 0; i < names.size() && i < kMaxListed; ++i) {
    if (i) out += ", ";
    out += names[i];
  }
  if (names.size() > kMaxListed) out += ", and " + std::to_string(names.size() - kMaxListed) + " more";
  return out;
}

Status Corrupt(const std::string& key, const Status& st) {
  return Internal("corrupt record at " + key + ": " + st.message());
}

template <typename T>
Result<T> DecodeKv(const KeyValue& kv) {
  T v;
  Status st = Decode(kv.value, &v);
  if (!st.ok()) return Corrupt(kv.key, st);
  return v;
}

template <typename T>
Result<std::optional<Loaded<T>>> Load(Store* s, const std::string& key) {
  PC_ASSIGN_OR_RETURN(std::optional<KeyValue> kv, s->Get(key));
  if (!kv) return std::optional<Loaded<T>>();
  PC_ASSIGN_OR_RETURN(T v, DecodeKv<T>(*kv));
  return std::optional<Loaded<T>>(Loaded<T>{std::move(v), kv->mod_revision});
}

template <typename T>
Result<std::vector<T>> LoadAll(Store* s, const std::string& prefix) {
  PC_ASSIGN_OR_RETURN(RangeResult r, s->Range(prefix));
  std::vector<T> out;
  out.reserve(r.kvs.size());
  for (const KeyValue& kv : r.kvs) {
    PC_ASSIGN_OR_RETURN(T v, DecodeKv<T>(kv));
    out.push_back(std::move(v));
  }
  return out;
}

// The last path component of every key under prefix ("/apps/web" → "web").
Result<std::vector<std::string>> NamesUnder(Store* s, const std::string& prefix) {
  PC_ASSIGN_OR_RETURN(RangeResult r, s->Range(prefix));
  std::vector<std::string> out;
  for (const KeyValue& kv : r.kvs) out.push_back(kv.key.substr(prefix.size()));
  return out;
}

Compare ModRevEq(std::string key, int64_t rev) {
  return Compare{Compare::Kind::kModRevisionEq, std::move(key), rev, {}};
}
Compare NotExists(std::string key) { return Compare{Compare::Kind::kNotExists, std::move(key), 0, {}}; }
Compare Exists(std::string key) { return Compare{Compare::Kind::kExists, std::move(key), 0, {}}; }
Compare ValueEq(std::string key, std::string v) {
  return Compare{Compare::Kind::kValueEq, std::move(key), 0, std::move(v)};
}
Compare PrefixUnchanged(std::string prefix, int64_t rev) {
  return Compare{Compare::Kind::kPrefixModRevisionLe, std::move(prefix), rev, {}};
}

// Runs `attempt` until it commits (a value) or fails (a Status). An attempt that returns
// nullopt lost a compare to a concurrent writer and is retried from fresh reads.
template <typename R, typename F>
Result<R> WithRetries(int max_attempts, const std::string& what, F attempt) {
  for (int i = 0; i < std::max(1, max_attempts); ++i) {
    Result<std::optional<R>> r = attempt();
    if (!r.ok()) return r.status();
    if (r->has_value()) return std::move(**r);
  }
  return Conflict(what + ": the store kept changing underneath (" + std::to_string(max_attempts) + " attempts); retry");
}

Status CheckLabel(const std::string& what, const std::string& s) {
  if (ids::IsDnsLabel(s)) return Status::Ok();
  return InvalidArgument("invalid " + what + " " + Q(s) +
                         ": use 1-63 lowercase letters, digits and '-', not starting or ending with '-'");
}

Status CheckRegion(const std::string& s) {
  if (ids::IsRegionCode(s)) return Status::Ok();
  return InvalidArgument("invalid region " + Q(s) + ": a region code is 3 lowercase letters, e.g. ams");
}

uint32_t RandomNonZero32(uint32_t min = 1) {
  for (;;) {
    auto v = static_cast<uint32_t>(ids::RandomU64());
    if (v >= min) return v;
  }
}

// A random net32 whose /netids/ entry is free right now (the Txn re-checks it).
Result<uint32_t> PickNet32(Store* s) {
  for (int i = 0; i < 64; ++i) {
    uint32_t n = RandomNonZero32();
    PC_ASSIGN_OR_RETURN(std::optional<KeyValue> kv, s->Get(keys::NetId(n)));
    if (!kv) return n;
  }
  return Internal("could not find a free network id");
}

// Ops that create network `net` (record + id index).
void AddNetworkOps(const Network& net, TxnRequest* t) {
  t->compares.push_back(NotExists(keys::Network(net.org, net.name)));
  t->compares.push_back(NotExists(keys::NetId(net.net32)));
  t->success.push_back(Op::Put(keys::Network(net.org, net.name), Encode(net)));
  t->success.push_back(Op::Put(keys::NetId(net.net32), net.org + "/" + net.name));
}

Result<Loaded<Org>> RequireOrg(Store* s, const std::string& slug) {
  PC_ASSIGN_OR_RETURN(std::optional<Loaded<Org>> o, Load<Org>(s, keys::Org(slug)));
  if (o) return std::move(*o);
  PC_ASSIGN_OR_RETURN(std::vector<std::string> names, NamesUnder(s, keys::OrgPrefix()));
  return NotFound("unknown org " + Q(slug) + " (orgs: " + NameList(names) + ")");
}

Result<Loaded<Network>> RequireNetwork(Store* s, const std::string& org, const std::string& name) {
  PC_ASSIGN_OR_RETURN(std::optional<Loaded<Network>> n, Load<Network>(s, keys::Network(org, name)));
  if (n) return std::move(*n);
  PC_ASSIGN_OR_RETURN(std::vector<std::string> names, NamesUnder(s, keys::NetworkPrefix(org)));
  return NotFound("unknown network " + Q(name) + " in org " + Q(org) + " (networks: " + NameList(names) + ")");
}

Result<Loaded<App>> RequireApp(Store* s, const std::string& name) {
  PC_ASSIGN_OR_RETURN(std::optional<Loaded<App>> a, Load<App>(s, keys::App(name)));
  if (a) return std::move(*a);
  PC_ASSIGN_OR_RETURN(std::vector<std::string> names, NamesUnder(s, keys::AppPrefix()));
  return NotFound("unknown app " + Q(name) + " (apps: " + NameList(names) + ")");
}

Result<Loaded<Machine>> RequireMachine(Store* s, const std::string& id) {
  PC_ASSIGN_OR_RETURN(std::optional<KeyValue> idx, s->Get(keys::MachineId(id)));
  if (idx) {
    PC_ASSIGN_OR_RETURN(std::optional<Loaded<Machine>> m, Load<Machine>(s, keys::Machine(idx->value, id)));
    if (m) {
      m->v.mod_revision = m->rev;
      return std::move(*m);
    }
  }
  PC_ASSIGN_OR_RETURN(std::vector<std::string> names, NamesUnder(s, "/machineids/"));
  return NotFound("unknown machine " + Q(id) + " (machines: " + NameList(names) + ")");
}

// The network an app's address or machine goes on: neither → the app's own network;
// org → that org's default network; network → that named network of the app's org (of `org`
// when both are given).
Result<Loaded<Volume>> RequireVolume(Store* s, const std::string& id) {
  PC_ASSIGN_OR_RETURN(std::optional<KeyValue> idx, s->Get(keys::VolumeId(id)));
  std::optional<Loaded<Volume>> v;
  if (idx) {
    PC_ASSIGN_OR_RETURN(v, Load<Volume>(s, keys::Volume(idx->value, id)));
  }
  if (!v) return NotFound("unknown volume " + Q(id) + " (privcast volumes list)");
  return std::move(*v);
}

// A volume may be attached to `m` when it belongs to m's app and is unattached (or already
// attached to m).
Status CheckAttachable(const Volume& v, const Machine& m) {
  if (v.app != m.app) return InvalidArgument("volume " + v.id + " belongs to app " + Q(v.app) + ", not to " + Q(m.app));
  if (!v.attached_machine_id.empty() && v.attached_machine_id != m.id)
    return FailedPrecondition("volume " + v.id + " (" + v.name + ") is attached to machine " + v.attached_machine_id +
                              "; a volume is attached to one machine at a time");
  return Status::Ok();
}

// Detaches every volume attached to `m` (its record is being deleted).
Status AddDetachOps(Store* s, const Machine& m, TxnRequest* t) {
  PC_ASSIGN_OR_RETURN(RangeResult vols, s->Range(keys::VolumePrefix(m.app)));
  for (const KeyValue& kv : vols.kvs) {
    PC_ASSIGN_OR_RETURN(Volume v, DecodeKv<Volume>(kv));
    if (v.attached_machine_id != m.id) continue;
    v.attached_machine_id.clear();
    v.attached_path.clear();
    t->compares.push_back(ModRevEq(kv.key, kv.mod_revision));
    t->success.push_back(Op::Put(kv.key, Encode(v)));
  }
  return Status::Ok();
}

Result<Loaded<Network>> ResolveNetwork(Store* s, const App& app, const std::optional<std::string>& org,
                                       const std::optional<std::string>& network) {
  if (org) {
    PC_ASSIGN_OR_RETURN(Loaded<Org> o, RequireOrg(s, *org));
    return RequireNetwork(s, o.v.slug, network ? *network : o.v.default_network);
  }
  if (network) return RequireNetwork(s, app.org, *network);
  return RequireNetwork(s, app.org, app.network);
}

// Ops that free a live machine's per-host indexes (machine32, link slot), each guarded so a
// slot already handed to another machine is never touched.
Status AddFreeIndexOps(Store* s, const Machine& m, TxnRequest* t) {
  if (m.state == MachineState::kDestroyed) return Status::Ok();  // freed when it became destroyed
  for (const std::string& k : {keys::Machine32(m.host_id, m.machine32), keys::LinkSlot(m.host_id, m.link_slot)}) {
    PC_ASSIGN_OR_RETURN(std::optional<KeyValue> kv, s->Get(k));
    if (kv && kv->value == m.id) {
      t->compares.push_back(ValueEq(k, m.id));
      t->success.push_back(Op::Delete(k));
    }
  }
  return Status::Ok();
}

uint32_t FlycastN(const Ip6& a) {
  return static_cast<uint32_t>(a.b[12]) << 24 | static_cast<uint32_t>(a.b[13]) << 16 |
         static_cast<uint32_t>(a.b[14]) << 8 | a.b[15];
}

// Ops that move an assignment into the cooldown list.
void AddReleaseIpOps(const IpAssignment& ip, int64_t rev, int64_t now_ms, TxnRequest* t) {
  auto parsed = Ip6::Parse(ip.address);
  PC_CHECK_MSG(parsed.has_value(), ip.address);
  ReleasedAddress r{ip.address, ip.net32, FlycastN(*parsed), ip.app, now_ms};
  t->compares.push_back(ModRevEq(keys::Ip(ip.address), rev));
  t->success.push_back(Op::Delete(keys::Ip(ip.address)));
  t->success.push_back(Op::Put(keys::Released(r.net32, r.n), Encode(r)));
}

// Lowest free link slot of a host: the index is ordered by slot.
Result<uint32_t> LowestFreeLinkSlot(Store* s, uint32_t host_id) {
  PC_ASSIGN_OR_RETURN(RangeResult slots, s->Range(keys::LinkSlotPrefix(host_id)));
  uint32_t slot = 0;
  for (const KeyValue& kv : slots.kvs) {
    std::optional<uint32_t> used = ParseDecimal<uint32_t>(
        std::string_view(kv.key).substr(keys::LinkSlotPrefix(host_id).size()));
    if (!used) return Internal("corrupt link slot key " + Q(kv.key));
    if (*used != slot) break;
    ++slot;
  }
  if (slot >= addr::kMaxLinkSlots)
    return FailedPrecondition("host " + keys::Hex32(host_id) + " has no free link slots (" +
                              std::to_string(addr::kMaxLinkSlots) + " machines); delete destroyed machines");
  return slot;
}

// The fields of a new machine other than its ids (id, machine32 are chosen before).
void FillNewMachine(const MachineSpec& spec, const Network& net, const Host& host, uint32_t slot,
                    const std::string& group, int64_t now, Machine* m) {
  m->app = spec.app;
  m->org = net.org;
  m->network = net.name;
  m->net32 = net.net32;
  m->host_id = host.id;
  m->link_slot = slot;
  m->region = spec.region.empty() ? host.region : spec.region;
  m->process_group = group;
  m->state = spec.initial_state;
  m->release_version = spec.release_version;
  m->cmd = spec.cmd;
  m->env = spec.env;
  m->image = spec.image;
  m->image_id = spec.image_id;
  m->auto_destroy = spec.auto_destroy;
  m->carries_services = spec.carries_services;
  m->created_at = now;
  m->updated_at = now;
  m->last_event = std::string("created ") + MachineStateName(m->state);
}

}  // namespace

Registry::Registry(Store* store, const Clock* clock, RegistryOptions opts) : store_(store), clock_(clock), opts_(opts) {
  PC_CHECK(store_ != nullptr);
  PC_CHECK(clock_ != nullptr);
}

// ---------------------------------------------------------------------------------------------
// Hosts

Result<Host> Registry::Bootstrap(const std::string& region, const std::string& hostname) {
  PC_RETURN_IF_ERROR(CheckRegion(region));
  return WithRetries<Host>(opts_.max_cas_retries, "bootstrap", [&]() -> Result<std::optional<Host>> {
    TxnRequest t;
    int64_t now = clock_->WallUnixMillis();
    // This host's id: kept in /local/host so it survives restarts.
    PC_ASSIGN_OR_RETURN(std::optional<KeyValue> local, store_->Get(keys::kLocalHost));
    Host host;
    int64_t host_rev = 0;
    if (local) {
      std::optional<uint32_t> id = ParseInteger<uint32_t>(local->value, 16);
      if (!id || *id < addr::kFirstHostId)
        return Internal("corrupt record at " + std::string(keys::kLocalHost) + ": " + Q(local->value));
      host.id = *id;
      PC_ASSIGN_OR_RETURN(std::optional<Loaded<Host>> h, Load<Host>(store_, keys::Host(host.id)));
      if (h) {
        host = h->v;
        host_rev = h->rev;
      }
      t.compares.push_back(ModRevEq(keys::kLocalHost, local->mod_revision));
    } else {
      do {
        host.id = RandomNonZero32(addr::kFirstHostId);
        PC_ASSIGN_OR_RETURN(std::optional<KeyValue> taken, store_->Get(keys::Host(host.id)));
        if (!taken) break;
      } while (true);
      t.compares.push_back(NotExists(keys::kLocalHost));
      t.success.push_back(Op::Put(keys::kLocalHost, keys::Hex32(host.id)));
    }
    if (host_rev == 0 || host.region != region || host.hostname != hostname) {
      if (host_rev == 0) host.created_at = now;
      host.region = region;
      host.hostname = hostname;
      t.compares.push_back(ModRevEq(keys::Host(host.id), host_rev));
      t.success.push_back(Op::Put(keys::Host(host.id), Encode(host)));
    }
    // The default org and its default network, created once.
    PC_ASSIGN_OR_RETURN(std::optional<KeyValue> personal, store_->Get(keys::Org(kPersonalOrg)));
    if (!personal) {
      Org org{kPersonalOrg, kPersonalOrg, kDefaultNetwork, now};
      PC_ASSIGN_OR_RETURN(uint32_t net32, PickNet32(store_));
      t.compares.push_back(NotExists(keys::Org(kPersonalOrg)));
      t.success.push_back(Op::Put(keys::Org(kPersonalOrg), Encode(org)));
      AddNetworkOps(Network{kPersonalOrg, kDefaultNetwork, net32, true, now}, &t);
    }
    if (t.success.empty()) return std::optional<Host>(host);
    PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
    if (!r.succeeded) return std::optional<Host>();
    return std::optional<Host>(host);
  });
}

Result<Host> Registry::GetLocalHost() {
  PC_ASSIGN_OR_RETURN(std::optional<KeyValue> local, store_->Get(keys::kLocalHost));
  if (!local) return FailedPrecondition("this host is not bootstrapped yet (no " + std::string(keys::kLocalHost) + ")");
  std::optional<uint32_t> id = ParseInteger<uint32_t>(local->value, 16);
  if (!id) return Internal("corrupt record at " + std::string(keys::kLocalHost));
  PC_ASSIGN_OR_RETURN(std::optional<Loaded<Host>> h, Load<Host>(store_, keys::Host(*id)));
  if (!h) return Internal("host record " + keys::Host(*id) + " is missing");
  return h->v;
}

// ---------------------------------------------------------------------------------------------
// Orgs and networks

Result<Org> Registry::CreateOrg(const std::string& slug) {
  PC_RETURN_IF_ERROR(CheckLabel("org slug", slug));
  return WithRetries<Org>(opts_.max_cas_retries, "create org", [&]() -> Result<std::optional<Org>> {
    PC_ASSIGN_OR_RETURN(std::optional<KeyValue> existing, store_->Get(keys::Org(slug)));
    if (existing) return AlreadyExists("org " + Q(slug) + " already exists");
    int64_t now = clock_->WallUnixMillis();
    Org org{slug, slug, kDefaultNetwork, now};
    PC_ASSIGN_OR_RETURN(uint32_t net32, PickNet32(store_));
    TxnRequest t;
    t.compares.push_back(NotExists(keys::Org(slug)));
    t.success.push_back(Op::Put(keys::Org(slug), Encode(org)));
    AddNetworkOps(Network{slug, kDefaultNetwork, net32, true, now}, &t);
    PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
    if (!r.succeeded) return std::optional<Org>();
    return std::optional<Org>(org);
  });
}

Result<Org> Registry::GetOrg(const std::string& slug) {
  PC_ASSIGN_OR_RETURN(Loaded<Org> o, RequireOrg(store_, slug));
  return o.v;
}

Result<std::vector<Org>> Registry::ListOrgs() { return LoadAll<Org>(store_, keys::OrgPrefix()); }

Result<Network> Registry::CreateNetwork(const std::string& org, const std::string& name) {
  PC_RETURN_IF_ERROR(CheckLabel("network name", name));
  return WithRetries<Network>(opts_.max_cas_retries, "create network", [&]() -> Result<std::optional<Network>> {
    PC_ASSIGN_OR_RETURN(Loaded<Org> o, RequireOrg(store_, org));
    PC_ASSIGN_OR_RETURN(std::optional<KeyValue> existing, store_->Get(keys::Network(org, name)));
    if (existing) return AlreadyExists("network " + Q(name) + " already exists in org " + Q(org));
    PC_ASSIGN_OR_RETURN(uint32_t net32, PickNet32(store_));
    Network net{org, name, net32, false, clock_->WallUnixMillis()};
    TxnRequest t;
    t.compares.push_back(ModRevEq(keys::Org(org), o.rev));
    AddNetworkOps(net, &t);
    PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
    if (!r.succeeded) return std::optional<Network>();
    return std::optional<Network>(net);
  });
}

Result<Network> Registry::GetNetwork(const std::string& org, const std::string& name) {
  PC_ASSIGN_OR_RETURN(Loaded<Org> o, RequireOrg(store_, org));
  PC_ASSIGN_OR_RETURN(Loaded<Network> n, RequireNetwork(store_, o.v.slug, name));
  return n.v;
}

Result<std::vector<Network>> Registry::ListNetworks(const std::optional<std::string>& org) {
  if (!org) return LoadAll<Network>(store_, keys::NetworkPrefix());
  PC_ASSIGN_OR_RETURN(Loaded<Org> o, RequireOrg(store_, *org));
  return LoadAll<Network>(store_, keys::NetworkPrefix(o.v.slug));
}

// ---------------------------------------------------------------------------------------------
// Apps and releases

Result<App> Registry::CreateApp(const std::string& name, const std::optional<std::string>& org,
                                const std::optional<std::string>& network) {
  PC_RETURN_IF_ERROR(CheckLabel("app name", name));
  return WithRetries<App>(opts_.max_cas_retries, "create app", [&]() -> Result<std::optional<App>> {
    PC_ASSIGN_OR_RETURN(Loaded<Org> o, RequireOrg(store_, org.value_or(kPersonalOrg)));
    PC_ASSIGN_OR_RETURN(Loaded<Network> n, RequireNetwork(store_, o.v.slug, network.value_or(o.v.default_network)));
    PC_ASSIGN_OR_RETURN(std::optional<KeyValue> existing, store_->Get(keys::App(name)));
    if (existing) return AlreadyExists("app " + Q(name) + " already exists");
    App app{name, o.v.slug, n.v.name, clock_->WallUnixMillis(), 0};
    TxnRequest t;
    t.compares = {NotExists(keys::App(name)), ModRevEq(keys::Org(o.v.slug), o.rev),
                  ModRevEq(keys::Network(n.v.org, n.v.name), n.rev)};
    t.success.push_back(Op::Put(keys::App(name), Encode(app)));
    PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
    if (!r.succeeded) return std::optional<App>();
    return std::optional<App>(app);
  });
}

Result<App> Registry::GetApp(const std::string& name) {
  PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, name));
  return a.v;
}

Result<std::vector<App>> Registry::ListApps() { return LoadAll<App>(store_, keys::AppPrefix()); }

Status Registry::DestroyApp(const std::string& name) {
  Result<bool> r = WithRetries<bool>(opts_.max_cas_retries, "destroy app", [&]() -> Result<std::optional<bool>> {
    PC_ASSIGN_OR_RETURN(Loaded<App> app, RequireApp(store_, name));
    PC_ASSIGN_OR_RETURN(RangeResult machines, store_->Range(keys::MachinePrefix(name)));
    PC_ASSIGN_OR_RETURN(RangeResult flycast, store_->Range(keys::FlycastIndexPrefix(name)));
    TxnRequest t;
    t.compares = {ModRevEq(keys::App(name), app.rev), PrefixUnchanged(keys::MachinePrefix(name), machines.revision),
                  PrefixUnchanged(keys::FlycastIndexPrefix(name), flycast.revision)};
    std::vector<Machine> ms;
    std::vector<std::string> busy;
    for (const KeyValue& kv : machines.kvs) {
      PC_ASSIGN_OR_RETURN(Machine m, DecodeKv<Machine>(kv));
      if (m.state != MachineState::kStopped && m.state != MachineState::kDestroyed && m.state != MachineState::kFailed)
        busy.push_back(m.id + " (" + MachineStateName(m.state) + ")");
      ms.push_back(std::move(m));
    }
    if (!busy.empty())
      return FailedPrecondition("app " + Q(name) + " has machines that are not stopped: " + NameList(busy) +
                                "; stop or destroy them first");
    for (const Machine& m : ms) {
      PC_RETURN_IF_ERROR(AddFreeIndexOps(store_, m, &t));
      t.success.push_back(Op::Delete(keys::MachineId(m.id)));
    }
    int64_t now = clock_->WallUnixMillis();
    for (const KeyValue& kv : flycast.kvs) {
      PC_ASSIGN_OR_RETURN(std::optional<Loaded<IpAssignment>> ip, Load<IpAssignment>(store_, keys::Ip(kv.value)));
      if (!ip) continue;  // index without record: nothing to cool down
      AddReleaseIpOps(ip->v, ip->rev, now, &t);
    }
    t.success.push_back(Op::Delete(keys::App(name)));
    t.success.push_back(Op::DeletePrefix(keys::ReleasePrefix(name)));
    t.success.push_back(Op::DeletePrefix(keys::SecretPrefix(name)));
    t.success.push_back(Op::DeletePrefix(keys::MachinePrefix(name)));
    t.success.push_back(Op::DeletePrefix(keys::FlycastIndexPrefix(name)));
    // Its volumes go with it (their storage is removed by the daemon when the records are gone).
    PC_ASSIGN_OR_RETURN(RangeResult vols, store_->Range(keys::VolumePrefix(name)));
    t.compares.push_back(PrefixUnchanged(keys::VolumePrefix(name), vols.revision));
    for (const KeyValue& kv : vols.kvs)
      t.success.push_back(Op::Delete(keys::VolumeId(kv.key.substr(keys::VolumePrefix(name).size()))));
    t.success.push_back(Op::DeletePrefix(keys::VolumePrefix(name)));
    PC_ASSIGN_OR_RETURN(TxnResponse resp, store_->Txn(t));
    if (!resp.succeeded) return std::optional<bool>();
    return std::optional<bool>(true);
  });
  return r.status();
}

Result<Release> Registry::CreateRelease(const std::string& app, const std::string& config_json,
                                        const std::string& source, const std::string& description,
                                        const std::string& user) {
  return WithRetries<Release>(opts_.max_cas_retries, "create release", [&]() -> Result<std::optional<Release>> {
    PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, app));
    Release rel{app, a.v.current_release + 1, config_json, source, clock_->WallUnixMillis(), "pending", description,
                user};
    App updated = a.v;
    updated.current_release = rel.version;
    TxnRequest t;
    t.compares = {ModRevEq(keys::App(app), a.rev), NotExists(keys::Release(app, rel.version))};
    t.success = {Op::Put(keys::Release(app, rel.version), Encode(rel)), Op::Put(keys::App(app), Encode(updated))};
    PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
    if (!r.succeeded) return std::optional<Release>();
    return std::optional<Release>(rel);
  });
}

Result<Release> Registry::GetRelease(const std::string& app, int64_t version) {
  PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, app));
  if (version > 0) {
    PC_ASSIGN_OR_RETURN(std::optional<Loaded<Release>> rel, Load<Release>(store_, keys::Release(app, version)));
    if (rel) return rel->v;
  }
  PC_ASSIGN_OR_RETURN(std::vector<std::string> names, NamesUnder(store_, keys::ReleasePrefix(app)));
  for (std::string& n : names) n = std::to_string(ParseDecimal<int64_t>(n).value_or(0));
  return NotFound("unknown release " + std::to_string(version) + " of app " + Q(app) +
                  " (releases: " + NameList(names) + ")");
}

Result<std::vector<Release>> Registry::ListReleases(const std::string& app) {
  PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, app));
  (void)a;
  return LoadAll<Release>(store_, keys::ReleasePrefix(app));  // keys sort by %08d version
}

Status Registry::SetReleaseStatus(const std::string& app, int64_t version, const std::string& status) {
  auto r = WithRetries<bool>(opts_.max_cas_retries, "set release status", [&]() -> Result<std::optional<bool>> {
    PC_ASSIGN_OR_RETURN(std::optional<Loaded<Release>> rel, Load<Release>(store_, keys::Release(app, version)));
    if (!rel) return NotFound("unknown release " + std::to_string(version) + " of app " + Q(app));
    rel->v.status = status;
    TxnRequest t;
    t.compares = {ModRevEq(keys::Release(app, version), rel->rev)};
    t.success = {Op::Put(keys::Release(app, version), Encode(rel->v))};
    PC_ASSIGN_OR_RETURN(TxnResponse resp, store_->Txn(t));
    if (!resp.succeeded) return std::optional<bool>();
    return std::optional<bool>(true);
  });
  return r.ok() ? Status::Ok() : r.status();
}

Status Registry::SetSecrets(const std::string& app, const std::vector<Secret>& secrets) {
  auto r = WithRetries<bool>(opts_.max_cas_retries, "set secrets", [&]() -> Result<std::optional<bool>> {
    PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, app));
    TxnRequest t;
    t.compares = {ModRevEq(keys::App(app), a.rev)};  // not destroyed meanwhile
    for (const Secret& s : secrets) t.success.push_back(Op::Put(keys::Secret(app, s.name), Encode(s)));
    PC_ASSIGN_OR_RETURN(TxnResponse resp, store_->Txn(t));
    if (!resp.succeeded) return std::optional<bool>();
    return std::optional<bool>(true);
  });
  return r.ok() ? Status::Ok() : r.status();
}

Status Registry::UnsetSecrets(const std::string& app, const std::vector<std::string>& names) {
  auto r = WithRetries<bool>(opts_.max_cas_retries, "unset secrets", [&]() -> Result<std::optional<bool>> {
    PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, app));
    PC_ASSIGN_OR_RETURN(std::vector<std::string> have, NamesUnder(store_, keys::SecretPrefix(app)));
    TxnRequest t;
    t.compares = {ModRevEq(keys::App(app), a.rev)};
    for (const std::string& n : names) {
      if (std::find(have.begin(), have.end(), n) == have.end())
        return NotFound("app " + Q(app) + " has no secret " + Q(n) + " (secrets: " + NameList(have) + ")");
      t.compares.push_back(Exists(keys::Secret(app, n)));
      t.success.push_back(Op::Delete(keys::Secret(app, n)));
    }
    PC_ASSIGN_OR_RETURN(TxnResponse resp, store_->Txn(t));
    if (!resp.succeeded) return std::optional<bool>();
    return std::optional<bool>(true);
  });
  return r.ok() ? Status::Ok() : r.status();
}

Result<std::vector<Secret>> Registry::ListSecrets(const std::string& app) {
  PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, app));
  (void)a;
  return LoadAll<Secret>(store_, keys::SecretPrefix(app));
}

Result<std::optional<Release>> Registry::CurrentRelease(const std::string& app) {
  PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, app));
  if (a.v.current_release == 0) return std::optional<Release>();
  PC_ASSIGN_OR_RETURN(Release rel, GetRelease(app, a.v.current_release));
  return std::optional<Release>(std::move(rel));
}

// ---------------------------------------------------------------------------------------------
// Machines

Result<Machine> Registry::CreateMachine(const MachineSpec& spec) {
  if (spec.initial_state == MachineState::kDestroying || spec.initial_state == MachineState::kDestroyed)
    return InvalidArgument(std::string("a machine cannot be created ") + MachineStateName(spec.initial_state));
  const std::string group = spec.process_group.empty() ? "app" : spec.process_group;
  PC_RETURN_IF_ERROR(CheckLabel("process group", group));
  if (!spec.region.empty()) PC_RETURN_IF_ERROR(CheckRegion(spec.region));
  return WithRetries<Machine>(opts_.max_cas_retries, "create machine", [&]() -> Result<std::optional<Machine>> {
    PC_ASSIGN_OR_RETURN(Loaded<App> app, RequireApp(store_, spec.app));
    PC_ASSIGN_OR_RETURN(Loaded<Network> net, ResolveNetwork(store_, app.v, spec.org, spec.network));
    Host host;
    if (spec.host_id) {
      // Placed on another host (docs/cluster.md): its record must exist; its daemon starts it.
      PC_ASSIGN_OR_RETURN(std::optional<Loaded<Host>> h, Load<Host>(store_, keys::Host(*spec.host_id)));
      if (!h) return NotFound("unknown host " + keys::Hex32(*spec.host_id));
      host = h->v;
    } else {
      PC_ASSIGN_OR_RETURN(host, GetLocalHost());
    }
    TxnRequest t;
    t.compares = {ModRevEq(keys::App(spec.app), app.rev), ModRevEq(keys::Network(net.v.org, net.v.name), net.rev)};
    if (spec.release_version > 0) {
      PC_ASSIGN_OR_RETURN(std::optional<KeyValue> rel, store_->Get(keys::Release(spec.app, spec.release_version)));
      if (!rel) return GetRelease(spec.app, spec.release_version).status();
      t.compares.push_back(Exists(keys::Release(spec.app, spec.release_version)));
    }
    Machine m;
    for (;;) {
      m.id = ids::NewMachineId();
      PC_ASSIGN_OR_RETURN(std::optional<KeyValue> taken, store_->Get(keys::MachineId(m.id)));
      if (!taken) break;
    }
    for (;;) {
      m.machine32 = RandomNonZero32();
      PC_ASSIGN_OR_RETURN(std::optional<KeyValue> taken, store_->Get(keys::Machine32(host.id, m.machine32)));
      if (!taken) break;
    }
    PC_ASSIGN_OR_RETURN(uint32_t slot, LowestFreeLinkSlot(store_, host.id));
    FillNewMachine(spec, net.v, host, slot, group, clock_->WallUnixMillis(), &m);
    for (const std::string& k : {keys::MachineId(m.id), keys::Machine32(host.id, m.machine32),
                                 keys::LinkSlot(host.id, slot), keys::Machine(m.app, m.id)})
      t.compares.push_back(NotExists(k));
    t.success = {Op::Put(keys::Machine(m.app, m.id), Encode(m)), Op::Put(keys::MachineId(m.id), m.app),
                 Op::Put(keys::Machine32(host.id, m.machine32), m.id), Op::Put(keys::LinkSlot(host.id, slot), m.id)};
    if (!spec.volume_id.empty()) {
      PC_ASSIGN_OR_RETURN(Loaded<Volume> vol, RequireVolume(store_, spec.volume_id));
      PC_RETURN_IF_ERROR(CheckAttachable(vol.v, m));
      vol.v.attached_machine_id = m.id;
      vol.v.attached_path = spec.volume_path;
      t.compares.push_back(ModRevEq(keys::Volume(vol.v.app, vol.v.id), vol.rev));
      t.success.push_back(Op::Put(keys::Volume(vol.v.app, vol.v.id), Encode(vol.v)));
    }
    PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
    if (!r.succeeded) return std::optional<Machine>();
    m.mod_revision = r.revision;
    return std::optional<Machine>(std::move(m));
  });
}

Result<Machine> Registry::GetMachine(const std::string& id) {
  PC_ASSIGN_OR_RETURN(Loaded<Machine> m, RequireMachine(store_, id));
  return m.v;
}

Result<std::vector<Machine>> Registry::ListMachines(const std::optional<std::string>& app) {
  std::string prefix = keys::MachinePrefix();
  if (app) {
    PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, *app));
    prefix = keys::MachinePrefix(a.v.name);
  }
  PC_ASSIGN_OR_RETURN(RangeResult r, store_->Range(prefix));
  std::vector<Machine> out;
  for (const KeyValue& kv : r.kvs) {
    PC_ASSIGN_OR_RETURN(Machine m, DecodeKv<Machine>(kv));
    m.mod_revision = kv.mod_revision;
    out.push_back(std::move(m));
  }
  return out;
}

Result<Machine> Registry::TransitionMachine(const std::string& id, const std::vector<MachineState>& from,
                                            MachineState to, const std::string& event) {
  return WithRetries<Machine>(opts_.max_cas_retries, "machine " + id, [&]() -> Result<std::optional<Machine>> {
    PC_ASSIGN_OR_RETURN(Loaded<Machine> lm, RequireMachine(store_, id));
    Machine m = lm.v;
    if (!from.empty() && std::find(from.begin(), from.end(), m.state) == from.end()) {
      std::string want;
      for (MachineState s : from) want += std::string(want.empty() ? "" : " or ") + MachineStateName(s);
      return Conflict("machine " + id + " is " + MachineStateName(m.state) + ", not " + want);
    }
    if (!IsLegalTransition(m.state, to))
      return Conflict("machine " + id + " cannot go from " + MachineStateName(m.state) + " to " + MachineStateName(to));
    TxnRequest t;
    t.compares.push_back(ModRevEq(keys::Machine(m.app, id), lm.rev));
    // A destroyed machine gives back its machine32 and link slot (its /112 and /31 are gone).
    if (to == MachineState::kDestroyed) PC_RETURN_IF_ERROR(AddFreeIndexOps(store_, m, &t));
    m.state = to;
    m.updated_at = clock_->WallUnixMillis();
    m.last_event = event;
    t.success.push_back(Op::Put(keys::Machine(m.app, id), Encode(m)));
    PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
    if (!r.succeeded) return std::optional<Machine>();
    m.mod_revision = r.revision;
    return std::optional<Machine>(std::move(m));
  });
}

Result<Machine> Registry::UpdateMachineRelease(const std::string& id, int64_t release_version) {
  return WithRetries<Machine>(opts_.max_cas_retries, "machine " + id, [&]() -> Result<std::optional<Machine>> {
    PC_ASSIGN_OR_RETURN(Loaded<Machine> lm, RequireMachine(store_, id));
    Machine m = lm.v;
    if (m.state == MachineState::kDestroying || m.state == MachineState::kDestroyed)
      return FailedPrecondition("machine " + id + " is " + MachineStateName(m.state));
    TxnRequest t;
    t.compares.push_back(ModRevEq(keys::Machine(m.app, id), lm.rev));
    if (release_version > 0) {
      PC_ASSIGN_OR_RETURN(std::optional<KeyValue> rel, store_->Get(keys::Release(m.app, release_version)));
      if (!rel) return GetRelease(m.app, release_version).status();
      t.compares.push_back(Exists(keys::Release(m.app, release_version)));
    }
    m.release_version = release_version;
    m.updated_at = clock_->WallUnixMillis();
    t.success.push_back(Op::Put(keys::Machine(m.app, id), Encode(m)));
    PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
    if (!r.succeeded) return std::optional<Machine>();
    m.mod_revision = r.revision;
    return std::optional<Machine>(std::move(m));
  });
}

Status Registry::DeleteMachine(const std::string& id) {
  return WithRetries<bool>(opts_.max_cas_retries, "machine " + id,
                           [&]() -> Result<std::optional<bool>> {
                             PC_ASSIGN_OR_RETURN(Loaded<Machine> lm, RequireMachine(store_, id));
                             TxnRequest t;
                             t.compares.push_back(ModRevEq(keys::Machine(lm.v.app, id), lm.rev));
                             PC_RETURN_IF_ERROR(AddFreeIndexOps(store_, lm.v, &t));
                             PC_RETURN_IF_ERROR(AddDetachOps(store_, lm.v, &t));
                             t.success.push_back(Op::Delete(keys::Machine(lm.v.app, id)));
                             t.success.push_back(Op::Delete(keys::MachineId(id)));
                             PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
                             if (!r.succeeded) return std::optional<bool>();
                             return std::optional<bool>(true);
                           })
      .status();
}

// ---------------------------------------------------------------------------------------------
// Flycast addresses

Result<IpAssignment> Registry::AllocateFlycast(const std::string& app, const std::optional<std::string>& org,
                                               const std::optional<std::string>& network, const std::string& service) {
  return WithRetries<IpAssignment>(
      opts_.max_cas_retries, "allocate flycast address", [&]() -> Result<std::optional<IpAssignment>> {
        PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, app));
        PC_ASSIGN_OR_RETURN(Loaded<Network> net, ResolveNetwork(store_, a.v, org, network));
        const uint32_t net32 = net.v.net32;
        // At most one flycast address per app and network: allocating again returns it.
        PC_ASSIGN_OR_RETURN(std::optional<KeyValue> idx, store_->Get(keys::FlycastIndex(app, net32, service)));
        if (idx) {
          PC_ASSIGN_OR_RETURN(std::optional<Loaded<IpAssignment>> ip, Load<IpAssignment>(store_, keys::Ip(idx->value)));
          if (ip) return std::optional<IpAssignment>(ip->v);
          return Internal("flycast index " + idx->key + " points at missing " + keys::Ip(idx->value));
        }
        TxnRequest t;
        t.compares = {ModRevEq(keys::App(app), a.rev), ModRevEq(keys::Network(net.v.org, net.v.name), net.rev),
                      NotExists(keys::FlycastIndex(app, net32, service))};
        int64_t now = clock_->WallUnixMillis();
        const int64_t cooldown_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(opts_.released_cooldown).count();
        // A released address whose cooldown is over, oldest release first; else a fresh n.
        PC_ASSIGN_OR_RETURN(RangeResult released, store_->Range(keys::ReleasedPrefix(net32)));
        std::optional<ReleasedAddress> reuse;
        int64_t reuse_rev = 0;
        for (const KeyValue& kv : released.kvs) {
          PC_ASSIGN_OR_RETURN(ReleasedAddress ra, DecodeKv<ReleasedAddress>(kv));
          if (now - ra.released_at < cooldown_ms) continue;
          if (!reuse || ra.released_at < reuse->released_at) {
            reuse = ra;
            reuse_rev = kv.mod_revision;
          }
        }
        uint32_t n = 0;
        if (reuse) {
          n = reuse->n;
          t.compares.push_back(ModRevEq(keys::Released(net32, n), reuse_rev));
          t.success.push_back(Op::Delete(keys::Released(net32, n)));
        } else {
          PC_ASSIGN_OR_RETURN(std::optional<KeyValue> seq, store_->Get(keys::FlycastSeq(net32)));
          uint64_t next = 1;  // n = 0 would be the /80's subnet-router anycast address
          if (seq) {
            next = ParseDecimal<uint64_t>(seq->value).value_or(0);
            if (next == 0) return Internal("corrupt record at " + seq->key + ": " + Q(seq->value));
          }
          if (next > 0xffffffffULL)
            return FailedPrecondition("network " + Q(net.v.name) + " of org " + Q(net.v.org) +
                                      " has no flycast addresses left; release some and wait for their cooldown");
          n = static_cast<uint32_t>(next);
          t.compares.push_back(ModRevEq(keys::FlycastSeq(net32), seq ? seq->mod_revision : 0));
          t.success.push_back(Op::Put(keys::FlycastSeq(net32), std::to_string(next + 1)));
        }
        IpAssignment ip;
        ip.address = addr::FlycastAddress(net32, n).ToString();
        ip.app = app;
        ip.org = net.v.org;
        ip.network = net.v.name;
        ip.net32 = net32;
        ip.service = service;
        ip.created_at = now;
        t.compares.push_back(NotExists(keys::Ip(ip.address)));
        t.success.push_back(Op::Put(keys::Ip(ip.address), Encode(ip)));
        t.success.push_back(Op::Put(keys::FlycastIndex(app, net32, service), ip.address));
        PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
        if (!r.succeeded) return std::optional<IpAssignment>();
        return std::optional<IpAssignment>(std::move(ip));
      });
}

Result<std::vector<IpAssignment>> Registry::ListIps(const std::optional<std::string>& app) {
  if (app) PC_RETURN_IF_ERROR(RequireApp(store_, *app).status());
  PC_ASSIGN_OR_RETURN(std::vector<IpAssignment> all, LoadAll<IpAssignment>(store_, keys::IpPrefix()));
  if (!app) return all;
  std::vector<IpAssignment> out;
  for (IpAssignment& ip : all)
    if (ip.app == *app) out.push_back(std::move(ip));
  return out;
}

Status Registry::ReleaseIp(const std::string& app, const std::string& address) {
  return WithRetries<bool>(opts_.max_cas_retries, "release " + address,
                           [&]() -> Result<std::optional<bool>> {
                             PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, app));
                             auto parsed = Ip6::Parse(address);
                             if (!parsed) return InvalidArgument("invalid IP address " + Q(address));
                             const std::string canonical = parsed->ToString();
                             PC_ASSIGN_OR_RETURN(std::optional<Loaded<IpAssignment>> ip,
                                                 Load<IpAssignment>(store_, keys::Ip(canonical)));
                             if (!ip || ip->v.app != app) {
                               PC_ASSIGN_OR_RETURN(RangeResult mine, store_->Range(keys::FlycastIndexPrefix(app)));
                               std::vector<std::string> addrs;
                               for (const KeyValue& kv : mine.kvs) addrs.push_back(kv.value);
                               return NotFound("app " + Q(app) + " has no address " + Q(address) +
                                               " (addresses: " + NameList(addrs) + ")");
                             }
                             TxnRequest t;
                             t.compares.push_back(ModRevEq(keys::App(app), a.rev));
                             AddReleaseIpOps(ip->v, ip->rev, clock_->WallUnixMillis(), &t);
                             const std::string idx = keys::FlycastIndex(app, ip->v.net32, ip->v.service);
                             t.compares.push_back(ValueEq(idx, canonical));
                             t.success.push_back(Op::Delete(idx));
                             PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
                             if (!r.succeeded) return std::optional<bool>();
                             return std::optional<bool>(true);
                           })
      .status();
}

// ---------------------------------------------------------------------------------------------
// Everything at one revision

// ---------------------------------------------------------------------------------------------
// Volumes

Result<Volume> Registry::CreateVolume(const std::string& app, const std::string& name, const std::string& region,
                                      uint32_t size_gb) {
  if (!ids::IsVolumeName(name))
    return InvalidArgument("invalid volume name " + Q(name) + ": use 1-30 lowercase letters, digits and '_'");
  if (size_gb < 1 || size_gb > 500)
    return InvalidArgument("volume size must be 1-500 GB, got " + std::to_string(size_gb));
  if (!region.empty()) PC_RETURN_IF_ERROR(CheckRegion(region));
  return WithRetries<Volume>(opts_.max_cas_retries, "create volume", [&]() -> Result<std::optional<Volume>> {
    PC_ASSIGN_OR_RETURN(Loaded<App> a, RequireApp(store_, app));
    PC_ASSIGN_OR_RETURN(Host host, GetLocalHost());
    Volume v;
    for (;;) {
      v.id = ids::NewVolumeId();
      PC_ASSIGN_OR_RETURN(std::optional<KeyValue> taken, store_->Get(keys::VolumeId(v.id)));
      if (!taken) break;
    }
    v.name = name;
    v.app = app;
    v.region = region.empty() ? host.region : region;
    v.size_gb = size_gb;
    v.created_at = clock_->WallUnixMillis();
    TxnRequest t;
    t.compares = {ModRevEq(keys::App(app), a.rev), NotExists(keys::VolumeId(v.id))};
    t.success = {Op::Put(keys::Volume(app, v.id), Encode(v)), Op::Put(keys::VolumeId(v.id), app)};
    PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
    if (!r.succeeded) return std::optional<Volume>();
    v.mod_revision = r.revision;
    return std::optional<Volume>(std::move(v));
  });
}

Result<Volume> Registry::GetVolume(const std::string& id) {
  PC_ASSIGN_OR_RETURN(Loaded<Volume> v, RequireVolume(store_, id));
  v.v.mod_revision = v.rev;
  return v.v;
}

Result<std::vector<Volume>> Registry::ListVolumes(const std::optional<std::string>& app) {
  if (app) PC_RETURN_IF_ERROR(RequireApp(store_, *app).status());
  PC_ASSIGN_OR_RETURN(RangeResult r, store_->Range(app ? keys::VolumePrefix(*app) : keys::VolumePrefix()));
  std::vector<Volume> out;
  for (const KeyValue& kv : r.kvs) {
    PC_ASSIGN_OR_RETURN(Volume v, DecodeKv<Volume>(kv));
    v.mod_revision = kv.mod_revision;
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const Volume& a, const Volume& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
  });
  return out;
}

Result<Volume> Registry::AttachVolume(const std::string& id, const std::string& machine_id, const std::string& path) {
  return WithRetries<Volume>(opts_.max_cas_retries, "attach volume", [&]() -> Result<std::optional<Volume>> {
    PC_ASSIGN_OR_RETURN(Loaded<Volume> v, RequireVolume(store_, id));
    PC_ASSIGN_OR_RETURN(Loaded<Machine> m, RequireMachine(store_, machine_id));
    PC_RETURN_IF_ERROR(CheckAttachable(v.v, m.v));
    // The machine mounts one volume (as on Fly).
    PC_ASSIGN_OR_RETURN(RangeResult vols, store_->Range(keys::VolumePrefix(m.v.app)));
    for (const KeyValue& kv : vols.kvs) {
      PC_ASSIGN_OR_RETURN(Volume o, DecodeKv<Volume>(kv));
      if (o.id != id && o.attached_machine_id == machine_id)
        return FailedPrecondition("machine " + machine_id + " already mounts volume " + o.id + " (" + o.name +
                                  "); a machine mounts one volume");
    }
    v.v.attached_machine_id = machine_id;
    v.v.attached_path = path;
    TxnRequest t;
    t.compares = {ModRevEq(keys::Volume(v.v.app, id), v.rev), ModRevEq(keys::Machine(m.v.app, machine_id), m.rev),
                  PrefixUnchanged(keys::VolumePrefix(m.v.app), vols.revision)};
    t.success = {Op::Put(keys::Volume(v.v.app, id), Encode(v.v))};
    PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
    if (!r.succeeded) return std::optional<Volume>();
    v.v.mod_revision = r.revision;
    return std::optional<Volume>(std::move(v.v));
  });
}

Status Registry::DestroyVolume(const std::string& id) {
  return WithRetries<bool>(opts_.max_cas_retries, "destroy volume",
                           [&]() -> Result<std::optional<bool>> {
                             PC_ASSIGN_OR_RETURN(Loaded<Volume> v, RequireVolume(store_, id));
                             if (!v.v.attached_machine_id.empty())
                               return FailedPrecondition("volume " + id + " (" + v.v.name +
                                                         ") is attached to machine " + v.v.attached_machine_id +
                                                         "; destroy that machine first");
                             TxnRequest t;
                             t.compares = {ModRevEq(keys::Volume(v.v.app, id), v.rev)};
                             t.success = {Op::Delete(keys::Volume(v.v.app, id)), Op::Delete(keys::VolumeId(id))};
                             PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
                             if (!r.succeeded) return std::optional<bool>();
                             return std::optional<bool>(true);
                           })
      .status();
}

Result<StateView> Registry::LoadState() {
  PC_ASSIGN_OR_RETURN(RangeResult all, store_->Range(""));
  StateView v;
  v.revision = all.revision;
  auto starts = [](const std::string& k, const std::string& p) { return k.compare(0, p.size(), p) == 0; };
  std::map<std::string, const KeyValue*> releases;
  for (const KeyValue& kv : all.kvs) {
    if (starts(kv.key, keys::HostPrefix())) {
      PC_ASSIGN_OR_RETURN(Host h, DecodeKv<Host>(kv));
      v.hosts.push_back(std::move(h));
    } else if (starts(kv.key, keys::OrgPrefix())) {
      PC_ASSIGN_OR_RETURN(Org o, DecodeKv<Org>(kv));
      v.orgs.push_back(std::move(o));
    } else if (starts(kv.key, keys::NetworkPrefix())) {
      PC_ASSIGN_OR_RETURN(Network n, DecodeKv<Network>(kv));
      v.networks.push_back(std::move(n));
    } else if (starts(kv.key, keys::AppPrefix())) {
      PC_ASSIGN_OR_RETURN(App a, DecodeKv<App>(kv));
      v.apps.push_back(std::move(a));
    } else if (starts(kv.key, keys::MachinePrefix())) {
      PC_ASSIGN_OR_RETURN(Machine m, DecodeKv<Machine>(kv));
      m.mod_revision = kv.mod_revision;
      v.machines.push_back(std::move(m));
    } else if (starts(kv.key, keys::IpPrefix())) {
      PC_ASSIGN_OR_RETURN(IpAssignment ip, DecodeKv<IpAssignment>(kv));
      v.ips.push_back(std::move(ip));
    } else if (starts(kv.key, keys::ReleasePrefix())) {
      releases[kv.key] = &kv;
    } else if (starts(kv.key, keys::VolumePrefix())) {
      PC_ASSIGN_OR_RETURN(Volume vol, DecodeKv<Volume>(kv));
      vol.mod_revision = kv.mod_revision;
      v.volumes.push_back(std::move(vol));
    } else if (kv.key == kRegionTableKey) {
      auto t = DecodeRegionTable(kv.value);
      if (t.ok()) v.regions = std::move(t).value();
      else
        log::Error("store", "stored region table does not decode; using the built-in one",
                   {{"error", t.status().message()}});
    }
  }
  for (const App& a : v.apps) {
    if (a.current_release == 0) continue;
    auto it = releases.find(keys::Release(a.name, a.current_release));
    if (it == releases.end()) continue;
    PC_ASSIGN_OR_RETURN(Release r, DecodeKv<Release>(*it->second));
    v.current_releases.push_back(std::move(r));
  }
  return v;
}

Status Registry::PutRegionTable(const RegionTable& table, bool* changed) {
  *changed = false;
  PC_ASSIGN_OR_RETURN(std::optional<KeyValue> cur, store_->Get(kRegionTableKey));
  if (cur) {
    auto old = DecodeRegionTable(cur->value);
    if (old.ok() && **old == table) return Status::Ok();
  }
  TxnRequest t;
  t.success.push_back(Op::Put(kRegionTableKey, EncodeRegionTable(table)));
  PC_ASSIGN_OR_RETURN(TxnResponse r, store_->Txn(t));
  (void)r;
  *changed = true;
  return Status::Ok();
}

}  // namespace privcast::store
