#include "proxy/http_session.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "proxy/codec/ip_text.h"
#include "proxy/codec/rewrite.h"
#include "proxy/h2_session.h"
#include "proxy/replay.h"

namespace privcast::proxy {

namespace {

const char* Reason(int status) {
  switch (status) {
    case 301:
      return "Moved Permanently";
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

// The client address as Fly-Client-IP / X-Forwarded-For show it (a v4-mapped peer as plain
// IPv4). codec's formatter, not inet_ntop: glibc formats IPv6 groups with sprintf, which
// showed in the keep-alive profile.
void FormatIp(const sockaddr_in6& a, char* buf, size_t n) {
  PC_CHECK(n > codec::kMaxIpTextLen);
  size_t len = IN6_IS_ADDR_V4MAPPED(&a.sin6_addr) ? codec::FormatIp4(&a.sin6_addr.s6_addr[12], buf)
                                                  : codec::FormatIp6(a.sin6_addr.s6_addr, buf);
  buf[len] = '\0';
}

// One message body's framing, the same for requests and responses: moves `ready` over the
// bytes of `buffered` (from `ready` on) that belong to the body, sets `done` at its end.
// Forwarded as is (chunked stays chunked); false on a malformed chunked body.
bool AdvanceBody(codec::Framing framing, std::string_view buffered, size_t& ready, uint64_t& remaining, bool& done,
                 codec::ChunkedFramer& chunks) {
  if (done) return true;
  switch (framing) {
    case codec::Framing::kContentLength: {
      uint64_t take = std::min<uint64_t>(buffered.size() - ready, remaining);
      ready += take;
      remaining -= take;
      done = remaining == 0;
      return true;
    }
    case codec::Framing::kChunked: {
      auto r = chunks.Feed(buffered.substr(ready));
      if (r.status == codec::ChunkedFramer::Status::kError) return false;
      ready += r.consumed;
      done = r.status == codec::ChunkedFramer::Status::kDone;
      return true;
    }
    case codec::Framing::kCloseDelimited:  // responses only: everything until the app closes
      ready = buffered.size();
      return true;
    default:  // no body (an upgrade's tunnel takes what follows)
      done = true;
      return true;
  }
}

// The HTTP/2 connection preface (RFC 9113 §3.4), whole or as much of it as came: the HTTP/1
// parser rejects its first line ("PRI * HTTP/2.0"), so this is only looked at on that error.
bool IsH2Preface(std::string_view in) {
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  size_t n = std::min(in.size(), kPreface.size());
  return n >= 16 && in.substr(0, n) == kPreface.substr(0, n);
}

}  // namespace

HttpSession::~HttpSession() {
  w->loop().sends().Cancel(&cw_);
  w->loop().sends().Cancel(&uw_);
  cin_.Release(w->pool());
  uin_.Release(w->pool());
  uout_.Release(w->pool());
  cout_.Release(w->pool());
  if (w->req_head_owner == this) w->req_head_owner = nullptr;
}

void HttpSession::Start() {
  cend_.s = this;
  cw_.s = this;
  uw_.s = this;
  req_parser_ = codec::RequestParser(codec::ParseLimits{w->opts().max_head_bytes, codec::kMaxHeaders});
  if (io.tls) {
    phase_ = Phase::kHandshake;  // the registration reports the ClientHello if it is there
    c_out_armed_ = true;         // the handshake writes as much as it reads
    WatchClient();
    return SetDeadline(w->loop().Now() + w->opts().tls_handshake_timeout);
  }
  StartHeadClock();
  // Speculative first read (HAProxy's speculative I/O): an HTTP client speaks first, and by the
  // time the worker has woken and accepted, its request is usually there. Reading it before
  // registering saves the loop turn the registration's readiness would cost; whatever is still
  // unread (or arrives later) the registration reports, since EPOLL_CTL_ADD checks readiness.
  c_readable_ = true;
  Drive();
  if (!dead) WatchClient();
}

void HttpSession::WatchClient() {
  if (c_watched_) return;
  c_watched_ = true;
  w->loop().Add(cfd.get(), EPOLLIN | EPOLLRDHUP | EPOLLET | (c_out_armed_ ? EPOLLOUT : 0u), &cend_);
}

void HttpSession::ArmClientOut() {
  if (c_out_armed_) return;
  c_out_armed_ = true;  // edge-triggered from here on: no further epoll_ctl, however many writes wait
  if (c_watched_) w->loop().Modify(cfd.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &cend_);
}

// ---------------------------------------------------------------------------------------------
// Readiness

bool HttpSession::WantClientRead() const {
  bool up_pending = uout_.size() > uout_written_ || req_ready_ > 0;
  switch (phase_) {
    case Phase::kHead:
    case Phase::kClosing:
      return true;
    case Phase::kExchange:
      return !req_done_ && !up_pending && !cin_eof_;
    case Phase::kTunnel:
      return !cin_eof_ && !up_pending;
    default:
      return false;
  }
}

bool HttpSession::WantUpstreamRead() const {
  if (!up_) return false;
  bool c_pending = !cout_.empty() || resp_ready_ > 0;
  switch (phase_) {
    case Phase::kExchange:
      return !resp_done_ && !c_pending && !uin_eof_;
    case Phase::kTunnel:
      return !uin_eof_ && !c_pending;
    default:
      return false;
  }
}

void HttpSession::Drive() {
  for (int i = 0; i < 64 && !dead; ++i) {
    if (c_readable_ && WantClientRead()) {
      ReadClient();
      continue;
    }
    if (up_ && up_->readable && WantUpstreamRead()) {
      ReadUpstream();
      continue;
    }
    return;
  }
  // Out of turns with bytes still to move: go on after this batch. An edge-triggered wakeup
  // for them will not come again (TLS makes this common: reads end at record boundaries).
  if (!dead)
    w->loop().Defer([this] {
      if (!dead) Drive();
    });
}

// ---------------------------------------------------------------------------------------------
// Client side

void HttpSession::OnClient(uint32_t ev) {
  if (dead) return;
  if (phase_ == Phase::kHandshake) return ContinueHandshake();
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c_readable_ = true;
  if ((ev & EPOLLOUT) && io.tls && io.tls->read_wants_write()) c_readable_ = true;
  if (ev & (EPOLLOUT | EPOLLERR)) {
    if (!FlushClient()) return;
    AfterClientWrite();
  }
  Drive();
}

// What a write towards the client makes possible: the exchange may be complete, the tunnel may
// half-close, an error response may be out (then FIN).
void HttpSession::AfterClientWrite() {
  if (dead) return;
  if (phase_ == Phase::kTunnel) TunnelCheck();
  else if (phase_ == Phase::kExchange) MaybeFinishExchange();
  else if (phase_ == Phase::kClosing && cout_.empty() && !c_shut_) {
    io.ShutdownWrite();
    c_shut_ = true;
  }
}

void HttpSession::ReadClient() {
  char* p = cin_.Reserve(w->pool(), 2048);
  size_t room = cin_.tail_room();
  ssize_t n = io.Recv(p, room);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) {
      c_readable_ = false;
      cin_.ReleaseIfEmpty(w->pool());
      return;
    }
    return Close(true);
  }
  if (io.Drained(n, room)) c_readable_ = false;  // drained (nginx's rule; TLS: EAGAIN only)
  if (n == 0) {
    cin_eof_ = true;
    c_readable_ = false;
    cin_.ReleaseIfEmpty(w->pool());
    if (phase_ == Phase::kHead || phase_ == Phase::kClosing) return Close(false);
    if (phase_ == Phase::kTunnel) return TunnelCheck();
    if (!req_done_) return Close(true);  // request truncated: abort both sides
    return;
  }
  cin_.Commit(static_cast<size_t>(n));
  switch (phase_) {
    case Phase::kHead:
      return ProcessHead();
    case Phase::kExchange:
      if (body_clock_) body_bytes_ += static_cast<uint64_t>(n);
      FrameRequestBody();
      if (dead) return;
      if (body_clock_) BodyDeadline();
      if (!FlushUpstream()) return;
      return MaybeFinishExchange();
    case Phase::kTunnel:
      req_ready_ = cin_.size();
      if (!FlushUpstream()) return;
      return TunnelCheck();
    case Phase::kClosing:
      cin_.Consume(cin_.size());  // lingering close: discard
      cin_.ReleaseIfEmpty(w->pool());
      return;
    default:
      return;
  }
}

// A complete head was parsed: counts the request and resets the per-request state.
// Inline: it runs once per request on the hot path.
[[gnu::always_inline]] inline void HttpSession::BeginRequest(const codec::RequestHead& h, size_t consumed) {
  w->http_requests.fetch_add(1, std::memory_order_relaxed);
  req_head_len_ = consumed;
  req_framing_ = h.framing;
  req_remaining_ = h.content_length;
  req_method_ = h.method_id;
  req_ka_ = h.keep_alive;
  req_http10_ = h.version_minor == 0;
  req_upgrade_ = h.upgrade;
  req_done_ = false;
  req_ready_ = 0;
  req_chunks_.Reset();
  resp_started_ = resp_head_done_ = resp_done_ = false;
  resp_ready_ = 0;
  uout_written_ = 0;
  attempts_ = 0;
  replays = 0;
  tried.clear();
  preference_unavailable = false;
  std::string_view hv[4] = {h.fly_prefer_region, h.fly_force_region, h.fly_prefer_instance_id, h.fly_force_instance_id};
  std::string_view* dst[4] = {&hints.prefer_region, &hints.force_region, &hints.prefer_instance, &hints.force_instance};
  for (int i = 0; i < 4; ++i) {
    if (hv[i].empty()) {
      *dst[i] = {};
    } else {
      hint_storage[i].assign(hv[i]);
      *dst[i] = hint_storage[i];
    }
  }
  req_start_us_ = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  w->NewRequestId(req_id_);
  ClearDeadline();
  head_clock_ = false;
}

// force_https on plaintext: 301 to the https URL, then the next request (or close).
void HttpSession::RedirectToHttps(const codec::RequestHead& h) {
  w->http_301.fetch_add(1, std::memory_order_relaxed);
  if (h.host.empty()) return SendError(400);
  bool has_body = req_framing_ != codec::Framing::kNone;
  char* out = cout_.Reserve(w->pool(), 256 + h.host.size() + h.target.size());
  int n = std::snprintf(out, cout_.tail_room(),
                        "HTTP/1.1 301 Moved Permanently\r\nLocation: https://%.*s%.*s\r\nContent-Length: 0\r\n"
                        "Fly-Request-Id: %.*s\r\nServer: privcast\r\n%s\r\n",
                        static_cast<int>(h.host.size()), h.host.data(), static_cast<int>(h.target.size()),
                        h.target.data(), 26, req_id_, has_body || !req_ka_ ? "Connection: close\r\n" : "");
  cout_.Commit(static_cast<size_t>(n));
  cin_.Consume(req_head_len_);
  w->req_head_owner = nullptr;
  req_parser_.Reset();
  if (has_body || !req_ka_) {
    phase_ = Phase::kClosing;
    SetDeadline(w->loop().Now() + std::chrono::seconds(2));
    if (!FlushClient()) return;
    if (cout_.empty()) {
      io.ShutdownWrite();
      c_shut_ = true;
    }
    return;
  }
  if (!FlushClient()) return;
  SetDeadline(w->loop().Now() + w->opts().idle_timeout);  // head_clock_ is off: the next byte starts it
  return ProcessHead();
}

void HttpSession::ProcessHead() {
  if (cin_.empty()) {
    cin_.ReleaseIfEmpty(w->pool());
    if (cin_eof_ && cout_.empty()) return Close(false);
    if (draining_ || w->draining()) {
      if (cout_.empty()) return Close(false);
    }
    return;
  }
  codec::RequestHead& h = w->req_head;
  codec::ParseResult r = req_parser_.Parse(cin_.view(), &h);
  w->req_head_owner = r.done() ? this : nullptr;
  if (r.incomplete()) {
    // Absolute: the clock starts with the head's first byte (or the accept) and later bytes do
    // not restart it, so a head trickled a line at a time still ends in a 408.
    if (!head_clock_) StartHeadClock();
    if (cin_eof_) return Close(false);
    return;
  }
  if (r.error()) {
    if (IsH2Preface(cin_.view())) return SwitchToH2();  // h2c with prior knowledge
    if (r.error_status == 431) w->http_431.fetch_add(1, std::memory_order_relaxed);
    else w->http_400.fetch_add(1, std::memory_order_relaxed);
    return SendError(r.error_status);
  }
  BeginRequest(h, r.consumed);

  if (port->force_https && !io.tls) return RedirectToHttps(h);

  // Upgrade: h2c (RFC 7540 §3.2) on a body-less plaintext request: 101, then HTTP/2 with this
  // request as stream 1. Only upgrade requests pay for the look-up.
  if (req_upgrade_ && !io.tls && req_framing_ == codec::Framing::kNone) {
    const codec::Header* up = h.Find("upgrade");
    const codec::Header* settings = h.Find("http2-settings");
    if (up && settings && codec::ListContainsToken(up->value, "h2c")) return SwitchToH2(&h, settings->value);
  }
  phase_ = Phase::kRouting;
  if (!WantsReqLease() && conn_lease_.valid()) return Dispatch();
  w->Route(this);
}

// ---------------------------------------------------------------------------------------------
// Routing and the app connection

void HttpSession::OnRouted(Lease lease) {
  if (lease.st) lease.st->connections_total.fetch_add(1, std::memory_order_relaxed);
  if (WantsReqLease()) up_lease_ = std::move(lease);
  else conn_lease_ = std::move(lease);
  Dispatch();
  Drive();  // may run outside this session's own events (wake, queue)
}

void HttpSession::OnRouteFailed(int) {
  w->http_503.fetch_add(1, std::memory_order_relaxed);
  char extra[64];
  std::snprintf(extra, sizeof extra, "Retry-After: %u\r\n", w->opts().retry_after_seconds);
  SendError(503, extra);
}

void HttpSession::Dispatch() {
  Lease& L = WantsReqLease() ? up_lease_ : conn_lease_;
  ++attempts_;
  if (up_) {  // connections concurrency: the connection's own app connection
    reused_ = true;
    return SendRequest();
  }
  // Either concurrency: app connections outlive client connections (ADR 0008).
  if (UpConn* c = w->TakePooled(L.st.get(), this)) {
    up_ = c;
    ++up_gen_;
    reused_ = true;
    return SendRequest();
  }
  reused_ = false;
  int err = 0;
  int fd = ConnectUpstream(L.up(), L.port, &err);
  if (fd < 0) return UpstreamFailed(true);
  up_ = w->NewUpConn(L.st, fd, this);
  ++up_gen_;
  phase_ = Phase::kConnecting;
  SetDeadline(w->loop().Now() + w->ConnectTimeout(L));
}

void HttpSession::SendRequest() {
  phase_ = Phase::kExchange;
  ClearDeadline();
  if (uout_.empty()) {  // not a replay: rewrite the head now
    codec::RequestHead& h = w->req_head;
    if (w->req_head_owner != this) {
      req_parser_.Reset();
      codec::ParseResult r = req_parser_.Parse(cin_.view(), &h);
      PC_CHECK(r.done());
      w->req_head_owner = this;
    }
    char ip[INET6_ADDRSTRLEN];
    FormatIp(peer, ip, sizeof ip);
    codec::RequestFacts f;
    f.client_ip = ip;
    f.forwarded_port = PortOf(local);
    f.tls = io.tls != nullptr;
    f.region = rs->snap->local_region;
    f.request_id = std::string_view(req_id_, 26);
    f.request_start_us = req_start_us_;
    size_t max = codec::MaxRewrittenRequestSize(h, f);
    char* out = uout_.Reserve(w->pool(), max);
    size_t n = codec::RewriteRequest(h, f, std::span<char>(out, max));
    PC_CHECK(n > 0);
    uout_.Commit(n);
    cin_.Consume(req_head_len_);
    w->req_head_owner = nullptr;
    req_parser_.Reset();
    replay_keep_ = !req_upgrade_ &&
                   (req_framing_ != codec::Framing::kContentLength || req_remaining_ <= kReplayBodyLimit);
  }
  uout_written_ = 0;
  FrameRequestBody();
  if (dead) return;
  if (!req_done_) {  // a body still to come: it must keep up the minimum rate
    body_clock_ = true;
    body_start_ = w->loop().Now();
    body_bytes_ = 0;
    BodyDeadline();
  }
  if (!FlushUpstream()) return;
  MaybeFinishExchange();
}

void HttpSession::FrameRequestBody() {
  if (AdvanceBody(req_framing_, cin_.view(), req_ready_, req_remaining_, req_done_, req_chunks_)) return;
  w->http_400.fetch_add(1, std::memory_order_relaxed);
  if (!resp_started_) return SendError(400);
  Close(true);
}

bool HttpSession::FlushUpstream() {
  size_t n1 = uout_.size() - uout_written_;
  size_t n2 = req_ready_;
  if (n1 + n2 == 0 || !up_) return true;
  if (w->loop().sends().enabled()) {
    w->loop().sends().Queue(&uw_);
    return true;  // as if the socket were full: UpstreamSent goes on
  }
  ssize_t n = SendV2(up_->fd.get(), uout_.data() + uout_written_, n1, cin_.data(), n2);
  if (n < 0) return UpstreamWriteFailed(errno);
  WroteUpstream(static_cast<size_t>(n));
  return true;
}

bool HttpSession::UpstreamWriteFailed(int err) {
  if (err == EAGAIN || err == EINTR) return true;  // the EPOLLOUT edge resumes
  if (phase_ == Phase::kTunnel) {
    Close(true);
    return false;
  }
  UpstreamFailed(false);
  return false;
}

bool HttpSession::PrepareUpstreamWrite(int* fd, iovec iov[2]) {
  if (dead || !up_) return false;
  size_t n1 = uout_.size() - uout_written_;
  size_t n2 = req_ready_;
  if (n1 + n2 == 0) return false;
  *fd = up_->fd.get();
  iov[0] = {const_cast<char*>(uout_.data()) + uout_written_, n1};
  iov[1] = {const_cast<char*>(cin_.data()), n2};
  uw_gen_ = up_gen_;
  return true;
}

void HttpSession::UpstreamSent(ssize_t r) {
  if (dead) return;
  // The app connection the bytes went to was dropped meanwhile (another callback of the same
  // flush failed or finished the exchange): the result belongs to a closed socket.
  if (uw_gen_ != up_gen_) return;
  if (r == -EINTR) return w->loop().sends().Queue(&uw_);  // no EPOLLOUT edge would follow
  if (r < 0) {
    UpstreamWriteFailed(static_cast<int>(-r));
    return;
  }
  WroteUpstream(static_cast<size_t>(r));
  AfterUpstreamWrite();
  Drive();
}

void HttpSession::WroteUpstream(size_t k) {
  size_t n1 = uout_.size() - uout_written_;
  PC_CHECK(k <= n1 + req_ready_);
  size_t a = std::min(k, n1);
  uout_written_ += a;
  k -= a;
  if (k) {
    if (replay_keep_ && uout_.size() + k <= kReplayBodyLimit + 64 * 1024) {  // body bytes kept for a fly-replay
      uout_.Append(w->pool(), cin_.view().substr(0, k));
      uout_written_ += k;
    } else {
      replay_keep_ = false;  // too large to replay
    }
    cin_.Consume(k);
    req_ready_ -= k;
  }
  // Keep the head of a body-less request until the response starts (replay on a stale
  // pooled connection), or all that was sent until the response head (fly-replay); otherwise
  // drop what was written.
  if (uout_written_ == uout_.size() && !replay_keep_ &&
      (req_framing_ != codec::Framing::kNone || resp_started_ || phase_ == Phase::kTunnel)) {
    uout_.Consume(uout_.size());
    uout_written_ = 0;
  }
}

void HttpSession::OnUpstream(uint32_t ev) {
  if (dead) return;
  if (phase_ == Phase::kConnecting) {
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(up_->fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) return UpstreamFailed(true);
    up_->readable = false;
    SendRequest();
    return Drive();
  }
  if (ev & (EPOLLOUT | EPOLLERR)) {
    if (!FlushUpstream()) return;
    AfterUpstreamWrite();
  }
  Drive();
}

void HttpSession::AfterUpstreamWrite() {
  if (dead) return;
  if (phase_ == Phase::kTunnel) TunnelCheck();
  else if (phase_ == Phase::kExchange) MaybeFinishExchange();
}

void HttpSession::ReadUpstream() {
  char* p = uin_.Reserve(w->pool(), 2048);
  size_t room = uin_.tail_room();
  ssize_t n = ::recv(up_->fd.get(), p, room, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
    up_->readable = false;
    uin_.ReleaseIfEmpty(w->pool());
    return;
  }
  if (n >= 0 && static_cast<size_t>(n) < room) up_->readable = false;
  if (phase_ == Phase::kTunnel) {
    if (n < 0) return Close(true);
    if (n == 0) {
      uin_eof_ = true;
      up_->readable = false;
      return TunnelCheck();
    }
    uin_.Commit(static_cast<size_t>(n));
    resp_ready_ = uin_.size();
    if (!FlushClient()) return;
    return TunnelCheck();
  }
  if (n <= 0) {
    uin_eof_ = true;
    if (!resp_started_) return UpstreamFailed(false);
    if (resp_head_done_ && resp_framing_ == codec::Framing::kCloseDelimited && n == 0) {
      resp_done_ = true;
      if (!FlushClient()) return;
      return MaybeFinishExchange();
    }
    return Close(true);  // truncated response
  }
  uin_.Commit(static_cast<size_t>(n));
  if (!resp_started_) {
    resp_started_ = true;
    if (uout_written_ == uout_.size() && !replay_keep_) {  // the kept head is no longer needed
      uout_.Consume(uout_.size());
      uout_written_ = 0;
    }
  }
  if (!ProcessResponse()) return;
  if (!FlushClient()) return;
  MaybeFinishExchange();
}

bool HttpSession::ProcessResponse() {
  while (!resp_head_done_) {
    codec::ResponseHead& h = w->resp_head;
    codec::ResponseContext ctx;
    ctx.request_method = req_method_;
    codec::ParseResult r = resp_parser_.Parse(uin_.view(), ctx, &h);
    if (r.incomplete()) return true;
    if (r.error()) {
      w->http_502.fetch_add(1, std::memory_order_relaxed);
      if (cout_.empty()) SendError(502);
      else Close(true);
      return false;
    }
    if (h.informational()) {  // 100 Continue & co: forward as received
      cout_.Append(w->pool(), uin_.view().substr(0, r.consumed));
      uin_.Consume(r.consumed);
      resp_parser_.Reset();
      continue;
    }
    if (const codec::Header* fr = h.Find(kFlyReplay)) return Replay(fr->value);
    if (replay_keep_) {  // not replayed: what was kept is no longer needed once written
      replay_keep_ = false;
      if (uout_written_ == uout_.size()) {
        uout_.Consume(uout_.size());
        uout_written_ = 0;
      }
    }
    Lease& L = WantsReqLease() ? up_lease_ : conn_lease_;
    if (L.st)
      L.st->requests_by_class[std::min<int>(h.status / 100, kStatusClasses - 1)].fetch_add(1,
                                                                                           std::memory_order_relaxed);
    if (h.status == 101 || h.framing == codec::Framing::kTunnel) {
      // The upgrade's own Connection/Upgrade fields must reach the client: forward the head as is.
      cout_.Append(w->pool(), uin_.view().substr(0, r.consumed));
      uin_.Consume(r.consumed);
      resp_parser_.Reset();
      StartTunnel();
      return false;
    }
    client_ka_ = req_ka_ && !draining_ && !w->draining() && !cin_eof_;
    codec::HeaderOverride ov[32];
    size_t nov = 0;
    for (auto& [k, v] : svc->response_headers) {
      if (nov == 32) break;
      ov[nov++] = codec::HeaderOverride{k, v, false};
    }
    codec::ResponseFacts f;
    f.request_id = std::string_view(req_id_, 26);
    f.pristine = svc->response_pristine;
    f.overrides = std::span<const codec::HeaderOverride>(ov, nov);
    f.client_keep_alive = client_ka_;
    f.client_http10 = req_http10_;
    static constexpr std::string_view kUnavail = "Fly-Preferred-Instance-Unavailable: true\r\n\r\n";
    size_t max = codec::MaxRewrittenResponseSize(h, f) + kUnavail.size();
    char* out = cout_.Reserve(w->pool(), max);
    size_t n = codec::RewriteResponse(h, f, std::span<char>(out, max));
    PC_CHECK(n >= 4);
    if (preference_unavailable) {  // insert before the final CRLF of the head
      std::memcpy(out + n - 2, kUnavail.data(), kUnavail.size());
      n += kUnavail.size() - 2;
    }
    cout_.Commit(n);
    resp_framing_ = h.framing;
    resp_remaining_ = h.content_length;
    resp_ka_ = h.keep_alive;
    uin_.Consume(r.consumed);
    resp_parser_.Reset();
    resp_head_done_ = true;
    resp_ready_ = 0;
    resp_chunks_.Reset();
  }
  FrameResponseBody();
  return !dead;
}

void HttpSession::FrameResponseBody() {
  if (!AdvanceBody(resp_framing_, uin_.view(), resp_ready_, resp_remaining_, resp_done_, resp_chunks_)) Close(true);
}

bool HttpSession::FlushClient() {
  size_t n1 = cout_.size();
  size_t n2 = resp_ready_;
  if (n1 + n2 == 0) return true;
  if (!io.tls && w->loop().sends().enabled()) {
    w->loop().sends().Queue(&cw_);
    return true;  // as if the socket were full: ClientSent goes on
  }
  ssize_t n = io.Send2(cout_.data(), n1, uin_.data(), n2, LastWriteFlags());
  if (n < 0) return ClientWriteFailed(errno);
  WroteClient(static_cast<size_t>(n));
  return true;
}

bool HttpSession::ClientWriteFailed(int err) {
  if (err == EAGAIN || err == EINTR) {
    ArmClientOut();
    return true;  // the EPOLLOUT edge resumes
  }
  Close(true);
  return false;
}

// A response after which the connection closes (Connection: close, HTTP/1.0, draining): its
// last bytes go with MSG_MORE and leave with the FIN of the close that follows in the same turn
// (MaybeFinishExchange), one segment instead of two, and the client wakes once for both. Only
// once the app's response is complete (every byte of it is in this write: nothing still to come
// is held back), and only with nothing unread from the client: a close with unread input is a
// reset, which would discard the held bytes instead of sending them.
int HttpSession::LastWriteFlags() const {
  bool closes_after = phase_ == Phase::kExchange && resp_done_ && !client_ka_ && req_done_;
  bool nothing_unread = cin_.empty() && !c_readable_;
  return closes_after && nothing_unread && !io.tls ? MSG_MORE : 0;
}

bool HttpSession::PrepareClientWrite(int* fd, iovec iov[2], int* flags) {
  if (dead) return false;
  size_t n1 = cout_.size();
  size_t n2 = resp_ready_;
  if (n1 + n2 == 0) return false;
  *fd = cfd.get();
  *flags = LastWriteFlags();
  iov[0] = {const_cast<char*>(cout_.data()), n1};
  iov[1] = {const_cast<char*>(uin_.data()), n2};
  return true;
}

void HttpSession::ClientSent(ssize_t r) {
  if (dead) return;
  if (r == -EINTR) return w->loop().sends().Queue(&cw_);  // no EPOLLOUT edge would follow
  if (r < 0) {
    ClientWriteFailed(static_cast<int>(-r));
    return;
  }
  WroteClient(static_cast<size_t>(r));
  AfterClientWrite();
  Drive();
}

void HttpSession::WroteClient(size_t k) {
  size_t n1 = cout_.size();
  PC_CHECK(k <= n1 + resp_ready_);
  size_t a = std::min(k, n1);
  cout_.Consume(a);
  k -= a;
  if (k) {
    uin_.Consume(k);
    resp_ready_ -= k;
  }
  cout_.ReleaseIfEmpty(w->pool());
  if (!cout_.empty() || resp_ready_ > 0) ArmClientOut();  // a short write: the socket is full
}

void HttpSession::MaybeFinishExchange() {
  if (dead || phase_ != Phase::kExchange) return;
  bool up_pending = uout_.size() > uout_written_ || req_ready_ > 0;
  bool c_pending = !cout_.empty() || resp_ready_ > 0;
  // Backpressure lives in WantClientRead / WantUpstreamRead (Drive).
  if (!resp_done_ || c_pending) return;
  // The response is complete and delivered.
  bool up_reusable = resp_ka_ && req_done_ && !up_pending && !uin_eof_ && uin_.empty() &&
                     resp_framing_ != codec::Framing::kCloseDelimited;
  bool client_closes = !client_ka_ || !req_done_;
  // The app connection goes back to the pool after each exchange (requests concurrency) or
  // when the client connection ends (connections): the client's close is not the app's.
  if (WantsReqLease() || client_closes || !up_reusable) DropUpstream(up_reusable);
  if (WantsReqLease()) w->Release(up_lease_, rs->snap->apps[app_index].name);
  uout_.Consume(uout_.size());
  uout_written_ = 0;
  uout_.ReleaseIfEmpty(w->pool());
  uin_.ReleaseIfEmpty(w->pool());
  if (client_closes) return Close(false);
  phase_ = Phase::kHead;
  resp_head_done_ = resp_done_ = resp_started_ = false;
  if (cin_.empty()) SetDeadline(w->loop().Now() + w->opts().idle_timeout);  // the next byte starts the head clock
  else StartHeadClock();
  ProcessHead();
}

void HttpSession::DropUpstream(bool reuse) {
  if (!up_) return;
  UpConn* c = up_;
  up_ = nullptr;
  ++up_gen_;
  if (reuse) w->PutPooled(c);
  else w->DropUpConn(c);
  uin_.Consume(uin_.size());
  uin_.ReleaseIfEmpty(w->pool());
  uin_eof_ = false;
  u_shut_ = false;
}

void HttpSession::UpstreamFailed(bool connect_error) {
  Lease& L = WantsReqLease() ? up_lease_ : conn_lease_;
  // A remote host that stopped acknowledging (host_suspects.h): like a connect error for a
  // body-less request, which may go to the next candidate.
  if (up_ && up_->host_down && req_framing_ == codec::Framing::kNone) connect_error = true;
  if (connect_error) w->ConnectFailed(L, up_ ? up_->so_error : EHOSTUNREACH);
  bool stale_reuse = reused_ && !resp_started_ && req_framing_ == codec::Framing::kNone;
  bool replay = !resp_started_ && (connect_error || stale_reuse);
  DropUpstream(false);
  uin_.Consume(uin_.size());
  if (replay && attempts_ < w->opts().max_attempts) {
    w->retries.fetch_add(1, std::memory_order_relaxed);
    uout_written_ = 0;
    resp_head_done_ = resp_done_ = false;
    resp_parser_.Reset();
    if (stale_reuse && !connect_error) {
      // A pooled connection the app had closed: not the machine's fault, try it again fresh.
      return Dispatch();
    }
    tried.push_back(L.st.get());
    w->Release(L, rs->snap->apps[app_index].name);
    phase_ = Phase::kRouting;
    return w->Route(this);
  }
  w->http_502.fetch_add(1, std::memory_order_relaxed);
  if (!resp_started_ && cout_.empty()) return SendError(502);
  Close(true);
}

// ---------------------------------------------------------------------------------------------
// Tunnel (after 101 Switching Protocols)

void HttpSession::StartTunnel() {
  phase_ = Phase::kTunnel;
  ClearDeadline();
  req_ready_ = cin_.size();  // bytes the client sent after the upgrade request
  resp_ready_ = uin_.size();
  if (!FlushClient()) return;
  if (!FlushUpstream()) return;
  TunnelCheck();
}

void HttpSession::TunnelCheck() {
  if (dead) return;
  if (cin_eof_ && !u_shut_ && uout_.empty() && req_ready_ == 0 && up_) {
    ::shutdown(up_->fd.get(), SHUT_WR);
    u_shut_ = true;
  }
  if (uin_eof_ && !c_shut_ && cout_.empty() && resp_ready_ == 0) {
    io.ShutdownWrite();
    c_shut_ = true;
  }
  if (u_shut_ && c_shut_) return Close(false);
  cin_.ReleaseIfEmpty(w->pool());
  uin_.ReleaseIfEmpty(w->pool());
}

// ---------------------------------------------------------------------------------------------
// Errors, deadlines, close

void HttpSession::SendError(int status, const char* extra) {
  // Give the app side back first: the exchange is over (between requests its connection is
  // idle and clean: pooled).
  DropUpstream(phase_ == Phase::kHead);
  if (up_lease_.valid()) w->Release(up_lease_, rs->snap->apps[app_index].name);
  if (waiting) w->CancelWait(this);
  const char* reason = Reason(status);
  char* out = cout_.Reserve(w->pool(), 512);
  int n = std::snprintf(out, cout_.tail_room(),
                        "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%sServer: privcast\r\n"
                        "Connection: close\r\n\r\n%s\n",
                        status, reason, std::strlen(reason) + 1, extra, reason);
  cout_.Commit(static_cast<size_t>(n));
  cin_.Consume(cin_.size());
  req_ready_ = 0;
  resp_ready_ = 0;
  phase_ = Phase::kClosing;
  SetDeadline(w->loop().Now() + std::chrono::seconds(2));
  if (!FlushClient()) return;
  if (cout_.empty()) {
    io.ShutdownWrite();
    c_shut_ = true;
  }
}

void HttpSession::OnDrain() {
  draining_ = true;
  if (phase_ == Phase::kHandshake) return Close(false);
  if (phase_ == Phase::kHead && cin_.empty() && cout_.empty()) Close(false);
}

void HttpSession::OnDeadline() {
  switch (phase_) {
    case Phase::kHandshake:
      TlsHandshakeTimedOut(*this);
      return Close(false);
    case Phase::kHead:
      if (cin_.empty()) return Close(false);  // idle keep-alive connection
      w->http_408.fetch_add(1, std::memory_order_relaxed);
      return SendError(408);
    case Phase::kRouting:
      if (waiting) {
        w->CancelWait(this);
        rs->apps[app_index]->queue_timeouts.fetch_add(1, std::memory_order_relaxed);
        return OnRouteFailed(503);
      }
      return;
    case Phase::kConnecting:
      return UpstreamFailed(true);
    case Phase::kExchange:
      if (!body_clock_ || req_done_) return;
      if (uout_.size() > uout_written_ || req_ready_ > 0) {
        // The proxy is holding the body back (the app is not reading): not the client's time.
        body_start_ = w->loop().Now();
        body_bytes_ = 0;
        return BodyDeadline();
      }
      w->http_408.fetch_add(1, std::memory_order_relaxed);
      if (!resp_started_ && cout_.empty()) return SendError(408);
      return Close(true);
    case Phase::kClosing:
      return Close(false);
    default:
      return;
  }
}

void HttpSession::Close(bool reset) {
  if (dead) return;
  if (waiting) w->CancelWait(this);
  // A graceful close delivers what is still queued for the client (an error response, the end
  // of a close-delimited reply): written directly now, as an unbatched session would have.
  if (!reset && !io.tls && cfd && (!cout_.empty() || resp_ready_ > 0))
    SendV2(cfd.get(), cout_.data(), cout_.size(), uin_.data(), resp_ready_);
  w->loop().sends().Cancel(&cw_);
  w->loop().sends().Cancel(&uw_);
  // EPOLL_CTL_DEL before close: close() leaves the epoll set only when the last reference to
  // the socket goes, and a child forked by this process (a machine being spawned, before its
  // exec) briefly holds one; its later event would reach a freed session (ASan saw it).
  if (c_watched_) w->loop().Del(cfd.get());
  if (reset) {
    ResetClose(cfd.release());
  } else {
    io.CloseNotify();
    cfd.reset();
  }
  if (up_) {
    // Between requests (connections concurrency) the app connection is idle and clean: pooled.
    // A tunnel both sides shut down closes in order; anything else is reset (worker.h).
    if (!reset && phase_ == Phase::kHead) {
      DropUpstream(true);
    } else {
      w->DropUpConn(up_, !reset && phase_ == Phase::kTunnel);
      up_ = nullptr;
    }
  }
  const std::string& app = rs->snap->apps[app_index].name;
  if (up_lease_.valid()) w->Release(up_lease_, app);
  if (conn_lease_.valid()) w->Release(conn_lease_, app);
  cin_.Release(w->pool());
  uin_.Release(w->pool());
  uout_.Release(w->pool());
  cout_.Release(w->pool());
  w->Unregister(this);
}

void HttpSession::StartHeadClock() {
  head_clock_ = true;
  SetDeadline(w->loop().Now() + w->opts().header_timeout);
}

void HttpSession::BodyDeadline() {
  if (req_done_) {
    body_clock_ = false;
    return ClearDeadline();
  }
  const ProxyOptions& o = w->opts();
  if (o.body_min_rate == 0) return SetDeadline(w->loop().Now() + o.body_timeout);  // between reads only
  auto allowance = std::chrono::nanoseconds(
      static_cast<int64_t>(static_cast<double>(body_bytes_) * 1e9 / o.body_min_rate));
  SetDeadline(body_start_ + o.body_timeout + allowance);
}

// ---------------------------------------------------------------------------------------------
// HTTP/2: the connection becomes an H2Session (h2_session.h), which takes the socket, the TLS
// stream and what was read; this session ends without closing anything.

void HttpSession::SwitchToH2(const codec::RequestHead* upgrade, std::string_view settings) {
  ClearDeadline();
  if (upgrade) cin_.Consume(req_head_len_);  // the request becomes stream 1; what follows is HTTP/2
  H2Session::TakeOver(*this, cin_.view(), c_watched_, upgrade, settings);
  w->req_head_owner = nullptr;
  cin_.Consume(cin_.size());
  c_watched_ = false;
  w->Unregister(this);
}

// ---------------------------------------------------------------------------------------------
// TLS handshake (before the first request head)

void HttpSession::ContinueHandshake() {
  switch (ContinueTlsHandshake(*this)) {
    case TlsProgress::kDone:
      if (io.tls->alpn() == "h2") return SwitchToH2();
      phase_ = Phase::kHead;
      StartHeadClock();
      c_readable_ = true;  // the request may have come with the handshake's last flight
      return Drive();
    case TlsProgress::kWantRead:
    case TlsProgress::kWantWrite:
      return;  // edge-triggered IN|OUT: the next edge continues
    case TlsProgress::kFailed:
      return Close(false);
  }
}

}  // namespace privcast::proxy
