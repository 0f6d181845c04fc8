#include "dns/server.h"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <unordered_map>

#include "common/fd.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/thread_annotations.h"
#include "dns/forwarder.h"
#include "dns/resolver.h"
#include "dns/sock.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "loop/event_loop.h"

namespace privcast::dns {
namespace {

constexpr int kBatch = 64;
constexpr size_t kRxCap = 4096;             // larger UDP queries are malformed for us (MSG_TRUNC)
constexpr size_t kTxCap = 4096;             // ≥ every UDP reply limit we use (edns_udp_size ≤ 4096)
constexpr size_t kTcpOutHigh = 256 * 1024;  // stop reading a connection above this backlog
constexpr auto kHousekeeping = std::chrono::milliseconds(100);  // idle TCP connections

// Metric buckets.
constexpr const char* kTypeNames[] = {"A", "AAAA", "TXT", "SOA", "NS", "SRV", "PTR", "ANY", "other"};
constexpr int kNTypes = 9;
int TypeBucket(uint16_t t) {
  switch (t) {
    case kTypeA:
      return 0;
    case kTypeAAAA:
      return 1;
    case kTypeTXT:
      return 2;
    case kTypeSOA:
      return 3;
    case kTypeNS:
      return 4;
    case kTypeSRV:
      return 5;
    case kTypePTR:
      return 6;
    case kTypeANY:
      return 7;
    default:
      return 8;
  }
}
constexpr const char* kRcodeNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                       "NOTIMP",  "REFUSED", "BADVERS",  "other"};
constexpr int kNRcodes = 8;
int RcodeBucket(int r) {
  if (r >= 0 && r <= 5) return r;
  if (r == kBadVers) return 6;
  return 7;
}

}  // namespace

struct Server::Impl {
  ServerOptions opts;
  PrewarmHook* hook = nullptr;
  Clock* clock = nullptr;
  loop::EventLoop loop;
  std::unique_ptr<Forwarder> fwd;

  // A socket of ours on the loop: which one, and what to do with its events.
  struct Handler final : loop::EventHandler {
    Impl* impl = nullptr;
    enum Kind { kUdp, kTcpListen, kTcpConn } kind = kUdp;
    uint32_t index = 0;  // listener index, or connection id
    Handler() = default;
    Handler(Impl* i, Kind k, uint32_t idx) : impl(i), kind(k), index(idx) {}
    void OnEvents(uint32_t ev) override {
      PC_LOOP_DCHECK_THREAD(&impl->loop);  // per packet: debug builds only
      switch (kind) {
        case kUdp:
          impl->HandleUdp(static_cast<int>(index));
          break;
        case kTcpListen:
          impl->HandleAccept(static_cast<int>(index));
          break;
        case kTcpConn:
          impl->HandleConn(index, ev);
          break;
      }
    }
  };
  struct Listener {
    Endpoint bound;
    UniqueFd udp, tcp;
    std::unique_ptr<Handler> on_udp, on_tcp;
  };
  std::vector<Listener> listeners;
  std::thread thread;
  bool started = false;
  std::atomic<bool> running{false};  // the loop thread is in Run()
  Mutex mu;
  ZonePtr pending_zone GUARDED_BY(mu);  // set by Publish, taken by the loop
  ZonePtr zone;                         // loop thread only
  std::atomic<int64_t> revision{-1};

  explicit Impl(Clock* c) : clock(c), loop(c) {}

  // UDP batch buffers (loop thread).
  alignas(64) uint8_t rx[kBatch][kRxCap];
  uint8_t tx[kBatch][kTxCap];
  sockaddr_storage rx_addr[kBatch];
  iovec rx_iov[kBatch], tx_iov[kBatch];
  mmsghdr rx_msgs[kBatch], tx_msgs[kBatch];
  std::vector<uint8_t> big = std::vector<uint8_t>(kMaxMessage + 2);

  // TCP connections.
  struct Conn {
    uint32_t id = 0;
    UniqueFd fd;
    Handler handler;
    std::vector<uint8_t> in;
    std::vector<uint8_t> out;
    size_t out_off = 0;
    MonoTime last;
    bool reading = true;
    bool epollout = false;
    Sock peer;
  };
  std::unordered_map<uint32_t, std::unique_ptr<Conn>> conns;
  uint32_t next_conn_id = 1;
  loop::EventLoop::TimerId housekeeping_timer = 0;

  // Pre-warm rate limit (loop thread).
  std::unordered_map<std::string, MonoTime> last_prewarm;

  // Metrics.
  Counter queries[kNTypes][kNRcodes];
  Counter prewarms, prewarms_suppressed, malformed, truncated, tcp_accepted, tcp_rejected, tcp_idle_closed, send_errors;
  std::atomic<uint64_t> tcp_open{0};

  // ------------------------------------------------------------------------------------
  Status Bind();
  void HandleUdp(int li);
  void HandleAccept(int li);
  void HandleConn(uint32_t id, uint32_t events);
  void Housekeeping();
  void ArmHousekeeping();
  void Drain();
  void SetPendingZone(ZonePtr z) EXCLUDES(mu);  // any thread
  void TakeZone() EXCLUDES(mu);                 // the loop's (or before it starts)
  void CloseConn(uint32_t id);
  void ProcessTcp(Conn& c);
  void QueueTcp(Conn& c, const uint8_t* msg, size_t len);
  void FlushTcp(Conn& c);
  void UpdateConnEvents(Conn& c);
  void Count(const Outcome& o, ParseStatus st);
  void Prewarm(int32_t app_index, int32_t service_index);
  // The forwarder's answer to a query it took (loop thread).
  void Deliver(const ReplyTo& to, const uint8_t* msg, size_t len, uint16_t qtype, uint8_t rcode);
  ResolveOptions ropt(bool tcp) const {
    ResolveOptions r;
    r.has_upstream = fwd->has_upstream();
    r.edns_udp_size = opts.edns_udp_size;
    r.tcp = tcp;
    return r;
  }
  static uint32_t ViewKey(const ClientView& v) {
    return v.kind == ClientView::kNetwork ? v.net32 : ForwardQuota::kHostKey;
  }
  ClientView View(const Sock& s) const {
    static const Zone kEmpty;
    return ViewOf(zone ? *zone : kEmpty, SourceIp(s.ss), opts.outside_clients_see_host_view);
  }
};

Status Server::Impl::Bind() {
  for (const Endpoint& e : opts.listen) {
    Sock addr;
    if (!ToSock(e, &addr)) return InvalidArgument("dns: bad listen address '" + e.ip + "'");
    Listener l;
    int fam = addr.ss.ss_family;
    for (int attempt = 0;; ++attempt) {
      l.udp.reset(socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      l.tcp.reset(socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!l.udp || !l.tcp) return ErrnoStatus("dns: socket", errno);
      int one = 1;
      for (int fd : {l.udp.get(), l.tcp.get()}) {
        if (fam == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (opts.freebind) {
          if (fam == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one);
          else setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one);
        }
      }
      setsockopt(l.tcp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      int rcvbuf = 4 << 20;
      setsockopt(l.udp.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
      Sock a = addr;
      if (bind(l.udp.get(), reinterpret_cast<sockaddr*>(&a.ss), a.len) != 0)
        return ErrnoStatus("dns: bind udp " + e.ip + ":" + std::to_string(e.port), errno);
      sockaddr_storage got{};
      socklen_t gl = sizeof got;
      getsockname(l.udp.get(), reinterpret_cast<sockaddr*>(&got), &gl);
      SetPort(&a.ss, PortOf(got));
      if (bind(l.tcp.get(), reinterpret_cast<sockaddr*>(&a.ss), a.len) != 0) {
        int err = errno;
        if (e.port == 0 && err == EADDRINUSE && attempt < 20) continue;  // pick another port
        return ErrnoStatus("dns: bind tcp " + e.ip + ":" + std::to_string(PortOf(got)), err);
      }
      if (listen(l.tcp.get(), 128) != 0) return ErrnoStatus("dns: listen", errno);
      l.bound = Endpoint{e.ip, PortOf(got)};
      break;
    }
    listeners.push_back(std::move(l));
  }
  PC_RETURN_IF_ERROR(loop.Init());
  for (size_t i = 0; i < listeners.size(); ++i) {
    Listener& l = listeners[i];
    l.on_udp = std::make_unique<Handler>(this, Handler::kUdp, static_cast<uint32_t>(i));
    l.on_tcp = std::make_unique<Handler>(this, Handler::kTcpListen, static_cast<uint32_t>(i));
    if (!loop.Add(l.udp.get(), EPOLLIN, l.on_udp.get()) || !loop.Add(l.tcp.get(), EPOLLIN, l.on_tcp.get()))
      return ErrnoStatus("dns: epoll_ctl", errno);
  }
  fwd = std::make_unique<Forwarder>(opts, &loop, clock,
                                    [this](const ReplyTo& to, const uint8_t* msg, size_t len, uint16_t qtype,
                                           uint8_t rcode) { Deliver(to, msg, len, qtype, rcode); });
  std::vector<Endpoint> own;
  for (const auto& l : listeners) own.push_back(l.bound);
  PC_RETURN_IF_ERROR(fwd->Init(own));
  for (int i = 0; i < kBatch; ++i) {
    rx_iov[i] = {rx[i], kRxCap};
    tx_iov[i] = {tx[i], kTxCap};
    std::memset(&rx_msgs[i], 0, sizeof rx_msgs[i]);
    rx_msgs[i].msg_hdr.msg_iov = &rx_iov[i];
    rx_msgs[i].msg_hdr.msg_iovlen = 1;
    rx_msgs[i].msg_hdr.msg_name = &rx_addr[i];
    std::memset(&tx_msgs[i], 0, sizeof tx_msgs[i]);
    tx_msgs[i].msg_hdr.msg_iov = &tx_iov[i];
    tx_msgs[i].msg_hdr.msg_iovlen = 1;
  }
  return Status::Ok();
}

void Server::Impl::SetPendingZone(ZonePtr z) {
  MutexLock g(&mu);
  pending_zone = std::move(z);
}

void Server::Impl::TakeZone() {
  PC_LOOP_CHECK_THREAD(&loop);
  MutexLock g(&mu);
  if (pending_zone) zone = std::move(pending_zone);
}

void Server::Impl::Count(const Outcome& o, ParseStatus st) {
  if (o.action == Outcome::kDrop || st == ParseStatus::kFormErr) malformed.Inc();
  if (o.action == Outcome::kReply) {
    queries[TypeBucket(o.qtype)][RcodeBucket(o.rcode)].Inc();
    if (o.truncated) truncated.Inc();
  }
}

void Server::Impl::Prewarm(int32_t app_index, int32_t service_index) {
  if (!opts.prewarm || !hook || !zone || app_index < 0 || static_cast<size_t>(app_index) >= zone->apps.size()) return;
  const ZoneApp& app = zone->apps[app_index];
  const std::string* service = nullptr;  // <service>.svc.<app>.flycast: rate-limited on its own
  if (service_index >= 0 && static_cast<size_t>(service_index) < app.services.size())
    service = &app.services[service_index].name;
  const std::string name = service ? *service + ".svc." + app.name : app.name;
  MonoTime now = clock->Now();
  auto it = last_prewarm.find(name);
  if (it != last_prewarm.end() && now - it->second < opts.prewarm_interval) {
    prewarms_suppressed.Inc();
    return;
  }
  if (last_prewarm.size() > 100000) last_prewarm.clear();
  last_prewarm[name] = now;
  prewarms.Inc();
  hook->OnFlycastLookup(app.name, service ? *service : std::string());
}

void Server::Impl::HandleUdp(int li) {
  int fd = listeners[li].udp.get();
  ResolveOptions ro = ropt(false);
  for (int round = 0; round < 16; ++round) {
    for (int i = 0; i < kBatch; ++i) rx_msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    int n = recvmmsg(fd, rx_msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    int k = 0;
    for (int i = 0; i < n; ++i) {
      size_t len = rx_msgs[i].msg_len;
      if (rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        malformed.Inc();
        continue;
      }
      Sock client;
      client.ss = rx_addr[i];
      client.len = rx_msgs[i].msg_hdr.msg_namelen;
      ClientView view = View(client);
      Query q;
      ParseStatus st = ParseQuery(rx[i], len, &q);
      Outcome o;
      size_t sz = Resolve(zone.get(), view, st, q, rx[i], len, ro, tx[k], kTxCap, &o);
      if (o.action == Outcome::kForward) {
        ReplyTo to;
        to.listener = li;
        to.client = client;
        sz = fwd->ForwardOrAnswer(rx[i], len, q, ViewKey(view), to, tx[k], kTxCap, &o);
      }
      Count(o, st);
      if (o.prewarm_app >= 0) Prewarm(o.prewarm_app, o.prewarm_service);
      if (o.action != Outcome::kReply || sz == 0) continue;
      tx_iov[k].iov_len = sz;
      tx_msgs[k].msg_hdr.msg_name = &rx_addr[i];
      tx_msgs[k].msg_hdr.msg_namelen = client.len;
      ++k;
    }
    int sent = 0;
    while (sent < k) {
      int r = sendmmsg(fd, tx_msgs + sent, k - sent, MSG_DONTWAIT);
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        send_errors.Inc(k - sent);  // UDP: drop what the socket refuses
        break;
      }
      sent += r;
    }
    if (n < kBatch) return;
  }
}

void Server::Impl::Deliver(const ReplyTo& to, const uint8_t* msg, size_t len, uint16_t qtype, uint8_t rcode) {
  PC_LOOP_DCHECK_THREAD(&loop);  // per forwarded answer: debug builds only
  Outcome o;
  o.qtype = qtype;
  o.rcode = rcode;
  Count(o, ParseStatus::kOk);
  if (len == 0) return;
  if (to.tcp) {
    auto it = conns.find(to.conn_id);
    if (it == conns.end()) return;
    QueueTcp(*it->second, msg, len);
    FlushTcp(*it->second);
  } else {
    if (sendto(listeners[to.listener].udp.get(), msg, len, MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&to.client.ss), to.client.len) < 0)
      send_errors.Inc();
  }
}

void Server::Impl::ArmHousekeeping() {
  if (housekeeping_timer || conns.empty()) return;
  housekeeping_timer = loop.AddTimerAfter(kHousekeeping, [this] {
    housekeeping_timer = 0;
    Housekeeping();
    ArmHousekeeping();
  });
}

void Server::Impl::Housekeeping() {
  PC_LOOP_CHECK_THREAD(&loop);
  const MonoTime now = loop.Now();
  std::vector<uint32_t> idle;
  for (auto& [id, c] : conns)
    if (now - c->last >= opts.tcp_idle_timeout) idle.push_back(id);
  for (uint32_t id : idle) {
    tcp_idle_closed.Inc();
    CloseConn(id);
  }
}

// ---------------------------------------------------------------------------------------
// TCP

void Server::Impl::HandleAccept(int li) {
  for (int i = 0; i < 64; ++i) {
    Sock peer;
    peer.len = sizeof peer.ss;
    int fd = accept4(listeners[li].tcp.get(), reinterpret_cast<sockaddr*>(&peer.ss), &peer.len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (conns.size() >= opts.max_tcp_connections) {
      tcp_rejected.Inc();
      close(fd);
      continue;
    }
    auto c = std::make_unique<Conn>();
    c->id = next_conn_id++;
    if (next_conn_id >= (1u << 31)) next_conn_id = 1;
    c->fd.reset(fd);
    c->last = loop.Now();
    c->peer = peer;
    c->handler.impl = this;
    c->handler.kind = Handler::kTcpConn;
    c->handler.index = c->id;
    if (!loop.Add(fd, EPOLLIN | EPOLLRDHUP, &c->handler)) continue;
    tcp_accepted.Inc();
    tcp_open.store(conns.size() + 1, std::memory_order_relaxed);
    conns.emplace(c->id, std::move(c));
    ArmHousekeeping();
  }
}

void Server::Impl::CloseConn(uint32_t id) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  loop.Del(it->second->fd.get());
  loop.Retire(std::move(it->second));  // an event of this batch may still name it
  conns.erase(it);
  tcp_open.store(conns.size(), std::memory_order_relaxed);
}

void Server::Impl::UpdateConnEvents(Conn& c) {
  bool want_out = c.out_off < c.out.size();
  bool want_in = c.out.size() - c.out_off < kTcpOutHigh;
  if (want_out == c.epollout && want_in == c.reading) return;
  c.epollout = want_out;
  c.reading = want_in;
  loop.Modify(c.fd.get(), (want_in ? uint32_t{EPOLLIN | EPOLLRDHUP} : 0u) | (want_out ? uint32_t{EPOLLOUT} : 0u),
              &c.handler);
}

void Server::Impl::QueueTcp(Conn& c, const uint8_t* msg, size_t len) {
  c.out.push_back(static_cast<uint8_t>(len >> 8));
  c.out.push_back(static_cast<uint8_t>(len));
  c.out.insert(c.out.end(), msg, msg + len);
}

void Server::Impl::FlushTcp(Conn& c) {
  while (c.out_off < c.out.size()) {
    ssize_t w = send(c.fd.get(), c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w <= 0) break;
    c.out_off += static_cast<size_t>(w);
  }
  if (c.out_off == c.out.size()) {
    c.out.clear();
    c.out_off = 0;
  }
  UpdateConnEvents(c);
}

void Server::Impl::ProcessTcp(Conn& c) {
  size_t off = 0;
  ResolveOptions ro = ropt(true);
  ClientView view = View(c.peer);
  while (c.in.size() - off >= 2) {
    size_t flen = static_cast<size_t>(c.in[off] << 8 | c.in[off + 1]);
    if (c.in.size() - off - 2 < flen) break;
    const uint8_t* m = c.in.data() + off + 2;
    Query q;
    ParseStatus st = ParseQuery(m, flen, &q);
    Outcome o;
    size_t sz = Resolve(zone.get(), view, st, q, m, flen, ro, big.data(), big.size(), &o);
    if (o.action == Outcome::kForward) {
      ReplyTo to;
      to.tcp = true;
      to.conn_id = c.id;
      sz = fwd->ForwardOrAnswer(m, flen, q, ViewKey(view), to, big.data(), big.size(), &o);
    }
    Count(o, st);
    if (o.prewarm_app >= 0) Prewarm(o.prewarm_app, o.prewarm_service);
    if (o.action == Outcome::kReply && sz) QueueTcp(c, big.data(), sz);
    off += 2 + flen;
  }
  if (off) c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(off));
}

void Server::Impl::HandleConn(uint32_t id, uint32_t events) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  Conn& c = *it->second;
  c.last = loop.Now();
  if (events & EPOLLOUT) FlushTcp(c);
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    uint8_t buf[16384];
    bool closed = false;
    for (int i = 0; i < 8 && c.reading; ++i) {
      ssize_t r = recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        closed = true;
        break;
      }
      if (r < 0) break;
      c.in.insert(c.in.end(), buf, buf + r);
      ProcessTcp(c);
      if (c.out.size() - c.out_off >= kTcpOutHigh) break;
      if (static_cast<size_t>(r) < sizeof buf) break;
    }
    FlushTcp(c);
    if (closed) {
      // Peer finished sending (or errored): close once our answers are out; forwarded
      // answers still pending for it are dropped (it can no longer be served reliably).
      CloseConn(id);
      return;
    }
  }
}

void Server::Impl::Drain() {
  fwd->FailAll();
  for (auto& [id, c] : conns) FlushTcp(*c);
  while (!conns.empty()) CloseConn(conns.begin()->first);
  loop.FlushDeferred();
  fwd->PublishStats();
}

// ---------------------------------------------------------------------------------------

Result<std::unique_ptr<Server>> Server::Create(ServerOptions opts, PrewarmHook* hook) {
  Clock* clock = opts.clock ? opts.clock : RealClock::Get();
  auto impl = std::make_unique<Impl>(clock);
  impl->opts = std::move(opts);
  impl->hook = hook;
  if (impl->opts.edns_udp_size < kMinUdpPayload) impl->opts.edns_udp_size = kMinUdpPayload;
  if (impl->opts.edns_udp_size > kTxCap) impl->opts.edns_udp_size = kTxCap;
  if (impl->opts.listen.empty()) return InvalidArgument("dns: no listen address");
  PC_RETURN_IF_ERROR(impl->Bind());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  if (impl_->started) return FailedPrecondition("dns: already started");
  impl_->started = true;
  impl_->running.store(true);
  impl_->thread = std::thread([this] {
    impl_->loop.Run();
    impl_->Drain();  // the loop has stopped: this thread still owns everything
  });
  return Status::Ok();
}

void Server::Publish(const SnapshotPtr& snap) {
  ZonePtr z = Zone::Build(snap);
  int64_t rev = z->revision();
  impl_->SetPendingZone(std::move(z));
  impl_->revision.store(rev, std::memory_order_relaxed);
  if (!impl_->started) impl_->TakeZone();
  else impl_->loop.Post([impl = impl_.get()] { impl->TakeZone(); });
}

void Server::Stop() {
  if (!impl_ || !impl_->started) return;
  impl_->loop.Stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->running.store(false);
}

std::vector<Endpoint> Server::endpoints() const {
  std::vector<Endpoint> out;
  for (const auto& l : impl_->listeners) out.push_back(l.bound);
  return out;
}

std::vector<Endpoint> Server::upstreams() const { return impl_->fwd->upstreams(); }

std::string Server::MetricsText() const {
  Impl& m = *impl_;
  // The forwarder's per-network refusals are copied on the loop thread: ask it to, and wait
  // (bounded) so the text is exact; a stopped loop published its last figures in Drain.
  if (m.running.load()) {
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    m.loop.Post([&m, done] {
      m.fwd->PublishStats();
      done->set_value();
    });
    (void)f.wait_for(std::chrono::seconds(1));  // a loop that stopped meanwhile never runs it
  }
  std::string s;
  auto line = [&](const char* name, const char* type, const char* help, uint64_t v) {
    AppendMetric(&s, name, type, help, v);
  };
  s += "# HELP privcast_dns_queries_total DNS queries answered, by query type and response code.\n";
  s += "# TYPE privcast_dns_queries_total counter\n";
  for (int t = 0; t < kNTypes; ++t)
    for (int r = 0; r < kNRcodes; ++r) {
      uint64_t v = m.queries[t][r].Get();
      if (!v) continue;
      s += "privcast_dns_queries_total{type=\"";
      s += kTypeNames[t];
      s += "\",rcode=\"";
      s += kRcodeNames[r];
      s += "\"} " + std::to_string(v) + "\n";
    }
  m.fwd->AppendMetrics(&s);
  line("prewarms_total", "counter", "Pre-warm hook calls for <app>.flycast lookups.", m.prewarms.Get());
  line("prewarms_suppressed_total", "counter", "Pre-warms skipped by the per-app rate limit.",
       m.prewarms_suppressed.Get());
  line("malformed_total", "counter", "Packets dropped or answered FORMERR.", m.malformed.Get());
  line("truncated_total", "counter", "UDP answers sent with TC=1.", m.truncated.Get());
  line("tcp_connections_total", "counter", "TCP connections accepted.", m.tcp_accepted.Get());
  line("tcp_rejected_total", "counter", "TCP connections closed at once (connection cap).", m.tcp_rejected.Get());
  line("tcp_idle_closed_total", "counter", "TCP connections closed after the idle timeout.", m.tcp_idle_closed.Get());
  line("send_errors_total", "counter", "Replies the socket refused.", m.send_errors.Get());
  line("tcp_open_connections", "gauge", "Open TCP connections.", m.tcp_open.load(std::memory_order_relaxed));
  line("upstreams", "gauge", "Upstream resolvers in use.", m.fwd->upstreams().size());
  s += "# HELP privcast_dns_snapshot_revision Store revision of the published snapshot.\n";
  s += "# TYPE privcast_dns_snapshot_revision gauge\n";
  s += "privcast_dns_snapshot_revision " + std::to_string(m.revision.load(std::memory_order_relaxed)) + "\n";
  return s;
}

}  // namespace privcast::dns
