#include "dns/forwarder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "common/addr.h"
#include "common/ids.h"
#include "common/log.h"

namespace privcast::dns {

// One upstream resolver: a connected UDP socket on the loop.
struct Forwarder::Upstream final : loop::EventHandler {
  Forwarder* f = nullptr;
  int index = 0;
  Endpoint ep;
  Sock addr;
  UniqueFd fd;
  void OnEvents(uint32_t) override { f->OnUpstream(index); }
};

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

size_t ReplyLimit(const Query& q, bool tcp, uint16_t edns_udp_size) {
  if (tcp) return kMaxMessage;
  return q.has_edns ? std::max<size_t>(kMinUdpPayload, std::min<size_t>(q.udp_size, edns_udp_size)) : kMinUdpPayload;
}

size_t ErrorReply(uint8_t rcode, const uint8_t* msg, size_t len, bool tcp, uint16_t edns_udp_size, uint8_t* out,
                  size_t cap) {
  Query q;
  ParseStatus st = ParseQuery(msg, len, &q);
  if (st == ParseStatus::kDrop) return 0;
  Builder b(out, cap, ReplyLimit(q, tcp, edns_udp_size));
  b.SetHeader(q.header.id, static_cast<uint16_t>(kFlagQR | kFlagRA | (q.header.flags & (kFlagRD | kFlagCD)) | rcode));
  if (q.have_question) b.AddQuestion(q.qname, q.qtype, q.qclass);
  if (q.has_edns) b.AddOpt(edns_udp_size, 0, q.do_bit);
  return b.size();
}

Forwarder::Forwarder(const ServerOptions& opts, loop::EventLoop* loop, Clock* clock, Deliver deliver)
    : opts_(opts),
      loop_(loop),
      clock_(clock),
      deliver_(std::move(deliver)),
      quota_({opts.forward_inflight_per_network, opts.forward_qps_per_network}),
      cache_({opts.negative_cache_max_ttl, opts.servfail_cache_ttl, opts.cache_entries_per_network,
              opts.cache_entries_total}) {
  rng_ = ids::RandomU64() | 1;
}

Forwarder::~Forwarder() {
  for (auto& u : ups_) loop_->Del(u->fd.get());
}

Status Forwarder::Init(const std::vector<Endpoint>& own) {
  own_ = own;
  std::vector<Endpoint> up = opts_.upstreams;
  if (FromResolvConf()) up = ReadResolvConf();
  if (!opts_.forward) up.clear();
  PC_RETURN_IF_ERROR(SetUpstreams(up));
  ScheduleResolvCheck();
  return Status::Ok();
}

uint64_t Forwarder::Rand() {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return rng_;
}

// ---------------------------------------------------------------------------------------
// Upstreams and resolv.conf

std::vector<Endpoint> Forwarder::ReadResolvConf() {
  struct stat st {};
  if (stat(opts_.resolv_conf.c_str(), &st) == 0)
    resolv_id_ = {st.st_dev, st.st_ino, st.st_mtim.tv_sec * 1'000'000'000ll + st.st_mtim.tv_nsec,
                  static_cast<int64_t>(st.st_size)};
  std::ifstream f(opts_.resolv_conf);
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseResolvConf(ss.str());
}

// Replaces the upstream set (pending forwards are answered SERVFAIL first: their upstream
// indices would be stale). Upstreams equal to one of our own endpoints are skipped (loops).
Status Forwarder::SetUpstreams(const std::vector<Endpoint>& up) {
  FailAll();
  for (auto& u : ups_) {
    loop_->Del(u->fd.get());
    loop_->Retire(std::move(u));  // an event of this batch may still name it
  }
  ups_.clear();
  for (const Endpoint& e : up) {
    auto u = std::make_unique<Upstream>();
    u->f = this;
    u->index = static_cast<int>(ups_.size());
    u->ep = e;
    if (!ToSock(e, &u->addr)) continue;
    bool self = false;
    for (const Endpoint& l : own_) {
      Sock ls;
      if (ToSock(l, &ls) && SameSock(ls, u->addr)) self = true;
    }
    if (self) {
      log::Warn("dns", "upstream is this server, ignored", {{"upstream", e.ip}});
      continue;
    }
    u->fd.reset(socket(u->addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!u->fd) return ErrnoStatus("dns: upstream socket", errno);
    if (connect(u->fd.get(), reinterpret_cast<sockaddr*>(&u->addr.ss), u->addr.len) != 0) {
      log::Warn("dns", "upstream unreachable, ignored", {{"upstream", e.ip}, {"errno", errno}});
      continue;
    }
    if (!loop_->Add(u->fd.get(), EPOLLIN, u.get())) return ErrnoStatus("dns: epoll_ctl", errno);
    ups_.push_back(std::move(u));
  }
  std::vector<Endpoint> pub;
  for (const auto& u : ups_) pub.push_back(u->ep);
  MutexLock g(&mu_);
  ups_public_ = std::move(pub);
  return Status::Ok();
}

void Forwarder::ScheduleResolvCheck() {
  if (!FromResolvConf()) return;
  resolv_timer_ = loop_->AddTimer(clock_->Now() + opts_.resolv_conf_check_interval, [this] {
    resolv_timer_ = 0;
    MaybeReloadResolvConf();
    ScheduleResolvCheck();
  });
}

void Forwarder::MaybeReloadResolvConf() {
  PC_LOOP_CHECK_THREAD(loop_);
  struct stat st {};
  if (stat(opts_.resolv_conf.c_str(), &st) != 0) return;  // gone: keep what we have
  FileId id{st.st_dev, st.st_ino, st.st_mtim.tv_sec * 1'000'000'000ll + st.st_mtim.tv_nsec,
            static_cast<int64_t>(st.st_size)};
  if (id == resolv_id_) return;
  std::vector<Endpoint> up = ReadResolvConf();
  std::vector<Endpoint> cur;
  for (const auto& u : ups_) cur.push_back(u->ep);
  auto same = [](const std::vector<Endpoint>& a, const std::vector<Endpoint>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].ip != b[i].ip || a[i].port != b[i].port) return false;
    return true;
  };
  if (same(up, cur)) return;
  Status st2 = SetUpstreams(up);
  log::Info("dns", "resolv.conf changed, upstreams reloaded",
            {{"upstreams", static_cast<uint64_t>(ups_.size())}, {"status", st2.ToString()}});
}

// ---------------------------------------------------------------------------------------
// Queries in flight

size_t Forwarder::ForwardOrAnswer(const uint8_t* msg, size_t len, const Query& q, uint32_t key, const ReplyTo& to,
                                  uint8_t* out, size_t cap, Outcome* o) {
  PC_LOOP_DCHECK_THREAD(loop_);  // per query: debug builds only
  const MonoTime now = clock_->Now();
  const bool tcp = to.tcp;
  uint8_t rcode = 0;
  size_t sz = cache_.Answer(key, q, msg, len, ReplyLimit(q, tcp, opts_.edns_udp_size), opts_.edns_udp_size, out, cap,
                            now, &rcode);
  if (sz) {
    cache_hits_.Inc();
    o->action = Outcome::kReply;
    o->rcode = rcode;
    return sz;
  }
  o->action = Outcome::kReply;
  if (ups_.empty()) {  // a reload emptied the set since the resolver looked
    o->rcode = kServFail;
    return ErrorReply(kServFail, msg, len, tcp, opts_.edns_udp_size, out, cap);
  }
  if (quota_.Acquire(key, now) != ForwardQuota::Verdict::kOk) {
    // REFUSED, like CoreDNS's forward max_concurrent: a policy answer the stub takes at once
    // (it may try its next nameserver) and that no cache keeps as "the name is broken".
    refused_.Inc();
    o->rcode = kRefused;
    return ErrorReply(kRefused, msg, len, tcp, opts_.edns_udp_size, out, cap);
  }
  if (!Start(msg, len, q, to, key)) {
    quota_.Release(key);
    o->rcode = kServFail;
    return ErrorReply(kServFail, msg, len, tcp, opts_.edns_udp_size, out, cap);
  }
  o->action = Outcome::kForward;
  return 0;
}

bool Forwarder::Start(const uint8_t* msg, size_t len, const Query& q, const ReplyTo& to, uint32_t view) {
  if (ups_.empty() || npending_ >= opts_.max_pending_forwards || npending_ >= 60000) return false;
  uint16_t id = 0;
  for (int tries = 0;; ++tries) {
    id = static_cast<uint16_t>(Rand());
    if (!pending_[id].used) break;
    if (tries > 64) return false;
  }
  Pending& p = pending_[id];
  p.used = true;
  p.gen = ++gen_counter_;
  p.client_id = q.header.id;
  p.upstream = static_cast<int>(Rand() % ups_.size());
  p.tries = 0;
  p.to = to;
  p.query.assign(msg, msg + len);
  p.query[0] = static_cast<uint8_t>(id >> 8);
  p.query[1] = static_cast<uint8_t>(id);
  p.question_end = q.question_end;
  p.view = view;
  ++npending_;
  forwarded_.Inc();
  if (!SendToUpstream(id)) {
    // Try the others at once; if none takes it, fail now.
    while (p.used && p.tries < static_cast<int>(ups_.size())) {
      p.upstream = (p.upstream + 1) % static_cast<int>(ups_.size());
      if (SendToUpstream(id)) return true;
    }
    p.used = false;
    --npending_;
    failures_.Inc();
    return false;
  }
  return true;
}

bool Forwarder::SendToUpstream(uint16_t id) {
  Pending& p = pending_[id];
  ++p.tries;
  ssize_t r = send(ups_[p.upstream]->fd.get(), p.query.data(), p.query.size(), MSG_DONTWAIT);
  if (r != static_cast<ssize_t>(p.query.size())) return false;
  deadlines_.push_back({clock_->Now() + opts_.forward_timeout, id, p.gen});
  ArmDeadlineTimer();
  return true;
}

void Forwarder::ArmDeadlineTimer() {
  if (deadline_timer_ || deadlines_.empty()) return;
  deadline_timer_ = loop_->AddTimer(deadlines_.front().at, [this] {
    deadline_timer_ = 0;
    OnDeadlines();
    ArmDeadlineTimer();
  });
}

void Forwarder::OnDeadlines() {
  PC_LOOP_DCHECK_THREAD(loop_);
  const MonoTime now = clock_->Now();
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    Deadline d = deadlines_.front();
    deadlines_.pop_front();
    Pending& p = pending_[d.id];
    if (!p.used || p.gen != d.gen) continue;
    timeouts_.Inc();
    bool resent = false;
    while (p.tries < static_cast<int>(ups_.size()) && !resent) {
      p.upstream = (p.upstream + 1) % static_cast<int>(ups_.size());
      resent = SendToUpstream(d.id);
    }
    if (!resent) FailPending(d.id, true);
  }
}

void Forwarder::Finish(Pending& p) {
  quota_.Release(p.view);
  p.used = false;
  p.query.clear();
  --npending_;
}

void Forwarder::FailPending(uint16_t id, bool remember) {
  Pending& p = pending_[id];
  failures_.Inc();
  if (remember) {
    Query q;
    if (ParseQuery(p.query.data(), p.query.size(), &q) == ParseStatus::kOk)
      cache_.StoreServFail(p.view, q, clock_->Now());
  }
  size_t n = ErrorReply(kServFail, p.query.data(), p.query.size(), p.to.tcp, opts_.edns_udp_size, buf_.data(),
                        buf_.size());
  if (n >= 2) {
    buf_[0] = static_cast<uint8_t>(p.client_id >> 8);
    buf_[1] = static_cast<uint8_t>(p.client_id);
  }
  uint16_t qtype = 0;
  if (p.question_end >= kHeaderSize + 5 && p.question_end <= p.query.size())
    qtype = static_cast<uint16_t>(p.query[p.question_end - 4] << 8 | p.query[p.question_end - 3]);
  const ReplyTo to = p.to;
  Finish(p);
  deliver_(to, buf_.data(), n, qtype, kServFail);
}

void Forwarder::FailAll() {
  PC_LOOP_CHECK_THREAD(loop_);
  for (size_t id = 0; id < pending_.size(); ++id)
    if (pending_[id].used) FailPending(static_cast<uint16_t>(id), false);
  deadlines_.clear();
  if (deadline_timer_) loop_->CancelTimer(deadline_timer_);
  deadline_timer_ = 0;
}

void Forwarder::OnUpstream(int ui) {
  PC_LOOP_DCHECK_THREAD(loop_);  // per answer: debug builds only
  if (ui < 0 || static_cast<size_t>(ui) >= ups_.size()) return;
  for (int round = 0; round < 64; ++round) {
    ssize_t n = recv(ups_[ui]->fd.get(), buf_.data(), buf_.size(), MSG_DONTWAIT);
    if (n < 0) return;  // EAGAIN, or ICMP errors (the timeout handles those)
    if (n < static_cast<ssize_t>(kHeaderSize)) continue;
    uint16_t id = static_cast<uint16_t>(buf_[0] << 8 | buf_[1]);
    Pending& p = pending_[id];
    if (!p.used || p.upstream != ui || !(buf_[2] & 0x80)) continue;
    // The answer must carry our question (case-insensitively): spoofing and stale guard.
    size_t qe = p.question_end;
    if (static_cast<size_t>(n) < qe || std::memcmp(buf_.data() + 4, p.query.data() + 4, 2) != 0) continue;
    bool same = true;
    for (size_t i = kHeaderSize; i < qe && same; ++i) same = ToLowerAscii(buf_[i]) == ToLowerAscii(p.query[i]);
    if (!same) continue;
    buf_[0] = static_cast<uint8_t>(p.client_id >> 8);
    buf_[1] = static_cast<uint8_t>(p.client_id);
    const uint16_t qtype = static_cast<uint16_t>(p.query[qe - 4] << 8 | p.query[qe - 3]);
    Query cq;
    if (ParseQuery(p.query.data(), p.query.size(), &cq) == ParseStatus::kOk)
      cache_.StoreReply(p.view, cq, buf_.data(), static_cast<size_t>(n), clock_->Now());
    const ReplyTo to = p.to;
    Finish(p);
    deliver_(to, buf_.data(), static_cast<size_t>(n), qtype, static_cast<uint8_t>(buf_[3] & 0xf));
  }
}

// ---------------------------------------------------------------------------------------
// Metrics

void Forwarder::PublishStats() {
  PC_LOOP_CHECK_THREAD(loop_);
  cache_entries_.store(cache_.size(), std::memory_order_relaxed);
  if (quota_.refusals() == refusals_published_) return;
  refusals_published_ = quota_.refusals();
  auto r = quota_.RefusalCounts();
  MutexLock g(&mu_);
  refusals_public_ = std::move(r);
}

std::vector<Endpoint> Forwarder::upstreams() const {
  MutexLock g(&mu_);
  return ups_public_;
}

void Forwarder::AppendMetrics(std::string* s) const {
  AppendMetric(s, "forwarded_total", "counter", "Queries forwarded to an upstream resolver.", forwarded_.Get());
  AppendMetric(s, "forward_timeouts_total", "counter", "Upstream tries that timed out.", timeouts_.Get());
  AppendMetric(s, "forward_failures_total", "counter", "Forwarded queries answered SERVFAIL.", failures_.Get());
  AppendMetric(s, "forward_refused_total", "counter", "Queries refused by their network's forwarding quota.",
               refused_.Get());
  AppendMetric(s, "cache_hits_total", "counter", "Forwardable queries answered from the negative/SERVFAIL cache.",
               cache_hits_.Get());
  AppendMetric(s, "cache_entries", "gauge", "Entries in the negative/SERVFAIL cache (all networks).",
               cache_entries_.load(std::memory_order_relaxed));
  std::vector<ForwardQuota::Refusals> r;
  {
    MutexLock g(&mu_);
    r = refusals_public_;
  }
  std::sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.view < b.view; });
  *s +=
      "# HELP privcast_dns_forward_refused_by_network_total Queries refused by the forwarding quota, "
      "by client network (host: the daemon's own namespace) and limit.\n";
  *s += "# TYPE privcast_dns_forward_refused_by_network_total counter\n";
  for (const auto& x : r) {
    std::string net = x.view == ForwardQuota::kHostKey ? "host" : addr::NetworkCidr(x.view);
    for (auto [reason, v] : {std::pair{"inflight", x.inflight}, {"rate", x.rate}}) {
      if (!v) continue;
      *s += "privcast_dns_forward_refused_by_network_total{network=\"" + net + "\",limit=\"";
      *s += reason;
      *s += "\"} " + std::to_string(v) + "\n";
    }
  }
}

}  // namespace privcast::dns
