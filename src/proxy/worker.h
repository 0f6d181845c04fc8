// Worker: one event-loop thread of the proxy. Internal to privcast_proxy.
//
// A Worker owns its EventLoop, its listening sockets (one SO_REUSEPORT socket per external
// port on [::]:port), every session it accepted (connections never migrate), its upstream
// connection pool, its wake groups and its part of the hard_limit queue.
//
// Routing state: `rs_` is the latest RoutingState posted by Proxy::Publish; a session keeps
// the RoutingState it was accepted under alive (its AppView/ServiceSpec pointers point into
// it) and re-resolves its app by name when it routes again after a swap.
//
// Thread-safety: everything here runs on the worker's thread, except the atomics that
// Proxy reads (open_sessions_) and Loop().Post(). The entry points others post or call back
// assert it: Apply, SetAccepting, BeginDrain, AbortAll, WakeDone in every build; OnAccept,
// Route, DispatchQueue (per connection or request) in debug builds.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/fd.h"
#include "proxy/balancer.h"
#include "proxy/buffer.h"
#include "proxy/codec/http1.h"
#include "proxy/event_loop.h"
#include "proxy/host_suspects.h"
#include "proxy/net_limits.h"
#include "proxy/proxy.h"
#include "proxy/state.h"
#include "proxy/transport.h"

namespace privcast::proxy {

class ProxyImpl;
class Worker;
class HttpSession;
class H2UpstreamPool;

// Whoever uses an app connection now (an HttpSession, an HTTP/2 stream): gets its events.
class UpConnOwner {
 public:
  virtual void OnUpstream(uint32_t ev) = 0;

 protected:
  ~UpConnOwner() = default;
};

// One connection to a machine's internal port, for the http handler. Registered in epoll once
// (edge-triggered, EPOLLIN|EPOLLOUT|EPOLLRDHUP) for its whole life, so handing it between a
// session and the worker's idle pool costs no epoll_ctl. Events go to `owner`, or while idle in
// the pool mean "the app closed it" and drop it.
struct UpConn final : EventHandler {
  Worker* w = nullptr;
  std::shared_ptr<MachineState> st;
  UniqueFd fd;  // closed by Worker::DropUpConn (reset or orderly), or with the UpConn
  UpConnOwner* owner = nullptr;
  bool readable = false;  // an EPOLLIN edge not yet drained
  bool closed = false;
  // A remote connection whose sent bytes went unacknowledged for kRemoteConnectTimeout
  // (TCP_USER_TIMEOUT): its host stopped answering (host_suspects.h).
  bool host_down = false;
  int so_error = 0;  // the socket's error when an EPOLLERR came (read once, here)
  MonoTime since{};
  void OnEvents(uint32_t ev) override;
};

// One unit of machine load (and one open connection to it), held while a connection (or a
// request, with `requests` concurrency) uses a machine. Worker::Route takes it, Release gives it back.
// Where the proxy connects to a machine: its IPv4 link address on this host, or its 6PN
// address over the underlay when it runs on another host of the cluster (MachineView::remote).
struct UpstreamAddr {
  uint32_t link_v4 = 0;
  bool remote = false;
  Ip6 six_pn;
  static UpstreamAddr Of(const MachineView& m) { return {m.link_v4, m.remote, m.six_pn}; }
};

// Kept as small as before the cluster (24 bytes: two per HttpSession, which
// ProxyMemory.IdleKeepAliveSessionIsSmall bounds): a remote machine's 6PN address is read from
// its MachineState, where it never changes.
struct Lease {
  std::shared_ptr<MachineState> st;
  uint32_t link_v4 = 0;
  uint16_t port = 0;
  bool remote = false;
  bool valid() const { return st != nullptr; }
  UpstreamAddr up() const { return {link_v4, remote, remote ? st->six_pn : Ip6{}}; }
};

// Base of client-side sessions (TcpSession, HttpSession, H2Session) and of HTTP/2 streams
// (H2Stream: routed like a session, but no socket of its own and not in the worker's list).
class Session {
 public:
  Session(Worker* w, RoutingStatePtr rs, uint32_t app_index, const ServiceSpec* svc, const PortSpec* port, int fd,
          const sockaddr_in6& peer, const sockaddr_in6& local);
  virtual ~Session();

  // Routing results (see Worker::Route). The session owns the lease from then on.
  virtual void OnRouted(Lease lease) = 0;
  // reason: 503 for queue timeout / no capacity / wake failure, 0 for "no machine at all".
  virtual void OnRouteFailed(int status) = 0;
  // Close now (drain deadline, worker shutdown).
  virtual void Abort() = 0;
  // Draining: close if idle, else finish the current exchange without keep-alive.
  virtual void OnDrain() = 0;
  // The session's timer fired (deadline reached).
  virtual void OnDeadline() = 0;
  // Called by Worker::Register once the session is in the worker's list: an HTTP/1 or TCP
  // session begins here (reads, arms its clocks; it may close at once). An H2Session is begun by
  // its hand-over (H2Session::TakeOver, with what it took over); a stream is never registered.
  virtual void Start() {}

  // Deadline with lazy re-arming: moving a deadline later costs nothing.
  void SetDeadline(MonoTime t);
  void ClearDeadline() { deadline_ = MonoTime::max(); }

  Worker* w;
  RoutingStatePtr rs;  // the state app/svc point into
  uint32_t app_index;
  const ServiceSpec* svc;  // in the app's services, or a per-service address's (FlycastEntry::services)
  std::shared_ptr<ServiceState> svc_state;  // counters of a per-service address (ADR 0013); null: the app's
  const PortSpec* port;
  UniqueFd cfd;
  ClientTransport io;  // client I/O over cfd: plain, or TLS on `tls` ports (transport.h)
  sockaddr_in6 peer, local;
  // Routing context.
  RoutingHints hints;  // views into hint_storage
  std::string hint_storage[4];
  std::vector<const MachineState*> tried;  // machines that failed for this request
  MonoTime queued_at{};
  bool waiting = false;  // in a wake group or the queue
  bool preference_unavailable = false;
  uint8_t replays = 0;  // fly-replay hops of this request (proxy/replay.h)
  // Worker bookkeeping (intrusive list of live sessions).
  Session* prev = nullptr;
  Session* next = nullptr;
  NetLimits::Net* net_slot = nullptr;  // the source network's connection slot (given back on close)
  int fd_charge = 0;                   // descriptors counted against the proxy's fd budget
  bool dead = false;

 protected:
  void FireTimer();
  MonoTime deadline_ = MonoTime::max();
  MonoTime armed_ = MonoTime::max();
  EventLoop::TimerId timer_ = 0;
};

struct WakeGroup {
  std::shared_ptr<MachineState> st;
  std::string app;
  uint32_t app_index = 0;
  uint16_t internal_port = 0;
  MonoTime started{};
  uint64_t gen = 0;
  EventLoop::TimerId timer = 0;
  std::vector<Session*> waiters;  // empty for a background wake
};

class Worker {
 public:
  Worker(ProxyImpl* proxy, int index);
  ~Worker();

  Status Init();
  void StartThread();
  void Join();

  EventLoop& loop() { return loop_; }
  const BatchWhenBusy* governor() const { return governor_.get(); }  // nullptr when off
  BufferPool& pool() { return pool_; }
  const ProxyOptions& opts() const;
  ProxyImpl* proxy() { return proxy_; }
  int index() const { return index_; }
  const RoutingStatePtr& rs() const { return rs_; }

  // Loop thread.
  void Apply(RoutingStatePtr rs);
  void SetAccepting(bool on);
  void BeginDrain();
  void AbortAll();
  int64_t open_sessions() const { return open_sessions_.load(std::memory_order_relaxed); }
  // Descriptors this worker holds (sessions' charges, pooled app connections and pipes):
  // written by the worker only, read by any worker's accept against ProxyOptions::fd_budget.
  int64_t fds_in_use() const { return fds_.load(std::memory_order_relaxed); }

  // Route a session (its app/svc/hints/tried). Completes synchronously (OnRouted/OnRouteFailed)
  // or later (wake, queue). A waiting session that closes must call CancelWait.
  void Route(Session* s);
  void CancelWait(Session* s);
  // Give a lease back; dispatches queued sessions of the app.
  void Release(Lease& lease, const std::string& app);
  // Kick this worker's queue for `app` (posted by other workers).
  void DispatchQueue(const std::string& app);
  // Cluster failover (host_suspects.h): connecting to `l`'s machine failed with `err` (0 or
  // ETIMEDOUT: timed out). A remote one that timed out or was unreachable marks its host
  // suspect; a refusal does not (the host answered: its app is not listening). And how long a
  // connect to it may take.
  void ConnectFailed(const Lease& l, int err);
  Duration ConnectTimeout(const Lease& l) const;

  // The worker's session list owns its sessions: Register takes one and starts it (it may be
  // closed, `dead`, on return: still valid until the end of the batch), Unregister takes it out
  // and hands it to the loop, which frees it after the batch (a stale event may still name it).
  void Register(std::unique_ptr<Session> s);
  void Unregister(Session* s);

  // App connections (HTTP): create (registered), pool, drop (closed, freed after the batch).
  // The pool outlives client connections: an app connection goes back to it after every
  // exchange (requests concurrency) or when its client connection ends (connections), whatever
  // the client's Connection header, and is dropped past `upstream_pool_per_machine` idle ones
  // per machine (or past the most in use at once since the last idle sweep, when that is more),
  // after `upstream_idle_timeout` idle, or when the app closes it.
  // Dropping is a reset (SO_LINGER {1, 0}): the proxy never leaves an app connection in
  // TIME-WAIT, where it would hold one of the ~28k ephemeral ports towards that machine for
  // 60 s (docs/adr/0008-upstream-connections-outlive-clients.md). `orderly`: a plain close, for
  // a tunnel that both sides have shut down.
  UpConn* NewUpConn(std::shared_ptr<MachineState> st, int fd, UpConnOwner* owner);
  UpConn* TakePooled(MachineState* st, UpConnOwner* owner);
  void PutPooled(UpConn* c);
  void DropUpConn(UpConn* c, bool orderly = false);
  // Pipes for splice.
  bool TakePipe(int fds[2]);
  void PutPipe(int fds[2]);

  uint64_t NextRandom();
  // Request ids: 26 chars, time prefix + worker + counter (no syscall per request).
  void NewRequestId(char out[26]);
  int64_t NowNs() const;  // the proxy Clock (FakeClock in tests), for idle tracking

  // Scratch heads for the HTTP sessions (4 KiB each: kept per worker, never per connection).
  codec::RequestHead req_head;
  codec::ResponseHead resp_head;
  const void* req_head_owner = nullptr;  // session whose head req_head currently describes
  bool draining() const { return draining_; }
  // HTTP/2 connections to machines (h2_backend services), made on first use (h2_upstream.h).
  H2UpstreamPool& h2_upstreams();

  // Metrics (worker-local, summed by Proxy).
  std::atomic<uint64_t> accepted{0}, accept_errors{0}, refused{0}, refused_unknown{0}, http_requests{0};
  std::atomic<uint64_t> http_400{0}, http_408{0}, http_431{0}, http_502{0}, http_503{0}, http_301{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> replays{0};        // requests replayed for a fly-replay response (proxy/replay.h)
  std::atomic<uint64_t> budget_pauses{0};  // listener paused: the proxy's fd budget was used

 private:
  friend class ProxyImpl;
  friend struct UpConn;
  friend class H2Stream;  // charges the app connections of its streams (ChargeFds)
  friend class H2UpstreamPool;
  struct Listener final : EventHandler {
    Worker* w;
    uint16_t port;
    UniqueFd fd;
    bool paused = false;  // out of descriptors: not watched until a timer re-arms it
    void OnEvents(uint32_t) override {
      if (fd) w->OnAccept(this);  // closed earlier in this batch: a stale event
    }
  };

  void OnAccept(Listener* l);
  bool AcceptOne(Listener* l);               // false once the queue is empty (or accepting failed)
  void PauseListener(Listener* l, int err);  // err 0: the fd budget, not the kernel
  void RefuseOverLimit(int fd, const AppView& app, uint32_t src_net, const sockaddr_in6& peer, NetLimits::Verdict v,
                       bool log_it);
  void ChargeFds(int64_t d) { fds_.store(fds_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed); }
  void Admit(int fd, const sockaddr_in6& peer, const sockaddr_in6& local);
  void Refuse(int fd, const AppView* app, uint32_t src_net, const sockaddr_in6& peer);
  void ReconcileListeners();
  void StartWake(uint32_t machine_index, Session* waiter);
  void WakeDone(const std::string& machine_id, uint64_t gen, const Status& st);
  void Enqueue(Session* s, const AppView& app);
  void SweepPool();
  bool ResolveApp(Session* s);

  ProxyImpl* proxy_;
  int index_;
  EventLoop loop_;
  std::unique_ptr<BatchWhenBusy> governor_;  // after loop_: its timer is cancelled first
  std::thread thread_;
  BufferPool pool_;
  RoutingStatePtr rs_;
  bool accepting_ = false;
  bool draining_ = false;
  std::map<uint16_t, std::unique_ptr<Listener>> listeners_;
  Session* sessions_ = nullptr;
  std::atomic<int64_t> open_sessions_{0};
  std::atomic<int64_t> fds_{0};                       // see fds_in_use()
  std::unordered_map<std::string, WakeGroup> wakes_;  // by machine id
  SuspectHosts suspects_;                             // other hosts whose machines did not accept a connect lately
  uint64_t wake_gen_ = 0;
  std::unordered_map<std::string, std::deque<Session*>> queues_;  // by app name
  // App connections per machine: the idle ones, and how many this worker's sessions use now and
  // at most since the last sweep. Idle ones are kept up to max(upstream_pool_per_machine, that
  // peak): a burst wider than the cap (HTTP/2 clients: one app connection per stream) comes back
  // to connections it already has, instead of a connect() and a reset per request.
  struct UpPool {
    std::vector<UpConn*> idle;
    uint32_t busy = 0;
    uint32_t peak = 0;
  };
  void Unbusy(MachineState* st);
  std::unordered_map<MachineState*, UpPool> upool_;
  std::unique_ptr<H2UpstreamPool> h2pool_;
  EventLoop::TimerId pool_sweep_timer_ = 0;
  std::vector<std::pair<int, int>> pipes_;
  uint64_t rng_;
  uint64_t req_counter_ = 0;
};

// Helpers shared by the sessions.
void ResetClose(int fd);  // SO_LINGER 0 + close: TCP RST
int ConnectV4(uint32_t addr_host_order, uint16_t port, int* err);
int ConnectUpstream(const UpstreamAddr& a, uint16_t port, int* err);  // non-blocking connect
std::string PeerIp(const sockaddr_in6& a);
uint16_t PortOf(const sockaddr_in6& a);

}  // namespace privcast::proxy
