#include "daemon/daemon.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>

#include "api/server.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/strings.h"
#include "config/region_file.h"
#include "daemon/app_events.h"
#include "daemon/backend.h"
#include "daemon/control_loop.h"
#include "daemon/data_dir.h"
#include "daemon/machine_manager.h"
#include "daemon/plan.h"
#include "daemon/region_setup.h"
#include "daemon/runtime_linux.h"
#include "daemon/secret_box.h"
#include "daemon/store_open.h"
#include "daemon/tls_certs.h"
#include "dns/server.h"
#include "images/store.h"
#include "proxy/health.h"
#include "proxy/proxy.h"
#include "store/etcd/host_registration.h"
#include "store/registry.h"
#include "store/store.h"

namespace privcast::daemon {
namespace {

std::string Hostname() {
  char name[256] = {};
  gethostname(name, sizeof name - 1);
  return name;
}

// The app's secrets, opened, as the machine's environment (never a value in an error).
void SetSecretEnv(ManagerOptions& mo, store::Registry* reg, SecretBox* box) {
  mo.secret_env = [reg, box](const std::string& app) -> Result<std::vector<std::pair<std::string, std::string>>> {
    PC_ASSIGN_OR_RETURN(std::vector<store::Secret> all, reg->ListSecrets(app));
    std::vector<std::pair<std::string, std::string>> env;
    env.reserve(all.size());
    for (const store::Secret& s : all) {
      auto v = box->Open(s.sealed, app + "/" + s.name);
      if (!v.ok()) return Status(v.status().code(), s.name + ": " + v.status().message());  // never the value
      env.emplace_back(s.name, std::move(v).value());
    }
    return env;
  };
}

// An image id → what the machine runs from it (layers, command, env, user).
void SetResolveImage(ManagerOptions& mo, images::ImageStore* store) {
  mo.resolve_image = [store](const std::string& id) -> Result<ImagePlan> {
    PC_ASSIGN_OR_RETURN(images::Image img, store->Find(id));
    ImagePlan p;
    p.layers = store->LayerDirs(img);
    p.entrypoint = img.config.entrypoint;
    p.cmd = img.config.cmd;
    p.env = img.config.env;
    p.working_dir = img.config.working_dir;
    PC_ASSIGN_OR_RETURN(auto ids, store->ResolveUser(img));
    p.uid = ids.first;
    p.gid = ids.second;
    return p;
  };
}

// etcd only: the hosts whose lease is live, with their regions and underlay addresses.
void SetLiveHosts(ManagerOptions& mo, store::Store* st) {
  mo.live_hosts = [st]() -> Result<std::vector<std::pair<uint32_t, std::string>>> {
    PC_ASSIGN_OR_RETURN(auto live, store::LiveHosts(st));
    std::vector<std::pair<uint32_t, std::string>> out;
    out.reserve(live.size());
    for (const auto& h : live) out.emplace_back(h.id, h.region);
    return out;
  };
  mo.live_underlays = [st]() -> Result<std::map<uint32_t, std::string>> {
    PC_ASSIGN_OR_RETURN(auto live, store::LiveHosts(st));
    std::map<uint32_t, std::string> out;
    for (const auto& h : live) out[h.id] = h.underlay;
    return out;
  };
}

proxy::ProxyOptions ProxyOptionsFrom(const DaemonOptions& o) {
  proxy::ProxyOptions po;
  po.workers = o.proxy_workers;
  po.batch_sends = o.proxy_batch_writes;
  po.batch_when_busy = o.proxy_batch_when_busy;
  po.wake_timeout = o.wake_timeout;
  po.autostop_interval = o.autostop_interval;
  po.autostop_idle = o.autostop_idle;
  po.max_conns_per_network = o.proxy_max_conns_per_network;
  po.conn_rate_per_network = o.proxy_conn_rate_per_network;
  po.conn_burst_per_network = o.proxy_conn_burst_per_network;
  po.header_timeout = o.proxy_header_timeout;
  po.body_timeout = o.proxy_body_timeout;
  po.body_min_rate = o.proxy_body_min_rate;
  po.fd_budget = o.proxy_fd_budget;
  if (po.fd_budget < 0) {
    // The soft limit, already raised to the hard one (main.cc).
    rlimit nofile{};
    po.fd_budget = ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                       ? DefaultProxyFdBudget(nofile.rlim_cur)
                       : 0;
    log::Info("daemon", "proxy descriptor budget",
              {{"nofile", static_cast<int64_t>(nofile.rlim_cur)}, {"proxy", po.fd_budget}});
  }
  return po;
}

Result<dns::ServerOptions> DnsOptionsFrom(const DaemonOptions& o) {
  dns::ServerOptions dopt;
  dopt.listen.push_back({addr::DnsAddress().ToString(), 53});
  for (const auto& l : o.dns_listen) {
    PC_ASSIGN_OR_RETURN(HostPort hp, ParseHostPort("--dns-listen", l));
    dopt.listen.push_back({hp.host, hp.port});
  }
  dopt.resolv_conf = o.upstream_resolv_conf;
  dopt.prewarm = o.prewarm;
  dopt.forward_inflight_per_network = o.dns_forward_inflight;
  dopt.forward_qps_per_network = o.dns_forward_qps;
  dopt.negative_cache_max_ttl = std::chrono::duration_cast<std::chrono::seconds>(o.dns_negative_cache_max_ttl);
  dopt.servfail_cache_ttl = std::chrono::duration_cast<std::chrono::seconds>(o.dns_servfail_cache_ttl);
  return dopt;
}

}  // namespace

struct Daemon::Impl {
  DaemonOptions opts;
  std::optional<DataDir> dir;
  std::unique_ptr<store::Store> store;
  store::EtcdStore* etcd = nullptr;                       // the store, when it is etcd (--store etcd://...)
  std::unique_ptr<store::HostRegistration> registration;  // etcd only; before `store` goes
  std::unique_ptr<store::Registry> registry;
  store::Host host;
  ControlLoop loop;
  std::unique_ptr<AppEvents> events;
  std::unique_ptr<LinuxRuntime> runtime;
  std::unique_ptr<images::ImageStore> images;
  std::unique_ptr<SecretBox> secrets;
  std::unique_ptr<MachineManager> manager;
  std::unique_ptr<DaemonBackend> backend;
  std::unique_ptr<api::Server> api;
  std::unique_ptr<TlsCertificates> certs;  // outlives proxy (its TlsContextProvider)
  std::unique_ptr<proxy::Proxy> proxy;
  std::unique_ptr<dns::Server> dns;
  struct Prewarm final : dns::PrewarmHook {
    MachineManager* m = nullptr;
    void OnFlycastLookup(const std::string& app, const std::string& service) override { m->Prewarm(app, service); }
  } prewarm;
  std::thread watcher;
  std::atomic<bool> stopping{false};
  bool started = false;

  Mutex publish_mu;
  // The last Snapshot handed to the proxy and DNS: its store revision and when (wall clock,
  // µs), for /metrics — bench/cluster/propagation.py measures a change reaching every host.
  std::atomic<int64_t> published_revision{0}, published_unix_us{0};
  void Publish(const SnapshotPtr& s) {
    MutexLock l(&publish_mu);
    if (proxy) proxy->Publish(s);
    if (dns) dns->Publish(s);
    if (s) {
      published_unix_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      published_revision = s->revision;
    }
  }

  std::string Metrics() {
    std::string out = manager ? manager->MetricsText() : std::string();
    out += "# TYPE privcast_snapshot_revision gauge\nprivcast_snapshot_revision " +
           std::to_string(published_revision.load()) + "\n# TYPE privcast_snapshot_published_unix_us gauge\n" +
           "privcast_snapshot_published_unix_us " + std::to_string(published_unix_us.load()) + "\n";
    if (proxy) out += proxy->RenderMetrics();
    if (dns) out += dns->MetricsText();
    return out;
  }

  // Load from the proxy; checks: the machine's configured checks (the snapshot's services it
  // carries) with the proxy checker's last result of each — never a verdict without a check.
  std::map<std::string, api::MachineLive> Live(const store::App& app) {
    std::map<std::string, api::MachineLive> out;
    if (!proxy) return out;
    auto ms = registry->ListMachines(app.name);
    if (!ms.ok()) return out;
    SnapshotPtr snap = manager->snapshot();
    std::map<std::pair<std::string, std::string>, std::string> result;  // (machine, check) → status
    for (const auto& r : proxy->HealthChecks()) result[{r.machine_id, r.name}] = r.status;
    for (const auto& m : ms.value()) {
      api::MachineLive l;
      l.load = proxy->MachineLoad(m.id);
      auto mv = snap->machine_by_id.find(m.id);
      std::vector<std::string> names;
      if (mv != snap->machine_by_id.end()) names = proxy::CheckNamesFor(*snap, snap->machines[mv->second]);
      bool running = m.state == store::MachineState::kStarted;
      std::map<std::string, int> count;
      for (const auto& n : names) {
        auto r = result.find({m.id, n});
        std::string st = !running ? "not running" : r == result.end() ? "pending" : r->second;
        ++count[st];
        l.check_list.push_back({n, st});
      }
      l.checks = names.empty() ? "no checks" : std::to_string(names.size()) + " total";
      for (const char* st : {"passing", "critical", "pending"})
        if (count[st]) l.checks += ", " + std::to_string(count[st]) + " " + st;
      if (count["not running"]) l.checks += ", not running";
      out[m.id] = l;
    }
    return out;
  }

  void WatchStore() {
    auto rev = store->Revision();
    int64_t seen = rev.ok() ? rev.value() : 0;
    while (!stopping.load()) {
      auto r = store->WaitForRevision(seen, std::chrono::milliseconds(500));
      if (!r.ok()) continue;
      if (r.value() > seen) {
        seen = r.value();
        manager->NotifyStoreChanged(seen);
      }
    }
  }

  // --regions: the region table file, checked before anything starts (null: none given).
  Result<std::shared_ptr<const RegionTable>> LoadRegions() const {
    if (opts.regions.empty()) return std::shared_ptr<const RegionTable>();
    return config::LoadRegionFile(opts.regions);
  }

  // The data dir (locked), this daemon's instance name, and the store (the data dir's SQLite
  // file or --store's) with the registry on it. Returns the store's description.
  Result<std::string> OpenStore() {
    PC_ASSIGN_OR_RETURN(DataDir opened, DataDir::Open(opts.data_dir));
    dir.emplace(std::move(opened));
    if (opts.instance.empty()) {
      // Stable per data dir, short enough for cgroup names. FNV-1a, not std::hash: the name must
      // be the same for every build of privcastd, or a restart would not find its machines.
      opts.instance = std::to_string(Fnv1a64(dir->path()) % 1000000007ull);
    }
    std::string prior = dir->PriorState();  // before the store file is (re)created
    const bool default_store = opts.store.empty();
    if (default_store) PC_RETURN_IF_ERROR(dir->SecureStoreFiles());
    PC_ASSIGN_OR_RETURN(OpenedStore st, OpenDaemonStore(opts, dir->path(), dir->store_path()));
    store = std::move(st.store);
    etcd = st.etcd;
    if (default_store) PC_RETURN_IF_ERROR(dir->SecureStoreFiles());  // the -wal and -shm SQLite just made
    registry = std::make_unique<store::Registry>(store.get(), RealClock::Get());
    // An empty or missing store next to earlier state is a lost store, not a first start: a new
    // host id would orphan every machine still running from the old one.
    if (!registry->GetLocalHost().ok() && !prior.empty()) PC_RETURN_IF_ERROR(AllowLostStore(prior, st.description));
    return st.description;
  }

  Status AllowLostStore(const std::string& prior, const std::string& store_description) const {
    const bool default_store = opts.store.empty();
    if (!opts.reset_store)
      return FailedPrecondition("the store " + (default_store ? dir->store_path() : store_description) +
                                " is empty or missing, but the data dir shows earlier state (" + prior + "); " +
                                (default_store ? "restore store.db from a backup"
                                               : "move this host's state there with `privcastd migrate --from sqlite:" +
                                                     dir->store_path() + " --to " + opts.store + "`") +
                                ", or start with --reset-store to begin again as a new host");
    log::Warn("daemon", "--reset-store: starting a new host on a data dir with earlier state",
              {{"data_dir", dir->path()}, {"earlier", prior}});
    return Status::Ok();
  }

  // This host in the store (bootstrapped on first start), the region table shared through it,
  // and with etcd the host's lease (it is live while we run).
  Status JoinAsHost(const std::shared_ptr<const RegionTable>& regions, const std::string& store_description) {
    PC_ASSIGN_OR_RETURN(host, registry->Bootstrap(opts.region, Hostname()));
    PC_RETURN_IF_ERROR(dir->RecordHostId(host.id));
    PC_RETURN_IF_ERROR(ShareRegionTable(registry.get(), regions, opts.regions, host.region));
    if (etcd) {
      store::LiveHost live{host.id, host.region, opts.underlay, host.hostname};
      auto reg = store::HostRegistration::Start(etcd, live, opts.host_ttl);
      if (!reg.ok()) return Status(reg.status().code(), "register host in etcd: " + reg.status().message());
      registration = std::move(reg).value();
    }
    log::Info("daemon", "store ready",
              {{"data_dir", dir->path()},
               {"host_id", static_cast<uint64_t>(host.id)},
               {"region", host.region},
               {"store", store_description}});
    return Status::Ok();
  }

  // App event logs and the machine runtime (supervisor, networks, firewall).
  Status StartRuntime() {
    events = std::make_unique<AppEvents>(dir->apps_dir(), RealClock::Get());
    LinuxRuntimeOptions ro;
    ro.state_root = dir->machines_dir();
    ro.netns_dir = dir->netns_dir();
    ro.logs_dir = dir->path() + "/logs";
    ro.instance = opts.instance;
    ro.host_id = host.id;
    ro.region = opts.region;
    ro.firewall = opts.firewall;
    ro.id_base = opts.id_base;
    ro.init_path = opts.init_path;
    if (ro.init_path.empty()) {
      std::error_code ec;
      auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
      if (!ec) ro.init_path = (exe.parent_path() / "privcast-init").string();
    }
    auto rt = LinuxRuntime::Create(ro);
    if (!rt.ok()) return Status(rt.status().code(), "machine runtime: " + rt.status().message());
    runtime = std::move(rt).value();
    return Status::Ok();
  }

  Status OpenImagesAndSecrets() {
    images::ImageStoreOptions io;
    io.root = dir->path() + "/images";
    io.skopeo = opts.skopeo;
    io.insecure_registries = opts.insecure_registries;
    if (!opts.registry_auth_file.empty())
      io.auth_file = std::filesystem::absolute(opts.registry_auth_file).lexically_normal().string();
    auto is = images::ImageStore::Open(io);
    if (!is.ok()) return Status(is.status().code(), "image store: " + is.status().message());
    images = std::move(is).value();
    auto box = SecretBox::LoadOrCreate(dir->path() + "/secrets.key");
    if (!box.ok()) return Status(box.status().code(), "secrets: " + box.status().message());
    secrets = std::make_unique<SecretBox>(std::move(box).value());
    return Status::Ok();
  }

  void CreateManager() {
    ManagerOptions mo;
    SetSecretEnv(mo, registry.get(), secrets.get());
    SetResolveImage(mo, images.get());
    mo.host_id = host.id;
    mo.volume_root = dir->path() + "/volumes";
    mo.region = opts.region;
    mo.wake_timeout = opts.wake_timeout;
    mo.firewall = opts.firewall;
    mo.log_limits.max_bytes = opts.machine_log_max_bytes;
    mo.log_limits.keep = opts.machine_log_files;
    if (etcd) SetLiveHosts(mo, store.get());
    manager = std::make_unique<MachineManager>(registry.get(), runtime.get(), &loop, events.get(), RealClock::Get(), mo,
                                               DecodePlan, [this](const SnapshotPtr& s) { Publish(s); });
  }

  void CreateProxy() {
    {
      MutexLock l(&publish_mu);
      proxy = std::make_unique<proxy::Proxy>(ProxyOptionsFrom(opts), manager.get(), manager.get());
    }
    certs = std::make_unique<TlsCertificates>(dir->tls_dir(), "privcast CA " + Hostname());
    proxy->SetTlsContextProvider(certs.get());
    // Proxy events arrive on worker threads: the file append happens on the control thread.
    proxy->SetEventCallback([events = events.get(), loop = &loop](const proxy::ProxyEvent& e) {
      if (e.app.empty()) return;
      loop->Post([events, e] { events->Append(e.app, "proxy", e.message); });
    });
  }

  Status CreateDns() {
    if (!opts.dns) return Status::Ok();
    PC_ASSIGN_OR_RETURN(dns::ServerOptions dopt, DnsOptionsFrom(opts));
    prewarm.m = manager.get();
    auto server = dns::Server::Create(dopt, &prewarm);
    if (!server.ok()) return Status(server.status().code(), "dns: " + server.status().message());
    MutexLock l(&publish_mu);
    dns = std::move(server).value();
    return Status::Ok();
  }

  // The control loop and the manager on it (adoption, first Snapshot), then the proxy and DNS
  // serve that Snapshot.
  Status StartDataPath() {
    loop.Start();
    Status start_st;
    loop.RunSync([&] { start_st = manager->Start(); });
    if (!start_st.ok()) return Status(start_st.code(), "machine manager: " + start_st.message());
    proxy->Publish(manager->snapshot());
    PC_RETURN_IF_ERROR(proxy->Start());
    if (dns) {
      dns->Publish(manager->snapshot());
      PC_RETURN_IF_ERROR(dns->Start());
    }
    return Status::Ok();
  }

  Status StartApi() {
    backend = std::make_unique<DaemonBackend>(
        registry.get(), manager.get(), events.get(), [this] { return Metrics(); },
        [this](const store::App& a) { return Live(a); }, images.get());
    backend->SetSecretBox(secrets.get());
    api::ServerOptions ao;
    ao.socket_path = opts.api_socket_path();
    ao.request_timeout = opts.api_request_timeout;
    ao.max_connections_per_uid = opts.api_max_connections_per_uid;
    api = std::make_unique<api::Server>(registry.get(), backend.get(), ao);
    return api->Start();
  }
};

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Daemon::~Daemon() { Stop(false); }

Result<std::unique_ptr<Daemon>> Daemon::Create(const DaemonOptions& opts) {
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

// The daemon's subsystems in start order; each step uses those before it.
Status Daemon::Start() {
  Impl& d = *impl_;
  PC_ASSIGN_OR_RETURN(std::shared_ptr<const RegionTable> regions, d.LoadRegions());  // before anything starts
  PC_ASSIGN_OR_RETURN(std::string store_description, d.OpenStore());
  PC_RETURN_IF_ERROR(d.JoinAsHost(regions, store_description));
  PC_RETURN_IF_ERROR(d.StartRuntime());
  PC_RETURN_IF_ERROR(d.OpenImagesAndSecrets());
  d.CreateManager();
  // The data path first (so the first Snapshot reaches it), then the manager publishes.
  d.CreateProxy();
  PC_RETURN_IF_ERROR(d.CreateDns());
  PC_RETURN_IF_ERROR(d.StartDataPath());
  PC_RETURN_IF_ERROR(d.StartApi());
  Impl* raw = &d;
  d.watcher = std::thread([raw] { raw->WatchStore(); });
  d.started = true;
  log::Info("daemon", "privcastd ready", {{"api", d.opts.api}, {"pid", static_cast<int64_t>(getpid())}});
  return Status::Ok();
}

void Daemon::Stop(bool drain) {
  Impl& d = *impl_;
  if (d.stopping.exchange(true)) return;
  log::Info("daemon", drain ? "draining" : "stopping");
  if (d.proxy) {
    d.proxy->StopAccepting();
    if (drain) {
      bool all = d.proxy->Drain(d.opts.drain_timeout);
      log::Info("daemon", "proxy drained", {{"clean", all ? "yes" : "no"}});
    }
  }
  if (d.api) d.api->Stop();
  if (d.watcher.joinable()) d.watcher.join();
  if (d.dns) d.dns->Stop();
  if (d.manager) {
    d.loop.RunSync([&] { d.manager->Shutdown(); });
  }
  d.loop.Stop();
  {
    MutexLock l(&d.publish_mu);
    d.proxy.reset();
    d.dns.reset();
  }
  log::Info("daemon", "stopped; machines keep running");
}

}  // namespace privcast::daemon
