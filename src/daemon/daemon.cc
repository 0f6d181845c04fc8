#include "daemon/daemon.h"

#include <unistd.h>

#include <functional>

#include "api/server.h"
#include "common/log.h"
#include "daemon/app_events.h"
#include "daemon/backend.h"
#include "daemon/control_loop.h"
#include "daemon/data_dir.h"
#include "daemon/machine_manager.h"
#include "daemon/plan.h"
#include "daemon/runtime_linux.h"
#include "store/registry.h"
#include "store/store.h"

namespace privcast::daemon {

struct Daemon::Impl {
  DaemonOptions opts;
  std::optional<DataDir> dir;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<store::Registry> registry;
  store::Host host;
  ControlLoop loop;
  std::unique_ptr<AppEvents> events;
  std::unique_ptr<LinuxRuntime> runtime;
  std::unique_ptr<MachineManager> manager;
  std::unique_ptr<DaemonBackend> backend;
  std::unique_ptr<api::Server> api;
  std::thread watcher;
  std::atomic<bool> stopping{false};
  bool started = false;

  void Publish(SnapshotPtr s) {
    (void)s;  // proxy and DNS are wired in below when present
  }

  std::string Metrics() { return manager ? manager->MetricsText() : std::string(); }

  void WatchStore() {
    auto rev = store->Revision();
    int64_t seen = rev.ok() ? rev.value() : 0;
    while (!stopping.load()) {
      auto r = store->WaitForRevision(seen, std::chrono::milliseconds(500));
      if (!r.ok()) continue;
      if (r.value() > seen) {
        seen = r.value();
        manager->NotifyStoreChanged();
      }
    }
  }
};

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Daemon::~Daemon() { Stop(false); }

Result<std::unique_ptr<Daemon>> Daemon::Create(const DaemonOptions& opts) {
  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

Status Daemon::Start() {
  Impl& d = *impl_;
  auto dir = DataDir::Open(d.opts.data_dir);
  if (!dir.ok()) return dir.status();
  d.dir.emplace(std::move(dir).value());
  if (d.opts.instance.empty()) {
    // Stable per data dir, short enough for cgroup names.
    d.opts.instance = std::to_string(std::hash<std::string>{}(d.dir->path()) % 1000000007ull);
  }
  auto st = store::OpenSqliteStore({d.dir->store_path()});
  if (!st.ok()) return Status(st.status().code(), "cannot open store " + d.dir->store_path() + ": " + st.status().message());
  d.store = std::move(st).value();
  d.registry = std::make_unique<store::Registry>(d.store.get(), RealClock::Get());
  char hostname[256] = {};
  gethostname(hostname, sizeof hostname - 1);
  auto host = d.registry->Bootstrap(d.opts.region, hostname);
  if (!host.ok()) return host.status();
  d.host = host.value();
  log::Info("daemon", "store ready", {{"data_dir", d.dir->path()}, {"host_id", static_cast<uint64_t>(d.host.id)},
                                      {"region", d.host.region}});

  d.events = std::make_unique<AppEvents>(d.dir->apps_dir(), RealClock::Get());
  LinuxRuntimeOptions ro;
  ro.state_root = d.dir->machines_dir();
  ro.netns_dir = d.dir->netns_dir();
  ro.logs_dir = d.dir->path() + "/logs";
  ro.instance = d.opts.instance;
  ro.host_id = d.host.id;
  ro.region = d.opts.region;
  ro.firewall = d.opts.firewall;
  auto rt = LinuxRuntime::Create(ro);
  if (!rt.ok()) return Status(rt.status().code(), "machine runtime: " + rt.status().message());
  d.runtime = std::move(rt).value();

  ManagerOptions mo;
  mo.host_id = d.host.id;
  mo.region = d.opts.region;
  mo.wake_timeout = d.opts.wake_timeout;
  mo.firewall = d.opts.firewall;
  Impl* raw = &d;
  d.manager = std::make_unique<MachineManager>(d.registry.get(), d.runtime.get(), &d.loop, d.events.get(),
                                               RealClock::Get(), mo, DecodePlan,
                                               [raw](SnapshotPtr s) { raw->Publish(std::move(s)); });
  d.loop.Start();
  Status start_st;
  d.loop.RunSync([&] { start_st = d.manager->Start(); });
  if (!start_st.ok()) return Status(start_st.code(), "machine manager: " + start_st.message());

  d.backend = std::make_unique<DaemonBackend>(d.registry.get(), d.manager.get(), d.events.get(),
                                              [raw] { return raw->Metrics(); }, nullptr);
  api::ServerOptions ao;
  ao.socket_path = d.opts.api_socket_path();
  d.api = std::make_unique<api::Server>(d.registry.get(), d.backend.get(), ao);
  PC_RETURN_IF_ERROR(d.api->Start());
  d.watcher = std::thread([raw] { raw->WatchStore(); });
  d.started = true;
  log::Info("daemon", "privcastd ready", {{"api", d.opts.api}, {"pid", static_cast<int64_t>(getpid())}});
  return Status::Ok();
}

void Daemon::Stop(bool drain) {
  Impl& d = *impl_;
  if (d.stopping.exchange(true)) return;
  log::Info("daemon", drain ? "draining" : "stopping");
  if (d.api) d.api->Stop();
  if (d.watcher.joinable()) d.watcher.join();
  if (d.manager) {
    d.loop.RunSync([&] { d.manager->Shutdown(); });
  }
  d.loop.Stop();
  log::Info("daemon", "stopped; machines keep running");
}

}  // namespace privcast::daemon
