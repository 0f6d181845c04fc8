#include "proxy/proxy.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <future>
#include <sstream>

#include "common/log.h"
#include "proxy/autostop.h"
#include "proxy/health.h"
#include "proxy/proxy_impl.h"

namespace privcast::proxy {

// ---------------------------------------------------------------------------------------------
// ProxyImpl

ProxyImpl::ProxyImpl(ProxyOptions o, MachineWaker* wk, MachineStopper* st, Clock* c)
    : opts(std::move(o)),
      waker(wk),
      stopper(st),
      clock(c),
      net_limits(NetLimitOptions{opts.max_conns_per_network, opts.conn_rate_per_network, opts.conn_burst_per_network,
                                 opts.refusal_log_interval.count()}) {
  if (opts.workers <= 0) opts.workers = std::max(1, static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN)));
}

ProxyImpl::~ProxyImpl() { Shutdown(); }

Status ProxyImpl::Start() {
  MutexLock l(&mu);
  if (started) return FailedPrecondition("proxy already started");
  for (int i = 0; i < opts.workers; ++i) {
    auto w = std::make_unique<Worker>(this, i);
    PC_RETURN_IF_ERROR(w->Init());
    workers.push_back(std::move(w));
  }
  for (auto& w : workers) {
    Worker* wp = w.get();
    RoutingStatePtr rs = current;
    bool acc = accepting;
    wp->loop().Post([wp, rs, acc] {
      if (rs) wp->Apply(rs);
      wp->SetAccepting(acc);
    });
    wp->StartThread();
  }
  started = true;
  if (opts.autostop_thread) autostop_thread = std::thread([this] { AutostopLoop(); });
  l.Unlock();
  // Built unlocked (Publish calls health->Update under mu), then fed the current state.
  if (opts.health_checks) {
    auto h = std::make_unique<HealthChecker>(this, workers[0].get());
    MutexLock g(&mu);
    health = std::move(h);
    if (current) health->Update(current);
  }
  return Status::Ok();
}

void ProxyImpl::Publish(SnapshotPtr snap) {
  int64_t now_ns = clock->Now().time_since_epoch().count();
  RoutingStatePtr rs = table.Build(std::move(snap), now_ns, tls);
  MutexLock l(&mu);
  current = rs;
  for (auto& w : workers) {
    Worker* wp = w.get();
    wp->loop().Post([wp, rs] { wp->Apply(rs); });
  }
  if (health) health->Update(rs);
}

std::vector<CheckResult> ProxyImpl::HealthChecks() const {
  std::promise<std::vector<CheckResult>> result;
  auto f = result.get_future();
  {
    MutexLock l(&mu);
    if (!health) return {};
    HealthChecker* h = health.get();
    workers[0]->loop().Post([h, &result] { result.set_value(h->Statuses()); });
  }
  return f.get();
}

void ProxyImpl::KickQueues(int from, const std::string& app) {
  for (auto& w : workers) {
    if (w->index() == from) continue;
    Worker* wp = w.get();
    wp->loop().Post([wp, app] { wp->DispatchQueue(app); });
  }
}

void ProxyImpl::StopAccepting() {
  MutexLock l(&mu);
  accepting = false;
  for (auto& w : workers) {
    Worker* wp = w.get();
    wp->loop().Post([wp] { wp->SetAccepting(false); });
  }
}

bool ProxyImpl::Drain(Duration deadline) {
  {
    MutexLock l(&mu);
    for (auto& w : workers) {
      Worker* wp = w.get();
      wp->loop().Post([wp] { wp->BeginDrain(); });
    }
  }
  // Real time on purpose (as the supervisor's kernel waits, supervisor/kernel_wait.h): a
  // shutdown waits for the kernel and the peers to close sockets, which a FakeClock nobody
  // advances would turn into an endless wait. The sessions count is an atomic the workers keep.
  auto until = std::chrono::steady_clock::now() + deadline;
  auto open = [&] {
    int64_t n = 0;
    for (auto& w : workers) n += w->open_sessions();
    return n;
  };
  while (open() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (open() == 0) return true;
  std::atomic<int> done{0};
  for (auto& w : workers) {
    Worker* wp = w.get();
    wp->loop().Post([wp, &done] {
      wp->AbortAll();
      done.fetch_add(1);
    });
  }
  auto until2 = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (done.load() < static_cast<int>(workers.size()) && std::chrono::steady_clock::now() < until2)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return false;
}

void ProxyImpl::Shutdown() {
  {
    MutexLock l(&stop_mu);
    stopping = true;
  }
  stop_cv.NotifyAll();
  if (autostop_thread.joinable()) autostop_thread.join();
  health.reset();
  for (auto& w : workers) w->Join();
  workers.clear();  // closes listeners and sessions on this thread (loops stopped)
}

void ProxyImpl::AutostopLoop() {
  MutexLock l(&stop_mu);
  while (!stopping) {
    (void)stop_cv.WaitFor(&stop_mu, opts.autostop_interval);  // woken early only to stop
    if (stopping) break;
    l.Unlock();
    RunAutostopPass();
    l.Lock();
  }
}

int ProxyImpl::RunAutostopPass() {
  RoutingStatePtr rs = Current();
  if (!rs) return 0;
  const Snapshot& snap = *rs->snap;
  int64_t now = clock->Now().time_since_epoch().count();
  auto status = [&](uint32_t i) {
    const MachineState& st = *rs->machines[i];
    AutostopMachine a;
    a.started = EffectivelyStarted(snap.machines[i], st, snap.revision) &&
                st.stop_requested_revision.load() < snap.revision;
    a.load = st.load.load();
    a.open_conns = st.open_conns.load();
    a.idle_for = a.load > 0 ? Duration(0) : Duration(now - st.idle_since_ns.load());
    a.stop_pending = st.stop_requested_revision.load() >= snap.revision;
    return a;
  };
  auto plan = PlanAutostop(snap, status, opts.autostop_idle);
  for (const AutostopDecision& d : plan) {
    const MachineView& m = snap.machines[d.machine];
    MachineState& st = *rs->machines[d.machine];
    // Re-check right before acting: a connection may have arrived since the plan.
    if (st.load.load() != 0 || st.open_conns.load() != 0) continue;
    st.stop_requested_revision.store(snap.revision);
    st.woken_through_revision.store(-1);
    rs->apps[m.app_index]->autostops.fetch_add(1);
    autostops_total.fetch_add(1);
    long secs = static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(d.idle_for).count());
    std::string reason = "idle " + std::to_string(secs) + "s";
    std::string app = snap.apps[m.app_index].name;
    Emit(app, m.id, (d.suspend ? "suspending " : "stopping ") + m.id + " (" + reason + ")");
    log::Info("proxy", "autostop",
              {{"app", app},
               {"machine", m.id},
               {"idle_s", static_cast<int64_t>(secs)},
               {"action", d.suspend ? "suspend" : "stop"}});
    if (stopper) stopper->Stop(m.id, d.suspend, reason);
  }
  return static_cast<int>(plan.size());
}

// ---------------------------------------------------------------------------------------------
// Metrics: Prometheus text exposition.

namespace {
std::string Esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"') o.push_back('\\');
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o.push_back(c);
  }
  return o;
}
}  // namespace

// Proxy-wide totals (summed over the workers), admission and per-network refusals, descriptors.
void ProxyImpl::RenderProxyMetrics(std::ostream& o, const std::vector<std::shared_ptr<AppState>>& apps) const {
  uint64_t budget_pauses = 0;
  uint64_t accepted = 0, accept_errors = 0, refused_unknown = 0, reqs = 0, retries = 0, replays = 0;
  uint64_t st[6] = {0, 0, 0, 0, 0, 0};  // 301 400 408 431 502 503
  int64_t open = 0;
  for (auto& w : workers) {
    accepted += w->accepted.load();
    accept_errors += w->accept_errors.load();
    budget_pauses += w->budget_pauses.load();
    refused_unknown += w->refused_unknown.load();
    reqs += w->http_requests.load();
    retries += w->retries.load();
    replays += w->replays.load();
    st[0] += w->http_301.load();
    st[1] += w->http_400.load();
    st[2] += w->http_408.load();
    st[3] += w->http_431.load();
    st[4] += w->http_502.load();
    st[5] += w->http_503.load();
    open += w->open_sessions();
  }
  o << "# HELP privcast_proxy_accepted_total Client connections accepted by the proxy.\n"
       "# TYPE privcast_proxy_accepted_total counter\n"
    << "privcast_proxy_accepted_total " << accepted << "\n";
  o << "# HELP privcast_proxy_accept_errors_total accept() failures for want of descriptors or memory "
       "(the listener pauses 100 ms after each).\n"
       "# TYPE privcast_proxy_accept_errors_total counter\n"
    << "privcast_proxy_accept_errors_total " << accept_errors << "\n";
  o << "# TYPE privcast_proxy_open_connections gauge\nprivcast_proxy_open_connections " << open << "\n";
  o << "# TYPE privcast_proxy_http_requests_total counter\nprivcast_proxy_http_requests_total " << reqs << "\n";
  o << "# TYPE privcast_proxy_retries_total counter\nprivcast_proxy_retries_total " << retries << "\n";
  o << "# TYPE privcast_proxy_replays_total counter\nprivcast_proxy_replays_total " << replays << "\n";
  o << "# HELP privcast_proxy_generated_responses_total Responses written by the proxy itself.\n"
       "# TYPE privcast_proxy_generated_responses_total counter\n";
  const int codes[6] = {301, 400, 408, 431, 502, 503};
  for (int i = 0; i < 6; ++i)
    o << "privcast_proxy_generated_responses_total{status=\"" << codes[i] << "\"} " << st[i] << "\n";
  o << "# HELP privcast_proxy_admission_refused_total Connections refused by flycast admission.\n"
       "# TYPE privcast_proxy_admission_refused_total counter\n";
  o << "privcast_proxy_admission_refused_total{app=\"\",source_network=\"\"} " << refused_unknown << "\n";
  for (auto& a : apps) {
    for (const auto& [net, n] : a->RefusedByNet()) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%x", net);
      o << "privcast_proxy_admission_refused_total{app=\"" << Esc(a->name) << "\",source_network=\"" << buf << "\"} "
        << n << "\n";
    }
  }
  o << "# HELP privcast_proxy_network_refused_total Connections reset because their source network was over "
       "its limit (reason: connections = open connections, rate = new connections per second).\n"
       "# TYPE privcast_proxy_network_refused_total counter\n";
  std::ostringstream open_by_net;
  net_limits.ForEach([&](const NetLimits::Net& n) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%x", n.net32);
    o << "privcast_proxy_network_refused_total{source_network=\"" << buf << "\",reason=\"connections\"} "
      << n.refused_conns.load() << "\n";
    o << "privcast_proxy_network_refused_total{source_network=\"" << buf << "\",reason=\"rate\"} "
      << n.refused_rate.load() << "\n";
    open_by_net << "privcast_proxy_network_open_connections{source_network=\"" << buf << "\"} " << n.open.load()
                << "\n";
  });
  o << "# TYPE privcast_proxy_network_open_connections gauge\n" << open_by_net.str();
  o << "# HELP privcast_proxy_fds Descriptors the proxy holds, and its budget (0 = none).\n"
       "# TYPE privcast_proxy_fds gauge\nprivcast_proxy_fds "
    << FdsInUse() << "\n"
    << "# TYPE privcast_proxy_fd_budget gauge\nprivcast_proxy_fd_budget " << opts.fd_budget << "\n";
  o << "# HELP privcast_proxy_budget_pauses_total Listener pauses because the proxy's descriptor budget was used.\n"
       "# TYPE privcast_proxy_budget_pauses_total counter\nprivcast_proxy_budget_pauses_total "
    << budget_pauses << "\n";
}

// Per-app queue/wake/TLS counters and the wake-time histogram.
void ProxyImpl::RenderAppMetrics(std::ostream& o, const std::vector<std::shared_ptr<AppState>>& apps) const {
  auto per_app = [&](const char* name, const char* type, const char* help, auto get) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    for (auto& a : apps) o << name << "{app=\"" << Esc(a->name) << "\"} " << get(*a) << "\n";
  };
  per_app("privcast_proxy_queue_depth", "gauge", "Connections/requests waiting for capacity.",
          [](const AppState& a) { return a.queued.load(); });
  per_app("privcast_proxy_queued_total", "counter", "Connections/requests that had to wait for capacity.",
          [](const AppState& a) { return a.queued_total.load(); });
  per_app("privcast_proxy_queue_timeouts_total", "counter", "Waiters refused (queue full or timeout).",
          [](const AppState& a) { return a.queue_timeouts.load(); });
  per_app("privcast_proxy_queue_wait_seconds_total", "counter", "Total time spent waiting in the queue.",
          [](const AppState& a) { return static_cast<double>(a.queue_wait_us_total.load()) / 1e6; });
  per_app("privcast_proxy_cold_starts_total", "counter", "Machines woken by the proxy.",
          [](const AppState& a) { return a.cold_starts.load(); });
  per_app("privcast_proxy_wake_failures_total", "counter", "Wakes that failed or timed out.",
          [](const AppState& a) { return a.wake_failures.load(); });
  per_app("privcast_proxy_autostops_total", "counter", "Machines stopped or suspended by autostop.",
          [](const AppState& a) { return a.autostops.load(); });
  per_app("privcast_proxy_no_machine_total", "counter", "Connections with no machine to serve them.",
          [](const AppState& a) { return a.rejected_no_machine.load(); });
  per_app("privcast_proxy_tls_handshakes_total", "counter", "TLS handshakes completed on tls ports.",
          [](const AppState& a) { return a.tls_handshakes.load(); });
  per_app("privcast_proxy_tls_handshake_failures_total", "counter",
          "TLS handshakes that failed, timed out or had no certificate.",
          [](const AppState& a) { return a.tls_handshake_failures.load(); });
  o << "# HELP privcast_proxy_wake_seconds Time from wake request to the app accepting.\n"
       "# TYPE privcast_proxy_wake_seconds histogram\n";
  for (auto& a : apps) {
    uint64_t cum = 0;
    for (size_t i = 0; i < AppState::kWakeBucketsMs.size(); ++i) {
      cum += a->wake_ms_buckets[i].load();
      o << "privcast_proxy_wake_seconds_bucket{app=\"" << Esc(a->name) << "\",le=\""
        << AppState::kWakeBucketsMs[i] / 1000.0 << "\"} " << cum << "\n";
    }
    cum += a->wake_ms_buckets[AppState::kWakeBucketsMs.size()].load();
    o << "privcast_proxy_wake_seconds_bucket{app=\"" << Esc(a->name) << "\",le=\"+Inf\"} " << cum << "\n";
    o << "privcast_proxy_wake_seconds_sum{app=\"" << Esc(a->name) << "\"} "
      << static_cast<double>(a->wake_ms_sum_us.load()) / 1e6 << "\n";
    o << "privcast_proxy_wake_seconds_count{app=\"" << Esc(a->name) << "\"} " << a->wake_count.load() << "\n";
  }
}

// Per-service and per-machine series.
void ProxyImpl::RenderServiceAndMachineMetrics(std::ostream& o) const {
  auto machines = table.Machines();
  // Per-service addresses (<service>.svc.<app>.flycast, ADR 0013): their own share of the above.
  auto services = table.Services();
  auto per_service = [&](const char* name, const char* help, auto get) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n";
    for (auto& s : services)
      o << name << "{app=\"" << Esc(s->app) << "\",service=\"" << Esc(s->service) << "\"} " << get(*s) << "\n";
  };
  per_service("privcast_proxy_service_connections_total", "Connections admitted through a service's flycast addresses.",
              [](const ServiceState& s) { return s.connections_total.load(); });
  per_service("privcast_proxy_service_admission_refused_total",
              "Connections refused by admission on a service's flycast addresses.",
              [](const ServiceState& s) { return s.refused_total.load(); });
  per_service("privcast_proxy_service_cold_starts_total", "Machines woken for a service's flycast addresses.",
              [](const ServiceState& s) { return s.cold_starts.load(); });
  per_service("privcast_proxy_service_no_machine_total",
              "Connections through a service's flycast addresses with no machine to serve them.",
              [](const ServiceState& s) { return s.rejected_no_machine.load(); });
  o << "# HELP privcast_proxy_machine_connections_total Connections (or requests) routed to a machine.\n"
       "# TYPE privcast_proxy_machine_connections_total counter\n";
  for (auto& m : machines)
    o << "privcast_proxy_machine_connections_total{app=\"" << Esc(m->app) << "\",machine=\"" << m->id << "\"} "
      << m->connections_total.load() << "\n";
  o << "# HELP privcast_proxy_requests_total HTTP responses from machines by status class.\n"
       "# TYPE privcast_proxy_requests_total counter\n";
  for (auto& m : machines)
    for (int c = 1; c < kStatusClasses; ++c)
      if (uint64_t n = m->requests_by_class[c].load())
        o << "privcast_proxy_requests_total{app=\"" << Esc(m->app) << "\",machine=\"" << m->id << "\",status=\"" << c
          << "xx\"} " << n << "\n";
  o << "# TYPE privcast_proxy_machine_load gauge\n";
  for (auto& m : machines)
    o << "privcast_proxy_machine_load{app=\"" << Esc(m->app) << "\",machine=\"" << m->id << "\"} " << m->load.load()
      << "\n";
  o << "# TYPE privcast_proxy_machine_healthy gauge\n";
  for (auto& m : machines)
    o << "privcast_proxy_machine_healthy{app=\"" << Esc(m->app) << "\",machine=\"" << m->id << "\"} "
      << (m->healthy.load() ? 1 : 0) << "\n";
  o << "# TYPE privcast_proxy_upstream_connect_failures_total counter\n";
  for (auto& m : machines)
    o << "privcast_proxy_upstream_connect_failures_total{app=\"" << Esc(m->app) << "\",machine=\"" << m->id << "\"} "
      << m->upstream_connect_failures.load() << "\n";
}

std::string ProxyImpl::RenderMetrics() const {
  std::ostringstream o;
  auto apps = table.Apps();
  RenderProxyMetrics(o, apps);
  RenderAppMetrics(o, apps);
  RenderServiceAndMachineMetrics(o);
  return o.str();
}

// ---------------------------------------------------------------------------------------------
// Proxy

Proxy::Proxy(ProxyOptions options, MachineWaker* waker, MachineStopper* stopper, Clock* clock)
    : impl_(std::make_unique<ProxyImpl>(std::move(options), waker, stopper, clock)) {}

Proxy::~Proxy() { impl_->Shutdown(); }

void Proxy::SetEventCallback(ProxyEventFn fn) { impl_->event_fn = std::move(fn); }
void Proxy::SetTlsContextProvider(TlsContextProvider* provider) { impl_->tls = provider; }
Status Proxy::Start() { return impl_->Start(); }
void Proxy::Publish(SnapshotPtr snapshot) { impl_->Publish(std::move(snapshot)); }
void Proxy::StopAccepting() { impl_->StopAccepting(); }
bool Proxy::Drain(Duration deadline) { return impl_->Drain(deadline); }
std::string Proxy::RenderMetrics() const { return impl_->RenderMetrics(); }
int Proxy::RunAutostopPass() { return impl_->RunAutostopPass(); }

int64_t Proxy::OpenConnections() const {
  int64_t n = 0;
  for (auto& w : impl_->workers) n += w->open_sessions();
  return n;
}

int32_t Proxy::MachineLoad(const std::string& id) const {
  for (auto& m : impl_->table.Machines())
    if (m->id == id) return m->load.load();
  return -1;
}

std::vector<CheckResult> Proxy::HealthChecks() const { return impl_->HealthChecks(); }

bool Proxy::MachineHealthy(const std::string& id) const {
  for (auto& m : impl_->table.Machines())
    if (m->id == id) return m->healthy.load();
  return false;
}

}  // namespace privcast::proxy
