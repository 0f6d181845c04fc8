#include "proxy/worker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/addr.h"
#include "common/ids.h"
#include "common/log.h"
#include "proxy/h2_upstream.h"
#include "proxy/http_session.h"
#include "proxy/proxy_impl.h"
#include "proxy/tcp_session.h"

namespace privcast::proxy {

// ---------------------------------------------------------------------------------------------
// Helpers

void ResetClose(int fd) {
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  ::close(fd);
}

int ConnectV4(uint32_t addr, uint16_t port, int* err) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 && errno != EINPROGRESS) {
    *err = errno;
    ::close(fd);
    return -1;
  }
  *err = 0;
  return fd;
}

int ConnectUpstream(const UpstreamAddr& a, uint16_t port, int* err) {
  if (!a.remote) return ConnectV4(a.link_v4, port, err);
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A host that dies mid-request (or while this connection idles in the pool) answers nothing:
  // bytes it does not acknowledge in time end the connection with ETIMEDOUT instead of
  // hanging until the client gives up (UpConn::host_down; host_suspects.h).
  unsigned user_timeout_ms = static_cast<unsigned>(
      std::chrono::duration_cast<std::chrono::milliseconds>(kRemoteConnectTimeout).count());
  ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  std::memcpy(&sa.sin6_addr, a.six_pn.b.data(), 16);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 && errno != EINPROGRESS) {
    *err = errno;
    ::close(fd);
    return -1;
  }
  *err = 0;
  return fd;
}

std::string PeerIp(const sockaddr_in6& a) {
  char buf[INET6_ADDRSTRLEN];
  if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
    ::inet_ntop(AF_INET, &a.sin6_addr.s6_addr[12], buf, sizeof buf);
  } else {
    ::inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
  }
  return buf;
}

uint16_t PortOf(const sockaddr_in6& a) { return ntohs(a.sin6_port); }

static Ip6 ToIp6(const sockaddr_in6& a) {
  Ip6 ip;
  std::memcpy(ip.b.data(), &a.sin6_addr, 16);
  return ip;
}

// ---------------------------------------------------------------------------------------------
// Session

Session::Session(Worker* wk, RoutingStatePtr r, uint32_t ai, const ServiceSpec* s, const PortSpec* p, int fd,
                 const sockaddr_in6& pe, const sockaddr_in6& lo)
    : w(wk), rs(std::move(r)), app_index(ai), svc(s), port(p), cfd(fd), peer(pe), local(lo) {
  io.fd = fd;
}

Session::~Session() {
  if (timer_) w->loop().CancelTimer(timer_);
}

void Session::SetDeadline(MonoTime t) {
  deadline_ = t;
  if (t == MonoTime::max()) return;
  if (timer_ && armed_ <= t) return;  // the armed timer fires first and re-arms lazily
  if (timer_) w->loop().CancelTimer(timer_);
  armed_ = t;
  timer_ = w->loop().AddTimer(t, [this] { FireTimer(); });
}

void Session::FireTimer() {
  timer_ = 0;
  armed_ = MonoTime::max();
  if (dead) return;
  if (deadline_ == MonoTime::max()) return;
  if (w->loop().Now() < deadline_) {
    SetDeadline(deadline_);
    return;
  }
  deadline_ = MonoTime::max();
  OnDeadline();
}

// ---------------------------------------------------------------------------------------------
// Worker

Worker::Worker(ProxyImpl* proxy, int index) : proxy_(proxy), index_(index), loop_(proxy->clock) {
  rng_ = ids::RandomU64() | 1;
}

Worker::~Worker() {
  AbortAll();
  loop_.FlushDeferred();  // the loop is not running anymore: free what Abort deferred
  h2pool_.reset();
  loop_.FlushDeferred();
  listeners_.clear();
  for (auto& [st, p] : upool_)
    for (UpConn* c : p.idle) {
      std::unique_ptr<UpConn> owned(c);  // the pool's: freed here
      ResetClose(owned->fd.release());   // DropUpConn's rule, without the loop that is gone
    }
  upool_.clear();
  for (auto& p : pipes_) {
    ::close(p.first);
    ::close(p.second);
  }
}

const ProxyOptions& Worker::opts() const { return proxy_->opts; }

H2UpstreamPool& Worker::h2_upstreams() {
  if (!h2pool_) h2pool_ = std::make_unique<H2UpstreamPool>(this);
  return *h2pool_;
}

Status Worker::Init() {
  if (opts().batch_when_busy) {
    BatchWhenBusy::Seams seams = BatchWhenBusy::RealSeams();
    seams.sessions = [this] { return open_sessions(); };
    governor_ = std::make_unique<BatchWhenBusy>(&loop_, BatchWhenBusyOptions{}, std::move(seams));
    loop_.set_governor(governor_.get());
  }
  return loop_.Init(opts().batch_sends);
}

void Worker::StartThread() {
  thread_ = std::thread([this] { loop_.Run(); });
}

void Worker::Join() {
  loop_.Stop();
  if (thread_.joinable()) thread_.join();
}

uint64_t Worker::NextRandom() {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return rng_;
}

void Worker::NewRequestId(char out[26]) {
  static const char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford base32
  uint64_t ms = static_cast<uint64_t>(proxy_->clock->WallUnixMillis());
  for (int i = 9; i >= 0; --i) {
    out[i] = kAlphabet[ms & 31];
    ms >>= 5;
  }
  uint64_t r = NextRandom();
  uint64_t c = (static_cast<uint64_t>(index_) << 40) ^ ++req_counter_;
  for (int i = 10; i < 26; ++i) {
    uint64_t& src = i < 18 ? r : c;
    out[i] = kAlphabet[src & 31];
    src >>= 5;
  }
}

void Worker::Apply(RoutingStatePtr rs) {
  PC_LOOP_CHECK_THREAD(&loop_);
  rs_ = std::move(rs);
  if (!suspects_.empty()) suspects_.Retain(*rs_->snap, loop_.Now());
  ReconcileListeners();
  // A new snapshot may make queued sessions routable (new machines) — try them.
  std::vector<std::string> apps;
  for (auto& [app, q] : queues_)
    if (!q.empty()) apps.push_back(app);
  for (auto& a : apps) DispatchQueue(a);
}

void Worker::SetAccepting(bool on) {
  PC_LOOP_CHECK_THREAD(&loop_);
  accepting_ = on;
  ReconcileListeners();
}

void Worker::ReconcileListeners() {
  std::vector<uint16_t> want;
  if (accepting_ && rs_) want = rs_->ports;
  // Close listeners no longer wanted (accept what is already queued first, so no client that
  // completed its handshake is reset by the close).
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (!std::binary_search(want.begin(), want.end(), it->first)) {
      for (int i = 0; i < 4096; ++i)  // bounded: a listener under a flood still closes
        if (!AcceptOne(it->second.get())) break;
      // The port is released now; the handler's memory only after this batch, which may still
      // hold an event for it (we run inside a posted closure).
      loop_.Del(it->second->fd.get());
      it->second->fd.reset();
      loop_.Retire(std::move(it->second));
      it = listeners_.erase(it);
    } else {
      ++it;
    }
  }
  for (uint16_t port : want) {
    if (listeners_.count(port)) continue;
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    auto l = std::make_unique<Listener>();
    l->w = this;
    l->port = port;
    l->fd.reset(fd);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one);
    // Accepted sockets inherit TCP_NODELAY from the listener: one system call less per
    // connection than setting it on each.
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    if (::inet_pton(AF_INET6, opts().listen_address.c_str(), &sa.sin6_addr) != 1) sa.sin6_addr = in6addr_any;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || ::listen(fd, 4096) < 0) {
      log::Warn("proxy", "cannot listen",
                {{"port", static_cast<int>(port)}, {"error", std::strerror(errno)}, {"worker", index_}});
      continue;
    }
    loop_.Add(fd, EPOLLIN, l.get());
    listeners_.emplace(port, std::move(l));
  }
}

bool Worker::AcceptOne(Listener* l) {
  // The proxy's descriptor budget (ProxyOptions::fd_budget): stop short of it by the most one
  // connection can take (client, app, two splice pipes), as if the kernel had said EMFILE, so
  // what is left of the process limit stays the API's, DNS's and the machines'.
  if (opts().fd_budget > 0 && proxy_->FdsInUse() + 6 > opts().fd_budget) {
    PauseListener(l, 0);
    return false;
  }
  sockaddr_in6 peer{};
  socklen_t len = sizeof peer;
  int fd = ::accept4(l->fd.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EINTR || errno == ECONNABORTED) return true;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) PauseListener(l, errno);
    return false;  // EAGAIN: empty (or another worker took it)
  }
  sockaddr_in6 local{};
  len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) < 0 || local.sin6_family != AF_INET6) {
    ResetClose(fd);
    return true;
  }
  Admit(fd, peer, local);
  return true;
}

void Worker::OnAccept(Listener* l) {
  PC_LOOP_DCHECK_THREAD(&loop_);  // per connection: debug builds only
  // One connection per readiness event (nginx's `multi_accept off`): the listener is
  // level-triggered, so the next epoll_wait reports it again while its queue is not empty, and
  // no accept4() is spent learning that the queue is empty. The connection's first request is
  // served before the next accept, which is what a lone fresh connection waits on.
  AcceptOne(l);
}

void Worker::PauseListener(Listener* l, int err) {
  // Out of descriptors or memory: a level-triggered listener would report the same full queue
  // on every turn and spin the worker. Stop watching it for a moment (nginx does the same);
  // connections wait in the kernel's queue meanwhile.
  (err ? accept_errors : budget_pauses).fetch_add(1, std::memory_order_relaxed);
  if (l->paused) return;
  l->paused = true;
  loop_.Modify(l->fd.get(), 0, l);
  if (err) {
    log::Warn("proxy", "accept failed, listener paused",
              {{"port", static_cast<int>(l->port)}, {"error", std::strerror(err)}, {"worker", index_}});
  } else if (budget_pauses.load(std::memory_order_relaxed) % 64 == 1) {  // rate-limited: one line per 64 pauses
    log::Warn("proxy", "descriptor budget used, listener paused",
              {{"port", static_cast<int>(l->port)}, {"budget", opts().fd_budget}, {"worker", index_}});
  }
  uint16_t port = l->port;
  loop_.AddTimer(loop_.Now() + std::chrono::milliseconds(100), [this, port] {
    auto it = listeners_.find(port);
    if (it == listeners_.end() || !it->second->paused) return;
    it->second->paused = false;
    loop_.Modify(it->second->fd.get(), EPOLLIN, it->second.get());
  });
}

void Worker::Refuse(int fd, const AppView* app, uint32_t src_net, const sockaddr_in6& peer) {
  refused.fetch_add(1, std::memory_order_relaxed);
  if (!app) {
    refused_unknown.fetch_add(1, std::memory_order_relaxed);
    return ResetClose(fd);
  }
  const bool log_it = rs_->apps[app->index]->CountRefusal(src_net, NowNs(), opts().refusal_log_interval.count());
  ResetClose(fd);  // after counting, so whoever saw the reset can see the counter
  if (log_it) {
    char net[16];
    std::snprintf(net, sizeof net, "%x", src_net);
    log::Warn("proxy", "flycast admission refused",
              {{"app", app->name}, {"client", PeerIp(peer)}, {"client_network", net}});
  }
}

void Worker::RefuseOverLimit(int fd, const AppView& app, uint32_t src_net, const sockaddr_in6& peer,
                             NetLimits::Verdict v, bool log_it) {
  // A reset, like an admission refusal: nothing read, no descriptor kept, no machine woken — a
  // 503 would first need the request head, i.e. the very descriptor a flood is holding.
  ResetClose(fd);
  if (!log_it) return;
  char net[16];
  std::snprintf(net, sizeof net, "%x", src_net);
  log::Warn("proxy", "source network over its limit, connection reset",
            {{"app", app.name},
             {"client", PeerIp(peer)},
             {"client_network", net},
             {"limit", v == NetLimits::Verdict::kTooFast ? "rate" : "connections"}});
}

void Worker::Admit(int fd, const sockaddr_in6& peer, const sockaddr_in6& local) {
  accepted.fetch_add(1, std::memory_order_relaxed);
  if (!rs_) return ResetClose(fd);
  const Snapshot& snap = *rs_->snap;
  const FlycastEntry* fe = snap.FindFlycast(ToIp6(local));
  if (!fe) return Refuse(fd, nullptr, 0, peer);
  const AppView& app = snap.apps[fe->app_index];
  // A per-service address (ADR 0013) admits and routes by its own services only.
  const std::shared_ptr<ServiceState>& svc_state = rs_->services[static_cast<size_t>(fe - snap.flycast.data())];
  auto net = addr::NetworkOf(ToIp6(peer));
  if (!net || *net != fe->net32) {
    if (svc_state) svc_state->refused_total.fetch_add(1, std::memory_order_relaxed);
    return Refuse(fd, &app, net.value_or(0), peer);
  }
  uint16_t lport = PortOf(local);
  const ServiceSpec* svc = nullptr;
  const PortSpec* ps = nullptr;
  for (const ServiceSpec& s : fe->Services(app)) {
    for (const PortSpec& p : s.ports)
      if (lport >= p.start_port && lport <= p.end_port) {
        svc = &s;
        ps = &p;
        break;
      }
    if (svc) break;
  }
  if (!svc) {
    if (svc_state) svc_state->refused_total.fetch_add(1, std::memory_order_relaxed);
    return Refuse(fd, &app, *net, peer);
  }
  NetLimits::Net* slot = nullptr;
  bool log_it = false;
  NetLimits::Verdict v = proxy_->net_limits.Admit(*net, NowNs(), &slot, &log_it);
  if (v != NetLimits::Verdict::kOk) return RefuseOverLimit(fd, app, *net, peer, v, log_it);
  std::unique_ptr<TlsStream> tls;
  if (ps->tls && !(tls = AcceptTls(*this, app.index, *ps, fd, peer))) {  // closed, counted, logged
    NetLimits::Release(slot);
    return;
  }
  std::unique_ptr<Session> owned;
  if (ps->http) owned = std::make_unique<HttpSession>(this, rs_, app.index, svc, ps, fd, peer, local);
  else owned = std::make_unique<TcpSession>(this, rs_, app.index, svc, ps, fd, peer, local);
  Session* s = owned.get();
  s->io.tls = std::move(tls);
  s->net_slot = slot;
  if (svc_state) {
    s->svc_state = svc_state;
    svc_state->connections_total.fetch_add(1, std::memory_order_relaxed);
  }
  // Client + app socket, and a raw TCP relay's two splice pipes.
  s->fd_charge = 2 + (!ps->http && opts().splice && !s->io.tls ? 4 : 0);
  Register(std::move(owned));
  if (draining_ && !s->dead) s->OnDrain();
}

void Worker::Register(std::unique_ptr<Session> owned) {
  Session* s = owned.release();  // the list's now, until Unregister
  s->next = sessions_;
  if (sessions_) sessions_->prev = s;
  sessions_ = s;
  open_sessions_.fetch_add(1, std::memory_order_relaxed);
  ChargeFds(s->fd_charge);
  s->Start();
}

void Worker::Unregister(Session* s) {
  if (s->dead) return;
  s->dead = true;
  if (s->waiting) CancelWait(s);
  if (s->prev) s->prev->next = s->next;
  else sessions_ = s->next;
  if (s->next) s->next->prev = s->prev;
  open_sessions_.fetch_sub(1, std::memory_order_relaxed);
  ChargeFds(-s->fd_charge);
  if (s->net_slot) NetLimits::Release(s->net_slot);
  s->net_slot = nullptr;
  loop_.Retire(std::unique_ptr<Session>(s));  // out of the list: owned again, freed after the batch
}

void Worker::BeginDrain() {
  PC_LOOP_CHECK_THREAD(&loop_);
  draining_ = true;
  for (Session* s = sessions_; s;) {
    Session* n = s->next;
    s->OnDrain();
    s = n;
  }
  for (auto& [st, p] : upool_) {
    for (UpConn* c : p.idle) {
      c->owner = nullptr;
      DropUpConn(c);
      ChargeFds(-1);
    }
    p.idle.clear();
  }
  if (h2pool_) h2pool_->CloseAll();
}

void Worker::AbortAll() {
  PC_LOOP_CHECK_THREAD(&loop_);
  while (sessions_) sessions_->Abort();  // Abort unregisters (and defers the delete)
}

// ---------------------------------------------------------------------------------------------
// Routing

bool Worker::ResolveApp(Session* s) {
  if (s->rs == rs_) return true;
  const std::string& name = s->rs->snap->apps[s->app_index].name;
  const AppView* app = rs_->snap->FindApp(name);
  if (!app) return false;
  const std::vector<ServiceSpec>* services = &app->services;
  if (s->svc_state) {
    // A per-service address: its scope in the new snapshot (gone or moved: no route).
    const FlycastEntry* fe = rs_->snap->FindFlycast(ToIp6(s->local));
    if (!fe || fe->app_index != app->index || fe->service != s->svc_state->service) return false;
    services = &fe->services;
  }
  uint16_t lport = PortOf(s->local);
  for (const ServiceSpec& svc : *services)
    for (const PortSpec& p : svc.ports)
      if (lport >= p.start_port && lport <= p.end_port) {
        s->rs = rs_;
        s->app_index = app->index;
        s->svc = &svc;
        s->port = &p;
        return true;
      }
  return false;
}

void Worker::Route(Session* s) {
  PC_LOOP_DCHECK_THREAD(&loop_);  // per request: debug builds only
  if (!ResolveApp(s)) return s->OnRouteFailed(0);
  const RoutingState& rs = *s->rs;
  const Snapshot& snap = *rs.snap;
  const AppView& app = snap.apps[s->app_index];
  const int64_t rev = snap.revision;
  std::vector<const MachineState*> raced;  // lost the hard_limit race on these
  for (int round = 0; round < 8; ++round) {
    auto status = [&](uint32_t i) {
      const MachineView& m = snap.machines[i];
      const MachineState& st = *rs.machines[i];
      MachineStatus ms;
      bool failed = std::find(s->tried.begin(), s->tried.end(), &st) != s->tried.end() ||
                    (m.remote && suspects_.Suspect(m.host_id, loop_.Now()));
      bool stopping = st.stop_requested_revision.load(std::memory_order_relaxed) >= rev;
      ms.started = !failed && !stopping && EffectivelyStarted(m, st, rev);
      ms.wakeable = !failed && !ms.started &&
                    (m.state == MachineRunState::kStopped || m.state == MachineRunState::kSuspended ||
                     m.state == MachineRunState::kStopping || m.state == MachineRunState::kStarting || stopping);
      ms.starting = ms.wakeable && (m.state == MachineRunState::kStarting || wakes_.count(m.id) > 0);
      ms.healthy = st.healthy.load(std::memory_order_relaxed);
      ms.load = st.load.load(std::memory_order_relaxed);
      if (std::find(raced.begin(), raced.end(), &st) != raced.end() && s->svc->hard_limit)
        ms.load = static_cast<int32_t>(s->svc->hard_limit);
      return ms;
    };
    Choice c = ChooseMachine(snap, app, *s->svc, status, s->hints, NextRandom());
    s->preference_unavailable = c.preference_unavailable;
    switch (c.kind) {
      case Choice::kRoute: {
        auto& st = rs.machines[c.machine];
        if (!st->TryAcquire(s->svc->hard_limit)) {
          raced.push_back(st.get());
          continue;
        }
        st->open_conns.fetch_add(1, std::memory_order_relaxed);
        if (c.also_wake >= 0) StartWake(static_cast<uint32_t>(c.also_wake), nullptr);
        Lease lease;
        lease.st = st;
        lease.link_v4 = snap.machines[c.machine].link_v4;
        lease.remote = snap.machines[c.machine].remote;
        lease.port = s->svc->internal_port;
        return s->OnRouted(std::move(lease));
      }
      case Choice::kWake:
        return StartWake(c.machine, s);
      case Choice::kQueue:
        return Enqueue(s, app);
      case Choice::kReject:
        rs.apps[s->app_index]->rejected_no_machine.fetch_add(1, std::memory_order_relaxed);
        if (s->svc_state) s->svc_state->rejected_no_machine.fetch_add(1, std::memory_order_relaxed);
        return s->OnRouteFailed(503);
    }
  }
  Enqueue(s, app);
}

void Worker::Enqueue(Session* s, const AppView& app) {
  AppState& as = *s->rs->apps[app.index];
  if (as.queued.fetch_add(1, std::memory_order_relaxed) >= static_cast<int32_t>(opts().queue_depth)) {
    as.queued.fetch_sub(1, std::memory_order_relaxed);
    as.queue_timeouts.fetch_add(1, std::memory_order_relaxed);
    return s->OnRouteFailed(503);
  }
  as.queued_total.fetch_add(1, std::memory_order_relaxed);
  s->waiting = true;
  s->queued_at = loop_.Now();
  s->SetDeadline(loop_.Now() + opts().queue_timeout);
  queues_[app.name].push_back(s);
}

void Worker::CancelWait(Session* s) {
  if (!s->waiting) return;
  s->waiting = false;
  const std::string& name = s->rs->snap->apps[s->app_index].name;
  auto q = queues_.find(name);
  if (q != queues_.end()) {
    auto it = std::find(q->second.begin(), q->second.end(), s);
    if (it != q->second.end()) {
      q->second.erase(it);
      s->rs->apps[s->app_index]->queued.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
  }
  for (auto& [id, g] : wakes_) {
    auto it = std::find(g.waiters.begin(), g.waiters.end(), s);
    if (it != g.waiters.end()) {
      g.waiters.erase(it);
      return;
    }
  }
}

void Worker::DispatchQueue(const std::string& app) {
  PC_LOOP_DCHECK_THREAD(&loop_);  // posted by other workers as load drops: debug builds only
  auto q = queues_.find(app);
  if (q == queues_.end()) return;
  // Route queued sessions in FIFO order while capacity lasts; a session that is queued again
  // goes back to the tail, so stop after one pass.
  size_t n = q->second.size();
  for (size_t i = 0; i < n && !q->second.empty(); ++i) {
    Session* s = q->second.front();
    q->second.pop_front();
    s->waiting = false;
    AppState& as = *s->rs->apps[s->app_index];
    as.queued.fetch_sub(1, std::memory_order_relaxed);
    as.queue_wait_us_total.fetch_add(
        std::chrono::duration_cast<std::chrono::microseconds>(loop_.Now() - s->queued_at).count(),
        std::memory_order_relaxed);
    s->ClearDeadline();
    Route(s);
    // Still no capacity: Route re-queued it at the tail; the rest would fare the same.
    if (s->waiting && !q->second.empty() && q->second.back() == s) break;
  }
}

void Worker::ConnectFailed(const Lease& l, int err) {
  if (!l.st) return;
  l.st->upstream_connect_failures.fetch_add(1, std::memory_order_relaxed);
  bool silent = err == 0 || err == ETIMEDOUT || err == EHOSTUNREACH || err == ENETUNREACH || err == EHOSTDOWN;
  if (!l.remote || !silent) return;
  auto host = addr::HostOf(l.st->six_pn);
  if (!host) return;
  suspects_.Mark(*host, loop_.Now());
  // Its pooled connections would only hang the next requests when it is back in routing.
  for (auto& [st, pool] : upool_) {
    if (addr::HostOf(st->six_pn) != host) continue;
    for (UpConn* c : pool.idle) {
      DropUpConn(c);
      ChargeFds(-1);
    }
    pool.idle.clear();
  }
}

Duration Worker::ConnectTimeout(const Lease& l) const {
  Duration d = opts().connect_timeout;
  return l.remote ? std::min(d, kRemoteConnectTimeout) : d;
}

void Worker::Release(Lease& lease, const std::string& app) {
  if (!lease.st) return;
  lease.st->open_conns.fetch_sub(1, std::memory_order_relaxed);
  lease.st->SubLoad(NowNs());
  AppState* as = lease.st->app_state.get();
  lease.st.reset();
  if (as && as->queued.load(std::memory_order_relaxed) > 0) {
    DispatchQueue(app);
    proxy_->KickQueues(index_, app);
  }
}

// ---------------------------------------------------------------------------------------------
// Wakes

void Worker::StartWake(uint32_t machine_index, Session* waiter) {
  const Snapshot& snap = *rs_->snap;
  const MachineView& m = snap.machines[machine_index];
  auto it = wakes_.find(m.id);
  if (it != wakes_.end()) {
    if (waiter) {
      waiter->waiting = true;
      it->second.waiters.push_back(waiter);
    }
    return;
  }
  WakeGroup g;
  g.st = rs_->machines[machine_index];
  g.app = snap.apps[m.app_index].name;
  g.app_index = m.app_index;
  g.internal_port = waiter ? waiter->svc->internal_port : 0;
  if (!waiter) {
    // Background wake: use the first service of the app that this machine serves.
    for (const ServiceSpec& svc : snap.apps[m.app_index].services)
      if (ServesService(m, svc)) {
        g.internal_port = svc.internal_port;
        break;
      }
  }
  g.started = loop_.Now();
  g.gen = ++wake_gen_;
  if (waiter) {
    waiter->waiting = true;
    g.waiters.push_back(waiter);
  }
  std::string id = m.id;
  uint64_t gen = g.gen;
  g.timer = loop_.AddTimerAfter(opts().wake_timeout,
                                [this, id, gen] { WakeDone(id, gen, Unavailable("wake timeout")); });
  rs_->apps[m.app_index]->cold_starts.fetch_add(1, std::memory_order_relaxed);
  if (waiter && waiter->svc_state) waiter->svc_state->cold_starts.fetch_add(1, std::memory_order_relaxed);
  wakes_.emplace(id, std::move(g));
  proxy_->Emit(snap.apps[m.app_index].name, id, "Starting machine " + id);
  log::Info("proxy", "waking machine", {{"app", snap.apps[m.app_index].name}, {"machine", id}});
  proxy_->waker->Wake(id, wakes_[id].internal_port, &loop_,
                      [this, id, gen](const Status& st) { WakeDone(id, gen, st); });
}

void Worker::WakeDone(const std::string& id, uint64_t gen, const Status& st) {
  PC_LOOP_CHECK_THREAD(&loop_);  // the waker's answer comes back through the loop's Post
  auto it = wakes_.find(id);
  if (it == wakes_.end() || it->second.gen != gen) return;  // late answer after a timeout
  WakeGroup g = std::move(it->second);
  wakes_.erase(it);
  if (g.timer) loop_.CancelTimer(g.timer);
  double ms = std::chrono::duration<double, std::milli>(loop_.Now() - g.started).count();
  AppState* as = nullptr;
  if (rs_) {
    if (const AppView* a = rs_->snap->FindApp(g.app)) as = rs_->apps[a->index].get();
  }
  if (st.ok()) {
    g.st->woken_through_revision.store(rs_ ? rs_->snap->revision : 0, std::memory_order_relaxed);
    g.st->stop_requested_revision.store(-1, std::memory_order_relaxed);
    g.st->idle_since_ns.store(NowNs(), std::memory_order_relaxed);
    if (as) as->ObserveWakeMs(ms);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f", ms);
    proxy_->Emit(g.app, id, "machine " + id + " started in " + buf + " ms");
    log::Info("proxy", "machine woke", {{"app", g.app}, {"machine", id}, {"ms", ms}});
  } else {
    if (as) as->wake_failures.fetch_add(1, std::memory_order_relaxed);
    proxy_->Emit(g.app, id, "machine " + id + " failed to start: " + st.message());
    log::Warn("proxy", "wake failed", {{"app", g.app}, {"machine", id}, {"error", st.message()}});
  }
  // Release the waiters one by one through the balancer: they take the machine up to its
  // limits (then queue) — never all at once past hard_limit.
  for (Session* s : g.waiters) {
    if (s->dead || !s->waiting) continue;
    s->waiting = false;
    if (!st.ok()) s->tried.push_back(g.st.get());
    Route(s);
  }
}

// ---------------------------------------------------------------------------------------------
// Upstream pool and pipes

void UpConn::OnEvents(uint32_t ev) {
  if (closed) return;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable = true;
  if ((ev & EPOLLERR) && !host_down) {  // only remote sockets have TCP_USER_TIMEOUT
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0) so_error = err;
    host_down = err == ETIMEDOUT;
  }
  if (owner) return owner->OnUpstream(ev);
  // Idle in the pool: any input (EOF, reset, stray bytes) makes it unusable.
  if (!readable) return;
  auto it = w->upool_.find(st.get());
  if (it != w->upool_.end()) {
    auto& v = it->second.idle;
    auto end = std::remove(v.begin(), v.end(), this);
    if (end != v.end()) w->ChargeFds(-1);
    v.erase(end, v.end());
  }
  w->DropUpConn(this);
}

UpConn* Worker::NewUpConn(std::shared_ptr<MachineState> st, int fd, UpConnOwner* owner) {
  auto* c = std::make_unique<UpConn>().release();  // its owner's, or the pool's; DropUpConn frees it
  c->w = this;
  c->st = std::move(st);
  c->fd.reset(fd);
  c->owner = owner;
  loop_.Add(c->fd.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c);
  UpPool& p = upool_[c->st.get()];
  if (++p.busy > p.peak) p.peak = p.busy;
  return c;
}

void Worker::Unbusy(MachineState* st) {
  auto it = upool_.find(st);
  if (it != upool_.end() && it->second.busy > 0) --it->second.busy;
}

void Worker::DropUpConn(UpConn* c, bool orderly) {
  if (c->closed) return;
  c->closed = true;
  if (c->owner) Unbusy(c->st.get());  // a session's connection (pooled ones have no owner)
  c->owner = nullptr;
  loop_.Del(c->fd.get());  // close() alone may not leave the set: a forking child can hold the fd
  if (orderly) c->fd.reset();
  else ResetClose(c->fd.release());
  loop_.Retire(std::unique_ptr<UpConn>(c));
}

UpConn* Worker::TakePooled(MachineState* st, UpConnOwner* owner) {
  auto it = upool_.find(st);
  if (it == upool_.end() || it->second.idle.empty()) return nullptr;
  UpPool& p = it->second;
  UpConn* c = p.idle.back();
  p.idle.pop_back();
  ChargeFds(-1);
  c->owner = owner;
  if (++p.busy > p.peak) p.peak = p.busy;
  return c;
}

void Worker::PutPooled(UpConn* c) {
  UpPool& p = upool_[c->st.get()];
  if (c->owner && p.busy > 0) --p.busy;
  c->owner = nullptr;
  if (draining_ || c->readable || p.idle.size() >= std::max<size_t>(opts().upstream_pool_per_machine, p.peak))
    return DropUpConn(c);
  c->since = loop_.Now();
  p.idle.push_back(c);
  ChargeFds(1);
  if (!pool_sweep_timer_)
    pool_sweep_timer_ = loop_.AddTimerAfter(opts().upstream_idle_timeout, [this] { SweepPool(); });
}

void Worker::SweepPool() {
  pool_sweep_timer_ = 0;
  MonoTime cutoff = loop_.Now() - opts().upstream_idle_timeout;
  bool any = false;
  for (auto it = upool_.begin(); it != upool_.end();) {
    auto& v = it->second.idle;
    for (auto p = v.begin(); p != v.end();) {
      if ((*p)->since <= cutoff) {
        DropUpConn(*p);
        ChargeFds(-1);
        p = v.erase(p);
      } else {
        ++p;
      }
    }
    it->second.peak = it->second.busy;  // the peak decays: it lasts one idle interval at most
    if (v.empty() && it->second.busy == 0) {
      it = upool_.erase(it);
    } else {
      any = any || !v.empty();
      ++it;
    }
  }
  if (any) pool_sweep_timer_ = loop_.AddTimerAfter(opts().upstream_idle_timeout, [this] { SweepPool(); });
}

bool Worker::TakePipe(int fds[2]) {
  if (!pipes_.empty()) {
    fds[0] = pipes_.back().first;
    fds[1] = pipes_.back().second;
    pipes_.pop_back();
    ChargeFds(-2);
    return true;
  }
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return false;
  if (opts().pipe_size) ::fcntl(fds[0], F_SETPIPE_SZ, static_cast<int>(opts().pipe_size));
  return true;
}

void Worker::PutPipe(int fds[2]) {
  if (pipes_.size() < 64) {
    pipes_.emplace_back(fds[0], fds[1]);
    ChargeFds(2);
  } else {
    ::close(fds[0]);
    ::close(fds[1]);
  }
}

}  // namespace privcast::proxy

namespace privcast::proxy {
int64_t Worker::NowNs() const { return proxy_->clock->Now().time_since_epoch().count(); }
}  // namespace privcast::proxy
