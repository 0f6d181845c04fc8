#include "proxy/health.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <set>

#include "common/log.h"
#include "common/strings.h"
#include "proxy/balancer.h"
#include "proxy/proxy_impl.h"
#include "proxy/worker.h"

namespace privcast::proxy {

struct HealthChecker::Check final : EventHandler {
  HealthChecker* hc = nullptr;
  std::shared_ptr<MachineState> st;
  std::string key;
  std::string name;      // CheckNamesFor
  bool checked = false;  // completed at least once
  UpstreamAddr up;
  uint16_t port = 0;
  bool http = false;
  std::string request;  // http check request bytes
  Duration interval{}, timeout{}, grace{};
  MonoTime first{};
  bool passing = true;
  std::string output = "no result yet";  // why the last result was what it was (status)
  int fd = -1;
  bool connected = false;
  std::string resp;
  EventLoop::TimerId timer = 0;

  EventLoop& loop() { return hc->w_->loop(); }
  void Schedule(Duration d) {
    timer = loop().AddTimerAfter(d, [this] {
      timer = 0;
      Run();
    });
  }
  void Run() {
    int err = 0;
    fd = ConnectUpstream(up, port, &err);
    if (fd < 0) return Done(false, std::string("connect: ") + std::strerror(err));
    connected = false;
    resp.clear();
    loop().Add(fd, EPOLLOUT, this);
    timer = loop().AddTimerAfter(timeout, [this] {
      timer = 0;
      Done(false, "timed out");
    });
  }
  void OnEvents(uint32_t ev) override {
    if (fd < 0) return;  // disarmed earlier in this batch: a stale event
    if (!connected) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err || (ev & EPOLLERR))
        return Done(false, std::string("connect: ") + std::strerror(err ? err : ECONNREFUSED));
      connected = true;
      if (!http) return Done(true, "connected");
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
        return Done(false, "send failed");
      loop().Modify(fd, EPOLLIN, this);
      return;
    }
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EAGAIN) return;
    if (n > 0) resp.append(buf, static_cast<size_t>(n));
    if (resp.size() >= 12 || n <= 0) {
      // "HTTP/1.x NNN": the status code is three digits at a fixed place.
      std::optional<int> status;
      if (resp.size() >= 12 && resp.compare(0, 7, "HTTP/1.") == 0 && resp[8] == ' ')
        status = ParseDecimal<int>(std::string_view(resp).substr(9, 3));
      bool ok = status && *status >= 200 && *status < 400;
      Done(ok, status ? "HTTP " + std::to_string(*status) : std::string("no HTTP response"));
    }
  }
  void Done(bool ok, std::string why) {
    if (timer) loop().CancelTimer(timer);
    timer = 0;
    if (fd >= 0) {
      loop().Del(fd);
      ::close(fd);
      fd = -1;
    }
    if (!ok && loop().Now() - first < grace) {
      ok = true;
      why += " (in grace period)";
    }
    output = std::move(why);
    checked = true;
    bool changed = ok != passing;
    if (changed) {
      passing = ok;
      log::Info("proxy", ok ? "health check passing" : "health check failing",
                {{"app", st->app}, {"machine", st->id}, {"check", key}});
      hc->proxy_->Emit(st->app, st->id, std::string("health check ") + key + (ok ? " passing" : " failing"));
    }
    hc->Recompute(st.get());
    Schedule(interval);
  }
  // Stops the timer and closes the socket; afterwards nothing touches hc or the loop, so the
  // memory may outlive both (HealthChecker::Retire).
  void Disarm() {
    if (timer) loop().CancelTimer(timer);
    timer = 0;
    if (fd >= 0) {
      loop().Del(fd);
      ::close(fd);
      fd = -1;
    }
  }
  ~Check() override { Disarm(); }
};

HealthChecker::HealthChecker(ProxyImpl* proxy, Worker* worker)
    : proxy_(proxy), w_(worker), alive_(std::make_shared<bool>(true)) {}

HealthChecker::~HealthChecker() {
  // Checks live on the worker's loop: destroy them there.
  std::promise<void> done;
  auto f = done.get_future();
  w_->loop().Post([this, &done] {
    Retire(std::move(checks_));
    checks_.clear();
    done.set_value();
  });
  f.wait();
}

void HealthChecker::Update(RoutingStatePtr rs) {
  w_->loop().Post([this, rs = std::move(rs)] { Apply(rs); });
}

std::vector<std::string> CheckNamesFor(const Snapshot& snap, const MachineView& m) {
  std::vector<std::string> names;
  for (const ServiceSpec& svc : snap.apps[m.app_index].services) {
    if (!ServesService(m, svc)) continue;
    size_t n = svc.tcp_checks.size() + svc.http_checks.size();
    for (size_t ci = 0; ci < n; ++ci) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "servicecheck-%02zu-%s-%u", names.size(),
                    ci < svc.tcp_checks.size() ? "tcp" : "http", static_cast<unsigned>(svc.internal_port));
      names.push_back(buf);
    }
  }
  return names;
}

std::vector<CheckResult> HealthChecker::Statuses() const {
  PC_LOOP_CHECK_THREAD(&w_->loop());
  std::vector<CheckResult> out;
  out.reserve(checks_.size());
  for (const auto& [key, c] : checks_)
    out.push_back({c->st->id, c->st->app, c->name,
                   !c->checked  ? "pending"
                   : c->passing ? "passing"
                                : "critical",
                   c->output});
  return out;
}

void HealthChecker::Apply(const RoutingStatePtr& rs) {
  PC_LOOP_CHECK_THREAD(&w_->loop());
  std::map<std::string, std::unique_ptr<Check>> next;
  const Snapshot& snap = *rs->snap;
  for (const MachineView& m : snap.machines) {
    const MachineState& ms = *rs->machines[m.index];
    if (!EffectivelyStarted(m, ms, snap.revision)) continue;
    const AppView& app = snap.apps[m.app_index];
    const std::vector<std::string> names = CheckNamesFor(snap, m);
    size_t name_index = 0;
    for (size_t si = 0; si < app.services.size(); ++si) {
      const ServiceSpec& svc = app.services[si];
      if (!ServesService(m, svc)) continue;
      size_t n = svc.tcp_checks.size() + svc.http_checks.size();
      for (size_t ci = 0; ci < n; ++ci) {
        bool http = ci >= svc.tcp_checks.size();
        std::string key = m.id + "/" + std::to_string(si) + (http ? "/http" : "/tcp") + std::to_string(ci);
        const std::string& name = names[name_index++];
        // A check that already runs keeps its socket, timer and verdict: its node moves to
        // `next`, so what stays in checks_ afterwards is exactly what this snapshot dropped.
        if (auto node = checks_.extract(key)) {
          next.insert(std::move(node));
          continue;
        }
        auto c = std::make_unique<Check>();
        c->hc = this;
        c->st = rs->machines[m.index];
        c->key = key;
        c->name = name;
        c->up = UpstreamAddr::Of(m);
        c->port = svc.internal_port;
        c->http = http;
        if (http) {
          const HttpCheckSpec& h = svc.http_checks[ci - svc.tcp_checks.size()];
          c->interval = std::chrono::milliseconds(h.interval_ms);
          c->timeout = std::chrono::milliseconds(h.timeout_ms);
          c->grace = std::chrono::milliseconds(h.grace_period_ms);
          c->request = h.method + " " + h.path + " HTTP/1.1\r\nHost: " + app.name + ".flycast\r\n";
          for (auto& [k, v] : h.headers) c->request += k + ": " + v + "\r\n";
          c->request += "User-Agent: privcast-health\r\nConnection: close\r\n\r\n";
        } else {
          const TcpCheckSpec& t = svc.tcp_checks[ci];
          c->interval = std::chrono::milliseconds(t.interval_ms);
          c->timeout = std::chrono::milliseconds(t.timeout_ms);
          c->grace = std::chrono::milliseconds(t.grace_period_ms);
        }
        c->first = w_->loop().Now();
        c->Schedule(Duration(0));
        next.emplace(key, std::move(c));
      }
    }
  }
  // Machines left with no check at all (stopped, config changed) go back to healthy; machines
  // that lost some checks but kept others get their verdict from the ones that remain.
  std::set<MachineState*> still_checked;
  for (auto& [key, c] : next) still_checked.insert(c->st.get());
  std::set<MachineState*> recompute;
  for (auto& [key, c] : checks_) {
    if (still_checked.count(c->st.get())) recompute.insert(c->st.get());
    else c->st->healthy.store(true, std::memory_order_relaxed);
  }
  std::map<std::string, std::unique_ptr<Check>> dropped;
  dropped.swap(checks_);
  checks_.swap(next);
  for (MachineState* st : recompute) Recompute(st);
  Retire(std::move(dropped));
}

// Takes ownership: the checks are moved out into the loop's retire list (clang-tidy 14 misses
// a move through a structured binding).
// NOLINTNEXTLINE(performance-unnecessary-value-param): see above
void HealthChecker::Retire(std::map<std::string, std::unique_ptr<Check>> dead) {
  for (auto& [key, c] : dead) {
    c->Disarm();
    w_->loop().Retire(std::move(c));
  }
}

void HealthChecker::Recompute(MachineState* st) {
  bool ok = true;
  for (auto& [k, c] : checks_)
    if (c->st.get() == st && !c->passing) ok = false;
  st->healthy.store(ok, std::memory_order_relaxed);
}

}  // namespace privcast::proxy
