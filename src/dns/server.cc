#include "dns/server.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "common/fd.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/addr.h"
#include "dns/neg_cache.h"
#include "dns/quota.h"
#include "dns/resolver.h"
#include "dns/wire.h"
#include "dns/zone.h"

namespace privcast::dns {
namespace {

constexpr int kBatch = 64;
constexpr size_t kRxCap = 4096;      // larger UDP queries are malformed for us (MSG_TRUNC)
constexpr size_t kTxCap = 4096;      // ≥ every UDP reply limit we use (edns_udp_size ≤ 4096)
constexpr size_t kTcpOutHigh = 256 * 1024;  // stop reading a connection above this backlog

// epoll tags: kind in the top byte, index/id below.
enum Kind : uint64_t { kEvent = 1, kUdp = 2, kTcpListen = 3, kTcpConn = 4, kUpstream = 5 };
uint64_t Tag(Kind k, uint64_t i) { return (static_cast<uint64_t>(k) << 56) | i; }

struct Sock {
  sockaddr_storage ss{};
  socklen_t len = 0;
};

bool ToSock(const Endpoint& e, Sock* out) {
  std::string ip = e.ip;
  unsigned scope = 0;
  if (auto pct = ip.find('%'); pct != std::string::npos) {
    scope = if_nametoindex(ip.substr(pct + 1).c_str());
    ip.resize(pct);
  }
  std::memset(&out->ss, 0, sizeof out->ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&out->ss);
  auto* s4 = reinterpret_cast<sockaddr_in*>(&out->ss);
  if (inet_pton(AF_INET6, ip.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(e.port);
    s6->sin6_scope_id = scope;
    out->len = sizeof(sockaddr_in6);
    return true;
  }
  if (inet_pton(AF_INET, ip.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(e.port);
    out->len = sizeof(sockaddr_in);
    return true;
  }
  return false;
}

Ip6 SourceIp(const sockaddr_storage& ss) {
  Ip6 a;
  if (ss.ss_family == AF_INET6) {
    std::memcpy(a.b.data(), &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, 16);
  } else if (ss.ss_family == AF_INET) {
    a.b[10] = a.b[11] = 0xff;
    std::memcpy(a.b.data() + 12, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, 4);
  }
  return a;
}

uint16_t PortOf(const sockaddr_storage& ss) {
  return ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6&>(ss).sin6_port
                                        : reinterpret_cast<const sockaddr_in&>(ss).sin_port);
}

void SetPort(sockaddr_storage* ss, uint16_t port) {
  if (ss->ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(ss)->sin6_port = htons(port);
  else reinterpret_cast<sockaddr_in*>(ss)->sin_port = htons(port);
}

bool SameSock(const Sock& a, const Sock& b) {
  return a.len == b.len && std::memcmp(&a.ss, &b.ss, a.len) == 0;
}

// Metric buckets.
constexpr const char* kTypeNames[] = {"A", "AAAA", "TXT", "SOA", "NS", "SRV", "PTR", "ANY", "other"};
constexpr int kNTypes = 9;
int TypeBucket(uint16_t t) {
  switch (t) {
    case kTypeA: return 0;
    case kTypeAAAA: return 1;
    case kTypeTXT: return 2;
    case kTypeSOA: return 3;
    case kTypeNS: return 4;
    case kTypeSRV: return 5;
    case kTypePTR: return 6;
    case kTypeANY: return 7;
    default: return 8;
  }
}
constexpr const char* kRcodeNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
                                       "REFUSED", "BADVERS", "other"};
constexpr int kNRcodes = 8;
int RcodeBucket(int r) {
  if (r >= 0 && r <= 5) return r;
  if (r == kBadVers) return 6;
  return 7;
}

// A counter written by the loop thread only, read by anyone: no locked instructions.
struct Counter {
  std::atomic<uint64_t> v{0};
  void Inc(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t Get() const { return v.load(std::memory_order_relaxed); }
};

}  // namespace

std::vector<Endpoint> ParseResolvConf(const std::string& text) {
  std::vector<Endpoint> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line) && out.size() < 3) {
    std::istringstream ls(line);
    std::string key, value;
    if (!(ls >> key) || key != "nameserver" || !(ls >> value)) continue;
    Sock s;
    Endpoint e{value, 53};
    if (ToSock(e, &s)) out.push_back(e);
  }
  return out;
}

struct Server::Impl {
  ServerOptions opts;
  PrewarmHook* hook = nullptr;
  Clock* clock = nullptr;

  struct Listener {
    Endpoint bound;
    UniqueFd udp, tcp;
  };
  std::vector<Listener> listeners;
  struct Upstream {
    Endpoint ep;
    Sock addr;
    UniqueFd fd;
  };
  std::vector<Upstream> ups;
  UniqueFd epfd, evfd;
  std::thread thread;
  std::atomic<bool> stop{false};
  bool started = false;
  mutable std::mutex mu;     // guards pending_zone, ups_public
  ZonePtr pending_zone;      // set by Publish, taken by the loop
  ZonePtr zone;              // loop thread only
  std::atomic<int64_t> revision{-1};
  ForwardQuota quota{ForwardQuota::Options{}};
  NegativeCache cache{NegativeCache::Options{}};

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

  // Forwarding.
  struct Pending {
    bool used = false;
    uint32_t gen = 0;
    uint16_t client_id = 0;
    int upstream = 0;
    int tries = 0;
    bool tcp = false;
    int listener = 0;       // UDP: listener index
    uint32_t conn_id = 0;   // TCP: connection id
    Sock client;
    std::vector<uint8_t> query;  // with our id
    size_t question_end = 0;
    uint32_t view = 0;      // ForwardQuota / NegativeCache key of the client's view
  };
  std::vector<Pending> pending = std::vector<Pending>(65536);
  size_t npending = 0;
  struct Deadline {
    MonoTime at;
    uint16_t id;
    uint32_t gen;
  };
  std::deque<Deadline> deadlines;
  uint32_t gen_counter = 0;
  uint64_t rng = 0;

  // Pre-warm rate limit (loop thread).
  std::unordered_map<std::string, MonoTime> last_prewarm;

  // Metrics.
  Counter queries[kNTypes][kNRcodes];
  Counter forwarded, forward_failures, forward_timeouts, prewarms, prewarms_suppressed, malformed,
      truncated, tcp_accepted, tcp_rejected, tcp_idle_closed, send_errors, forward_refused,
      cache_hits;
  std::atomic<uint64_t> tcp_open{0};
  std::atomic<uint64_t> cache_entries{0};
  // Per-view refusals, copied from `quota` by the loop when they move (guarded by mu).
  std::vector<ForwardQuota::Refusals> refusals_public;
  uint64_t refusals_published = 0;  // loop thread
  void PublishRefusals();

  // ------------------------------------------------------------------------------------
  Status Bind();
  struct FileId {
    uint64_t dev = 0, ino = 0;
    int64_t mtime_ns = 0, size = -1;
    bool operator==(const FileId&) const = default;
  };
  FileId resolv_id;
  MonoTime next_resolv_check, next_housekeeping;
  std::vector<Endpoint> ups_public;  // guarded by mu
  bool FromResolvConf() const;
  std::vector<Endpoint> ReadResolvConf();
  Status SetUpstreams(const std::vector<Endpoint>& up);
  void MaybeReloadResolvConf(MonoTime now);
  void Loop();
  void HandleUdp(int li);
  void HandleAccept(int li);
  void HandleConn(uint32_t id, uint32_t events);
  void HandleUpstream(int ui);
  void Tick();
  void Drain();
  void TakeZone();
  void CloseConn(uint32_t id);
  void ProcessTcp(Conn& c);
  void QueueTcp(Conn& c, const uint8_t* msg, size_t len);
  void FlushTcp(Conn& c);
  void UpdateConnEvents(Conn& c);
  void Count(const Outcome& o, ParseStatus st);
  void Prewarm(int32_t app_index, int32_t service_index);
  // A query the resolver wants forwarded: answered from the negative cache, refused by
  // its view's quota, or handed to an upstream (o->action stays kForward, returns 0).
  // Otherwise returns the reply's size in out[0..cap) and sets *o to what was answered.
  size_t ForwardOrAnswer(const uint8_t* msg, size_t len, const Query& q, const ClientView& view, bool tcp,
                         int li, uint32_t conn_id, const Sock& client, uint8_t* out, size_t cap, Outcome* o);
  // Starts forwarding; false when it cannot (caller answers SERVFAIL).
  bool Forward(const uint8_t* msg, size_t len, const Query& q, bool tcp, int li, uint32_t conn_id,
               const Sock& client, uint32_t view);
  bool SendToUpstream(uint16_t id);
  // Answers a pending forward SERVFAIL; `remember`: every upstream failed for it (the
  // negative cache keeps that), as opposed to a reload or shutdown.
  void FailPending(uint16_t id, bool remember);
  void FinishPending(Pending& p);
  void ReplyPending(Pending& p, const uint8_t* msg, size_t len);
  size_t ErrorReply(uint8_t rcode, const uint8_t* msg, size_t len, bool tcp, uint8_t* out, size_t cap);
  size_t ServFail(const uint8_t* msg, size_t len, bool tcp, uint8_t* out, size_t cap) {
    return ErrorReply(kServFail, msg, len, tcp, out, cap);
  }
  size_t ReplyLimit(const Query& q, bool tcp) const {
    if (tcp) return kMaxMessage;
    return q.has_edns ? std::max<size_t>(kMinUdpPayload, std::min<size_t>(q.udp_size, opts.edns_udp_size))
                      : kMinUdpPayload;
  }
  static uint32_t ViewKey(const ClientView& v) {
    return v.kind == ClientView::kNetwork ? v.net32 : ForwardQuota::kHostKey;
  }
  uint64_t Rand() {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  }
  ResolveOptions ropt(bool tcp) const {
    ResolveOptions r;
    r.has_upstream = !ups.empty();
    r.edns_udp_size = opts.edns_udp_size;
    r.tcp = tcp;
    return r;
  }
  ClientView View(const Sock& s) const {
    static const Zone kEmpty;
    return ViewOf(zone ? *zone : kEmpty, SourceIp(s.ss), opts.outside_clients_see_host_view);
  }
};

bool Server::Impl::FromResolvConf() const { return opts.forward && opts.upstreams.empty(); }

std::vector<Endpoint> Server::Impl::ReadResolvConf() {
  struct stat st {};
  if (stat(opts.resolv_conf.c_str(), &st) == 0)
    resolv_id = {st.st_dev, st.st_ino, st.st_mtim.tv_sec * 1'000'000'000ll + st.st_mtim.tv_nsec,
                 static_cast<int64_t>(st.st_size)};
  std::ifstream f(opts.resolv_conf);
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseResolvConf(ss.str());
}

// Replaces the upstream set (pending forwards are answered SERVFAIL first: their upstream
// indices would be stale). Upstreams equal to one of our own endpoints are skipped (loops).
Status Server::Impl::SetUpstreams(const std::vector<Endpoint>& up) {
  for (size_t id = 0; id < pending.size(); ++id)
    if (pending[id].used) FailPending(static_cast<uint16_t>(id), false);
  deadlines.clear();
  for (auto& u : ups) epoll_ctl(epfd.get(), EPOLL_CTL_DEL, u.fd.get(), nullptr);
  ups.clear();
  for (const Endpoint& e : up) {
    Upstream u;
    u.ep = e;
    if (!ToSock(e, &u.addr)) continue;
    bool self = false;
    for (const auto& l : listeners) {
      Sock ls;
      if (ToSock(l.bound, &ls) && SameSock(ls, u.addr)) self = true;
    }
    if (self) {
      log::Warn("dns", "upstream is this server, ignored", {{"upstream", e.ip}});
      continue;
    }
    u.fd.reset(socket(u.addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!u.fd) return ErrnoStatus("dns: upstream socket", errno);
    if (connect(u.fd.get(), reinterpret_cast<sockaddr*>(&u.addr.ss), u.addr.len) != 0) {
      log::Warn("dns", "upstream unreachable, ignored", {{"upstream", e.ip}, {"errno", errno}});
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = Tag(kUpstream, ups.size());
    if (epoll_ctl(epfd.get(), EPOLL_CTL_ADD, u.fd.get(), &ev) != 0) return ErrnoStatus("dns: epoll_ctl", errno);
    ups.push_back(std::move(u));
  }
  std::vector<Endpoint> pub;
  for (const auto& u : ups) pub.push_back(u.ep);
  std::lock_guard<std::mutex> g(mu);
  ups_public = std::move(pub);
  return Status::Ok();
}

void Server::Impl::MaybeReloadResolvConf(MonoTime now) {
  if (!FromResolvConf() || now < next_resolv_check) return;
  next_resolv_check = now + opts.resolv_conf_check_interval;
  struct stat st {};
  if (stat(opts.resolv_conf.c_str(), &st) != 0) return;  // gone: keep what we have
  FileId id{st.st_dev, st.st_ino, st.st_mtim.tv_sec * 1'000'000'000ll + st.st_mtim.tv_nsec,
            static_cast<int64_t>(st.st_size)};
  if (id == resolv_id) return;
  std::vector<Endpoint> up = ReadResolvConf();
  std::vector<Endpoint> cur;
  for (const auto& u : ups) cur.push_back(u.ep);
  auto same = [](const std::vector<Endpoint>& a, const std::vector<Endpoint>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].ip != b[i].ip || a[i].port != b[i].port) return false;
    return true;
  };
  if (same(up, cur)) return;
  Status st2 = SetUpstreams(up);
  log::Info("dns", "resolv.conf changed, upstreams reloaded",
            {{"upstreams", static_cast<uint64_t>(ups.size())}, {"status", st2.ToString()}});
}

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
  epfd.reset(epoll_create1(EPOLL_CLOEXEC));
  evfd.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!epfd || !evfd) return ErrnoStatus("dns: epoll/eventfd", errno);
  auto add = [&](int fd, uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    return epoll_ctl(epfd.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
  };
  bool ok = add(evfd.get(), Tag(kEvent, 0));
  for (size_t i = 0; i < listeners.size(); ++i) {
    ok = ok && add(listeners[i].udp.get(), Tag(kUdp, i));
    ok = ok && add(listeners[i].tcp.get(), Tag(kTcpListen, i));
  }
  if (!ok) return ErrnoStatus("dns: epoll_ctl", errno);
  std::vector<Endpoint> up = opts.upstreams;
  if (FromResolvConf()) up = ReadResolvConf();
  if (!opts.forward) up.clear();
  PC_RETURN_IF_ERROR(SetUpstreams(up));
  next_resolv_check = clock->Now() + opts.resolv_conf_check_interval;
  rng = ids::RandomU64() | 1;
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

void Server::Impl::TakeZone() {
  std::lock_guard<std::mutex> g(mu);
  if (pending_zone) zone = std::move(pending_zone);
}

void Server::Impl::Loop() {
  epoll_event evs[64];
  while (!stop.load(std::memory_order_relaxed)) {
    int timeout = (npending || !conns.empty()) ? 100 : 1000;
    int n = epoll_wait(epfd.get(), evs, 64, timeout);
    if (n < 0 && errno != EINTR) {
      log::Error("dns", "epoll_wait failed", {{"errno", errno}});
      break;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t tag = evs[i].data.u64;
      Kind k = static_cast<Kind>(tag >> 56);
      uint64_t idx = tag & ((1ull << 56) - 1);
      switch (k) {
        case kEvent: {
          uint64_t v;
          [[maybe_unused]] ssize_t r = read(evfd.get(), &v, sizeof v);
          TakeZone();
          break;
        }
        case kUdp: HandleUdp(static_cast<int>(idx)); break;
        case kTcpListen: HandleAccept(static_cast<int>(idx)); break;
        case kTcpConn: HandleConn(static_cast<uint32_t>(idx), evs[i].events); break;
        case kUpstream: HandleUpstream(static_cast<int>(idx)); break;
      }
    }
    Tick();
  }
  Drain();
}

void Server::Impl::Count(const Outcome& o, ParseStatus st) {
  if (o.action == Outcome::kDrop || st == ParseStatus::kFormErr) malformed.Inc();
  if (o.action == Outcome::kReply) {
    queries[TypeBucket(o.qtype)][RcodeBucket(o.rcode)].Inc();
    if (o.truncated) truncated.Inc();
  }
}

void Server::Impl::Prewarm(int32_t app_index, int32_t service_index) {
  if (!opts.prewarm || !hook || !zone || app_index < 0 ||
      static_cast<size_t>(app_index) >= zone->apps.size())
    return;
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
      if (o.action == Outcome::kForward)
        sz = ForwardOrAnswer(rx[i], len, q, view, false, li, 0, client, tx[k], kTxCap, &o);
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

size_t Server::Impl::ErrorReply(uint8_t rcode, const uint8_t* msg, size_t len, bool tcp, uint8_t* out, size_t cap) {
  Query q;
  ParseStatus st = ParseQuery(msg, len, &q);
  if (st == ParseStatus::kDrop) return 0;
  Builder b(out, cap, ReplyLimit(q, tcp));
  b.SetHeader(q.header.id, static_cast<uint16_t>(kFlagQR | kFlagRA | (q.header.flags & (kFlagRD | kFlagCD)) | rcode));
  if (q.have_question) b.AddQuestion(q.qname, q.qtype, q.qclass);
  if (q.has_edns) b.AddOpt(opts.edns_udp_size, 0, q.do_bit);
  return b.size();
}

// ---------------------------------------------------------------------------------------
// Forwarding

size_t Server::Impl::ForwardOrAnswer(const uint8_t* msg, size_t len, const Query& q, const ClientView& view,
                                     bool tcp, int li, uint32_t conn_id, const Sock& client, uint8_t* out,
                                     size_t cap, Outcome* o) {
  const uint32_t key = ViewKey(view);
  const MonoTime now = clock->Now();
  uint8_t rcode = 0;
  size_t sz = cache.Answer(key, q, msg, len, ReplyLimit(q, tcp), opts.edns_udp_size, out, cap, now, &rcode);
  if (sz) {
    cache_hits.Inc();
    o->action = Outcome::kReply;
    o->rcode = rcode;
    return sz;
  }
  o->action = Outcome::kReply;
  if (ups.empty()) {  // a reload emptied the set since the resolver looked
    o->rcode = kServFail;
    return ServFail(msg, len, tcp, out, cap);
  }
  if (quota.Acquire(key, now) != ForwardQuota::Verdict::kOk) {
    // REFUSED, like CoreDNS's forward max_concurrent: a policy answer the stub takes at once
    // (it may try its next nameserver) and that no cache keeps as "the name is broken".
    forward_refused.Inc();
    o->rcode = kRefused;
    return ErrorReply(kRefused, msg, len, tcp, out, cap);
  }
  if (!Forward(msg, len, q, tcp, li, conn_id, client, key)) {
    quota.Release(key);
    o->rcode = kServFail;
    return ServFail(msg, len, tcp, out, cap);
  }
  o->action = Outcome::kForward;
  return 0;
}

bool Server::Impl::Forward(const uint8_t* msg, size_t len, const Query& q, bool tcp, int li,
                           uint32_t conn_id, const Sock& client, uint32_t view) {
  if (ups.empty() || npending >= opts.max_pending_forwards || npending >= 60000) return false;
  uint16_t id = 0;
  for (int tries = 0;; ++tries) {
    id = static_cast<uint16_t>(Rand());
    if (!pending[id].used) break;
    if (tries > 64) return false;
  }
  Pending& p = pending[id];
  p.used = true;
  p.gen = ++gen_counter;
  p.client_id = q.header.id;
  p.upstream = static_cast<int>(Rand() % ups.size());
  p.tries = 0;
  p.tcp = tcp;
  p.listener = li;
  p.conn_id = conn_id;
  p.client = client;
  p.query.assign(msg, msg + len);
  p.query[0] = static_cast<uint8_t>(id >> 8);
  p.query[1] = static_cast<uint8_t>(id);
  p.question_end = q.question_end;
  p.view = view;
  ++npending;
  forwarded.Inc();
  if (!SendToUpstream(id)) {
    // Try the others at once; if none takes it, fail now.
    while (p.used && p.tries < static_cast<int>(ups.size())) {
      p.upstream = (p.upstream + 1) % static_cast<int>(ups.size());
      if (SendToUpstream(id)) return true;
    }
    p.used = false;
    --npending;
    forward_failures.Inc();
    return false;
  }
  return true;
}

bool Server::Impl::SendToUpstream(uint16_t id) {
  Pending& p = pending[id];
  ++p.tries;
  ssize_t r = send(ups[p.upstream].fd.get(), p.query.data(), p.query.size(), MSG_DONTWAIT);
  if (r != static_cast<ssize_t>(p.query.size())) return false;
  deadlines.push_back({clock->Now() + opts.forward_timeout, id, p.gen});
  return true;
}

void Server::Impl::FinishPending(Pending& p) {
  quota.Release(p.view);
  p.used = false;
  p.query.clear();
  --npending;
}

void Server::Impl::FailPending(uint16_t id, bool remember) {
  Pending& p = pending[id];
  forward_failures.Inc();
  if (remember) {
    Query q;
    if (ParseQuery(p.query.data(), p.query.size(), &q) == ParseStatus::kOk)
      cache.StoreServFail(p.view, q, clock->Now());
  }
  size_t n = ServFail(p.query.data(), p.query.size(), p.tcp, big.data(), big.size());
  if (n >= 2) {
    big[0] = static_cast<uint8_t>(p.client_id >> 8);
    big[1] = static_cast<uint8_t>(p.client_id);
  }
  Outcome o;
  o.qtype = 0;
  if (p.question_end >= kHeaderSize + 5 && p.question_end <= p.query.size())
    o.qtype = static_cast<uint16_t>(p.query[p.question_end - 4] << 8 | p.query[p.question_end - 3]);
  o.rcode = kServFail;
  Count(o, ParseStatus::kOk);
  ReplyPending(p, big.data(), n);
  FinishPending(p);
}

void Server::Impl::ReplyPending(Pending& p, const uint8_t* msg, size_t len) {
  if (len == 0) return;
  if (p.tcp) {
    auto it = conns.find(p.conn_id);
    if (it == conns.end()) return;
    QueueTcp(*it->second, msg, len);
    FlushTcp(*it->second);
  } else {
    if (sendto(listeners[p.listener].udp.get(), msg, len, MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&p.client.ss), p.client.len) < 0)
      send_errors.Inc();
  }
}

void Server::Impl::HandleUpstream(int ui) {
  if (ui < 0 || static_cast<size_t>(ui) >= ups.size()) return;
  for (int round = 0; round < 64; ++round) {
    ssize_t n = recv(ups[ui].fd.get(), big.data(), big.size(), MSG_DONTWAIT);
    if (n < 0) return;  // EAGAIN, or ICMP errors (the timeout handles those)
    if (n < static_cast<ssize_t>(kHeaderSize)) continue;
    uint16_t id = static_cast<uint16_t>(big[0] << 8 | big[1]);
    Pending& p = pending[id];
    if (!p.used || p.upstream != ui || !(big[2] & 0x80)) continue;
    // The answer must carry our question (case-insensitively): spoofing and stale guard.
    size_t qe = p.question_end;
    if (static_cast<size_t>(n) < qe || std::memcmp(big.data() + 4, p.query.data() + 4, 2) != 0) continue;
    bool same = true;
    for (size_t i = kHeaderSize; i < qe && same; ++i)
      same = ToLowerAscii(big[i]) == ToLowerAscii(p.query[i]);
    if (!same) continue;
    big[0] = static_cast<uint8_t>(p.client_id >> 8);
    big[1] = static_cast<uint8_t>(p.client_id);
    Outcome o;
    o.qtype = static_cast<uint16_t>(p.query[qe - 4] << 8 | p.query[qe - 3]);
    o.rcode = big[3] & 0xf;
    Count(o, ParseStatus::kOk);
    Query cq;
    if (ParseQuery(p.query.data(), p.query.size(), &cq) == ParseStatus::kOk)
      cache.StoreReply(p.view, cq, big.data(), static_cast<size_t>(n), clock->Now());
    ReplyPending(p, big.data(), static_cast<size_t>(n));
    FinishPending(p);
  }
}

void Server::Impl::Tick() {
  MonoTime now = clock->Now();
  while (!deadlines.empty() && deadlines.front().at <= now) {
    Deadline d = deadlines.front();
    deadlines.pop_front();
    Pending& p = pending[d.id];
    if (!p.used || p.gen != d.gen) continue;
    forward_timeouts.Inc();
    bool resent = false;
    while (p.tries < static_cast<int>(ups.size()) && !resent) {
      p.upstream = (p.upstream + 1) % static_cast<int>(ups.size());
      resent = SendToUpstream(d.id);
    }
    if (!resent) FailPending(d.id, true);
  }
  if (now < next_housekeeping) return;
  next_housekeeping = now + std::chrono::milliseconds(100);
  MaybeReloadResolvConf(now);
  PublishRefusals();
  // Idle TCP connections.
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
    c->last = clock->Now();
    c->peer = peer;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = Tag(kTcpConn, c->id);
    if (epoll_ctl(epfd.get(), EPOLL_CTL_ADD, fd, &ev) != 0) continue;
    tcp_accepted.Inc();
    tcp_open.store(conns.size() + 1, std::memory_order_relaxed);
    conns.emplace(c->id, std::move(c));
  }
}

void Server::Impl::CloseConn(uint32_t id) {
  auto it = conns.find(id);
  if (it == conns.end()) return;
  epoll_ctl(epfd.get(), EPOLL_CTL_DEL, it->second->fd.get(), nullptr);
  conns.erase(it);
  tcp_open.store(conns.size(), std::memory_order_relaxed);
}

void Server::Impl::UpdateConnEvents(Conn& c) {
  bool want_out = c.out_off < c.out.size();
  bool want_in = c.out.size() - c.out_off < kTcpOutHigh;
  if (want_out == c.epollout && want_in == c.reading) return;
  c.epollout = want_out;
  c.reading = want_in;
  epoll_event ev{};
  ev.events = (want_in ? uint32_t{EPOLLIN | EPOLLRDHUP} : 0u) | (want_out ? uint32_t{EPOLLOUT} : 0u);
  ev.data.u64 = Tag(kTcpConn, c.id);
  epoll_ctl(epfd.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
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
    if (o.action == Outcome::kForward)
      sz = ForwardOrAnswer(m, flen, q, view, true, 0, c.id, c.peer, big.data(), big.size(), &o);
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
  c.last = clock->Now();
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
  for (size_t id = 0; id < pending.size(); ++id)
    if (pending[id].used) FailPending(static_cast<uint16_t>(id), false);
  deadlines.clear();
  for (auto& [id, c] : conns) FlushTcp(*c);
  while (!conns.empty()) CloseConn(conns.begin()->first);
  PublishRefusals();
}

void Server::Impl::PublishRefusals() {
  cache_entries.store(cache.size(), std::memory_order_relaxed);
  if (quota.refusals() == refusals_published) return;
  refusals_published = quota.refusals();
  auto r = quota.RefusalCounts();
  std::lock_guard<std::mutex> g(mu);
  refusals_public = std::move(r);
}

// ---------------------------------------------------------------------------------------

Result<std::unique_ptr<Server>> Server::Create(ServerOptions opts, PrewarmHook* hook) {
  auto impl = std::make_unique<Impl>();
  impl->opts = std::move(opts);
  impl->hook = hook;
  impl->clock = impl->opts.clock ? impl->opts.clock : RealClock::Get();
  if (impl->opts.edns_udp_size < kMinUdpPayload) impl->opts.edns_udp_size = kMinUdpPayload;
  if (impl->opts.edns_udp_size > kTxCap) impl->opts.edns_udp_size = kTxCap;
  if (impl->opts.listen.empty()) return InvalidArgument("dns: no listen address");
  impl->quota = ForwardQuota({impl->opts.forward_inflight_per_network, impl->opts.forward_qps_per_network});
  impl->cache = NegativeCache({impl->opts.negative_cache_max_ttl, impl->opts.servfail_cache_ttl,
                               impl->opts.cache_entries_per_network, impl->opts.cache_entries_total});
  PC_RETURN_IF_ERROR(impl->Bind());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  if (impl_->started) return FailedPrecondition("dns: already started");
  impl_->started = true;
  impl_->thread = std::thread([this] { impl_->Loop(); });
  return Status::Ok();
}

void Server::Publish(SnapshotPtr snap) {
  ZonePtr z = Zone::Build(snap);
  int64_t rev = z->revision();
  {
    std::lock_guard<std::mutex> g(impl_->mu);
    impl_->pending_zone = std::move(z);
  }
  impl_->revision.store(rev, std::memory_order_relaxed);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = write(impl_->evfd.get(), &one, sizeof one);
  if (!impl_->started) impl_->TakeZone();
}

void Server::Stop() {
  if (!impl_ || !impl_->started) return;
  impl_->stop.store(true);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = write(impl_->evfd.get(), &one, sizeof one);
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::vector<Endpoint> Server::endpoints() const {
  std::vector<Endpoint> out;
  for (const auto& l : impl_->listeners) out.push_back(l.bound);
  return out;
}

std::vector<Endpoint> Server::upstreams() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  return impl_->ups_public;
}

std::string Server::MetricsText() const {
  const Impl& m = *impl_;
  std::string s;
  auto line = [&](const char* name, const char* type, const char* help, uint64_t v) {
    s += "# HELP privcast_dns_";
    s += name;
    s += " ";
    s += help;
    s += "\n# TYPE privcast_dns_";
    s += name;
    s += " ";
    s += type;
    s += "\nprivcast_dns_";
    s += name;
    s += " " + std::to_string(v) + "\n";
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
  line("forwarded_total", "counter", "Queries forwarded to an upstream resolver.", m.forwarded.Get());
  line("forward_timeouts_total", "counter", "Upstream tries that timed out.", m.forward_timeouts.Get());
  line("forward_failures_total", "counter", "Forwarded queries answered SERVFAIL.", m.forward_failures.Get());
  line("forward_refused_total", "counter", "Queries refused by their network's forwarding quota.",
       m.forward_refused.Get());
  line("cache_hits_total", "counter", "Forwardable queries answered from the negative/SERVFAIL cache.",
       m.cache_hits.Get());
  line("cache_entries", "gauge", "Entries in the negative/SERVFAIL cache (all networks).",
       m.cache_entries.load(std::memory_order_relaxed));
  {
    std::vector<ForwardQuota::Refusals> r;
    {
      std::lock_guard<std::mutex> g(m.mu);
      r = m.refusals_public;
    }
    std::sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.view < b.view; });
    s += "# HELP privcast_dns_forward_refused_by_network_total Queries refused by the forwarding quota, "
         "by client network (host: the daemon's own namespace) and limit.\n";
    s += "# TYPE privcast_dns_forward_refused_by_network_total counter\n";
    for (const auto& x : r) {
      std::string net = x.view == ForwardQuota::kHostKey ? "host" : addr::NetworkCidr(x.view);
      for (auto [reason, v] : {std::pair{"inflight", x.inflight}, {"rate", x.rate}}) {
        if (!v) continue;
        s += "privcast_dns_forward_refused_by_network_total{network=\"" + net + "\",limit=\"";
        s += reason;
        s += "\"} " + std::to_string(v) + "\n";
      }
    }
  }
  line("prewarms_total", "counter", "Pre-warm hook calls for <app>.flycast lookups.", m.prewarms.Get());
  line("prewarms_suppressed_total", "counter", "Pre-warms skipped by the per-app rate limit.",
       m.prewarms_suppressed.Get());
  line("malformed_total", "counter", "Packets dropped or answered FORMERR.", m.malformed.Get());
  line("truncated_total", "counter", "UDP answers sent with TC=1.", m.truncated.Get());
  line("tcp_connections_total", "counter", "TCP connections accepted.", m.tcp_accepted.Get());
  line("tcp_rejected_total", "counter", "TCP connections closed at once (connection cap).", m.tcp_rejected.Get());
  line("tcp_idle_closed_total", "counter", "TCP connections closed after the idle timeout.",
       m.tcp_idle_closed.Get());
  line("send_errors_total", "counter", "Replies the socket refused.", m.send_errors.Get());
  line("tcp_open_connections", "gauge", "Open TCP connections.", m.tcp_open.load(std::memory_order_relaxed));
  size_t nups;
  {
    std::lock_guard<std::mutex> g(m.mu);
    nups = m.ups_public.size();
  }
  line("upstreams", "gauge", "Upstream resolvers in use.", nups);
  s += "# HELP privcast_dns_snapshot_revision Store revision of the published snapshot.\n";
  s += "# TYPE privcast_dns_snapshot_revision gauge\n";
  s += "privcast_dns_snapshot_revision " + std::to_string(m.revision.load(std::memory_order_relaxed)) + "\n";
  return s;
}

}  // namespace privcast::dns
