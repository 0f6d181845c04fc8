#include "proxy/h2_stream.h"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "proxy/codec/rewrite.h"
#include "proxy/h2_head.h"
#include "proxy/h2_session.h"
#include "proxy/h2_upstream.h"
#include "proxy/replay.h"

namespace privcast::proxy {

// h2_session.cc: nghttp2's data-provider trampoline.
ssize_t H2ReadBody(nghttp2_session* ng, int32_t id, uint8_t* buf, size_t len, uint32_t* flags, nghttp2_data_source* src,
                   void* ud);

namespace {

nghttp2_nv Nv(std::string_view n, std::string_view v) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(), NGHTTP2_NV_FLAG_NONE};
}

std::vector<nghttp2_nv> ToNv(const H2Fields& fields) {
  std::vector<nghttp2_nv> nv;
  nv.reserve(fields.size());
  for (auto& [n, v] : fields)
    nv.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                            reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                            NGHTTP2_NV_FLAG_NONE});
  return nv;
}

// Room for a head the rewriter writes, kept per thread: the bound (MaxRewritten*Size) is a few
// KiB, and a fresh allocation of it per stream showed in the profile (malloc_consolidate).
std::span<char> Scratch(size_t n) {
  static thread_local std::vector<char> buf;
  if (buf.size() < n) buf.resize(n);
  return std::span<char>(buf.data(), n);
}

std::atomic<uint64_t>* ErrorCounter(Worker* w, int status) {
  switch (status) {
    case 400:
      return &w->http_400;
    case 408:
      return &w->http_408;
    case 431:
      return &w->http_431;
    case 502:
      return &w->http_502;
    case 503:
      return &w->http_503;
    default:
      return nullptr;
  }
}

}  // namespace

H2Stream::H2Stream(H2Session* c, int32_t id)
    : Session(c->w, c->rs, c->app_index, c->svc, c->port, -1, c->peer, c->local), conn_(c), id_(id) {
  resp_parser_ = codec::ResponseParser(codec::ParseLimits{w->opts().max_head_bytes, codec::kMaxHeaders});
}

H2Stream::~H2Stream() {
  uout_.Release(w->pool());
  uin_.Release(w->pool());
  body_.Release(w->pool());
}

// ---------------------------------------------------------------------------------------------
// Request

void H2Stream::AddHeader(std::string_view name, std::string_view value) {
  conn_->fields().Add(name, value, w->opts().max_head_bytes);
}

void H2Stream::OnHead(bool end_stream) {
  w->http_requests.fetch_add(1, std::memory_order_relaxed);
  req_done_ = end_stream;
  bodyless_ = end_stream;
  h2_ = svc->h2_backend;
  const H2RequestFields& req = conn_->fields();
  te_trailers_ = req.te_trailers;
  if (req.too_large) return SendError(431);
  if (req.method == "CONNECT") return SendError(501);
  static thread_local std::string h;  // parsed and rewritten below, then done with
  req.ToHttp1(end_stream, !h2_, &chunked_, &h);
  // The HTTP/1 parser and rewriter make it the head an HTTP/1 client's request would give.
  codec::RequestParser parser(codec::ParseLimits{w->opts().max_head_bytes + 256, codec::kMaxHeaders});
  codec::RequestHead& rh = w->req_head;
  w->req_head_owner = nullptr;
  codec::ParseResult r = parser.Parse(h, &rh);
  if (!r.done()) return SendError(r.error() ? r.error_status : 400);
  req_method_ = rh.method_id;
  std::string_view hv[4] = {rh.fly_prefer_region, rh.fly_force_region, rh.fly_prefer_instance_id,
                            rh.fly_force_instance_id};
  std::string_view* dst[4] = {&hints.prefer_region, &hints.force_region, &hints.prefer_instance, &hints.force_instance};
  for (int i = 0; i < 4; ++i) {
    hint_storage[i].assign(hv[i]);
    *dst[i] = hint_storage[i];
  }
  w->NewRequestId(req_id_);
  codec::RequestFacts f;
  f.client_ip = conn_->client_ip();
  f.forwarded_port = PortOf(local);
  f.tls = conn_->io.tls != nullptr;
  f.region = rs->snap->local_region;
  f.request_id = std::string_view(req_id_, 26);
  f.request_start_us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  std::span<char> out = Scratch(codec::MaxRewrittenRequestSize(rh, f));
  size_t n = codec::RewriteRequest(rh, f, out);
  PC_CHECK(n > 0);
  head_.assign(out.data(), n);
  replay_keep_ = !h2_;  // an h2c app's stream is not replayed (ADR 0017)
  // For an h2 app, head_ is turned into HTTP/2 fields when the stream is dispatched (UpFields).
  if (req_done_ && chunked_) uout_.Append(w->pool(), "0\r\n\r\n");
  phase_ = Phase::kRouting;
  w->Route(this);
}

void H2Stream::OnData(const uint8_t* p, size_t n) {
  std::string_view d(reinterpret_cast<const char*>(p), n);
  unconsumed_ += n;
  if (phase_ == Phase::kDone || phase_ == Phase::kHeaders) return ConsumeWindow();  // answered: discarded
  if (chunked_) {
    if (n == 0) return;
    char size[24];
    int k = std::snprintf(size, sizeof size, "%zx\r\n", n);
    uout_.Append(w->pool(), std::string_view(size, static_cast<size_t>(k)));
    uout_.Append(w->pool(), d);
    uout_.Append(w->pool(), "\r\n");
  } else {
    uout_.Append(w->pool(), d);
  }
  SendUp();
  ConsumeWindow();
}

void H2Stream::OnRequestEnd() {
  if (req_done_) return;
  req_done_ = true;
  if (phase_ == Phase::kDone) return;
  if (chunked_) uout_.Append(w->pool(), "0\r\n\r\n");
  SendUp();
}

// The client's window follows the app: DATA is given back only once little of it waits here.
// Once the stream is closed, the connection's window still gets its bytes back (nghttp2 does
// not do it for a closed stream: without this, each stream the client closed with DATA not yet
// consumed would shrink the connection's window for good).
void H2Stream::ConsumeWindow() {
  if (unconsumed_ == 0 || conn_->dead) return;
  if (!closed_ && phase_ != Phase::kDone && uout_.size() >= kMaxPendingUp) return;
  nghttp2_session_consume(conn_->ng(), id_, unconsumed_);  // the connection's part even when closed
  unconsumed_ = 0;
  conn_->ScheduleFlush();
}

// ---------------------------------------------------------------------------------------------
// Routing and the app connection

void H2Stream::OnRouted(Lease lease) {
  if (lease.st) lease.st->connections_total.fetch_add(1, std::memory_order_relaxed);
  lease_ = std::move(lease);
  Dispatch();
  if (!dead) Drive();
}

void H2Stream::OnRouteFailed(int) { SendError(503); }

// The request head as HTTP/2 fields for an h2 app, pseudo-headers first (RFC 9113 §8.3), all
// pointing into head_ (names lowercased in place: it is not sent as HTTP/1 on this path), which
// stays unchanged until the stream ends (a retry builds them again): :method and :path from its
// request line, :authority from its Host (the client's :authority, ToHttp1). Per thread,
// reused: nghttp2_submit_request copies what it keeps.
const std::vector<nghttp2_nv>& H2Stream::UpFields() {
  static thread_local std::vector<nghttp2_nv> nv;
  nv.clear();
  std::string_view line(head_.data(), std::min(head_.size(), head_.find("\r\n")));
  size_t sp1 = line.find(' ');
  size_t sp2 = line.find(' ', sp1 + 1);
  nv.push_back(Nv(":method", line.substr(0, sp1)));
  nv.push_back(Nv(":scheme", "http"));
  nv.push_back(Nv(":authority", {}));
  nv.push_back(Nv(":path", line.substr(sp1 + 1, sp2 - sp1 - 1)));
  HeadNv(std::span<char>(head_.data(), head_.size()), &nv);
  for (size_t i = 4; i < nv.size(); ++i) {
    if (std::string_view(reinterpret_cast<const char*>(nv[i].name), nv[i].namelen) != "host") continue;
    nv[2].value = nv[i].value;
    nv[2].valuelen = nv[i].valuelen;
    nv.erase(nv.begin() + static_cast<std::ptrdiff_t>(i));
    break;
  }
  if (te_trailers_) nv.push_back(Nv("te", "trailers"));
  // Not copied by nghttp2 (nor lowercased again): every pair points into head_ or a literal,
  // and head_ outlives the HEADERS frame — it is packed at the connection's next flush, and a
  // stream that goes before that cancels it (Cancel → RST_STREAM, which drops a request HEADERS
  // still queued, RFC 9113 §5.1's idle stream never opened) or loses its connection with it.
  for (nghttp2_nv& f : nv) f.flags |= NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
  return nv;
}

void H2Stream::Dispatch() {
  ++attempts_;
  if (h2_) {  // a stream on a pooled, multiplexed HTTP/2 connection to the machine
    H2Upstream* u = w->h2_upstreams().Get(lease_.st, lease_.up(), lease_.port);
    if (!u) return UpstreamFailed(true);
    const std::vector<nghttp2_nv>& nv = UpFields();
    int32_t id = u->Open(this, nv.data(), nv.size(), !bodyless_);
    if (id < 0) return UpstreamFailed(true);
    up2_ = u;
    up2_id_ = id;
    up_deferred_ = false;
    phase_ = Phase::kExchange;
    return;
  }
  if (UpConn* c = w->TakePooled(lease_.st.get(), this)) {
    up_ = c;
    w->ChargeFds(1);
    reused_ = true;
    phase_ = Phase::kExchange;
    return SendUp();
  }
  reused_ = false;
  int err = 0;
  int fd = ConnectUpstream(lease_.up(), lease_.port, &err);
  if (fd < 0) return UpstreamFailed(true);
  up_ = w->NewUpConn(lease_.st, fd, this);
  w->ChargeFds(1);
  phase_ = Phase::kConnecting;
  SetDeadline(w->loop().Now() + w->ConnectTimeout(lease_));
}

void H2Stream::OnUpstream(uint32_t ev) {
  if (dead || !up_) return;
  if (phase_ == Phase::kConnecting) {
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(up_->fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) return UpstreamFailed(true);
    up_->readable = false;
    ClearDeadline();
    phase_ = Phase::kExchange;
    SendUp();
    return Drive();
  }
  if (ev & (EPOLLOUT | EPOLLERR)) SendUp();
  Drive();
}

void H2Stream::SendUp() {
  if (h2_) {  // the app's stream pulls through UpReadBody
    if (up2_ && up_deferred_ && (!uout_.empty() || req_done_)) {
      up_deferred_ = false;
      up2_->Resume(up2_id_);
    }
    return ConsumeWindow();
  }
  while (!dead && up_ && phase_ == Phase::kExchange) {
    size_t n1 = head_.size() - head_written_;
    size_t n2 = uout_.size();
    if (n1 + n2 == 0) break;
    ssize_t n = SendV2(up_->fd.get(), head_.data() + head_written_, n1, uout_.data(), n2);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;  // the EPOLLOUT edge resumes
      return UpstreamFailed(false);
    }
    size_t a = std::min(static_cast<size_t>(n), n1);
    head_written_ += a;
    size_t b = static_cast<size_t>(n) - a;
    if (replay_keep_ && b) KeepForReplay(b);
    uout_.Consume(b);
  }
  if (dead) return;
  uout_.ReleaseIfEmpty(w->pool());
  ConsumeWindow();
}

void H2Stream::Drive() {
  for (int i = 0; i < 64; ++i) {
    if (dead || !up_ || !up_->readable || phase_ != Phase::kExchange || resp_done_ || body_.size() >= kMaxPendingBody)
      return conn_->ScheduleFlush();
    ReadUp();
  }
  w->loop().Defer([this] {
    if (!dead) Drive();
  });
}

void H2Stream::ReadUp() {
  char* p = uin_.Reserve(w->pool(), 4096);
  size_t room = uin_.tail_room();
  ssize_t n = ::recv(up_->fd.get(), p, room, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
    up_->readable = false;
    uin_.ReleaseIfEmpty(w->pool());
    return;
  }
  if (n >= 0 && static_cast<size_t>(n) < room) up_->readable = false;
  if (n <= 0) {
    uin_eof_ = true;
    up_->readable = false;
    if (!resp_started_) return UpstreamFailed(false);
    if (resp_head_done_ && resp_framing_ == codec::Framing::kCloseDelimited && n == 0) {
      resp_done_ = true;
      return FinishUpstream();
    }
    return Reset(NGHTTP2_INTERNAL_ERROR);  // truncated response
  }
  uin_.Commit(static_cast<size_t>(n));
  resp_started_ = true;
  if (ProcessResponse() && resp_done_) FinishUpstream();
}

bool H2Stream::ProcessResponse() {
  while (!resp_head_done_) {
    codec::ResponseHead& h = w->resp_head;
    codec::ResponseContext ctx;
    ctx.request_method = req_method_;
    codec::ParseResult r = resp_parser_.Parse(uin_.view(), ctx, &h);
    if (r.incomplete()) return true;
    if (r.error() || h.status == 101 || h.framing == codec::Framing::kTunnel) {
      w->http_502.fetch_add(1, std::memory_order_relaxed);
      SendError(502);
      return false;
    }
    if (h.informational()) {  // 100 Continue & co: HTTP/2 clients do not need them
      uin_.Consume(r.consumed);
      resp_parser_.Reset();
      continue;
    }
    if (const codec::Header* fr = h.Find(kFlyReplay)) return Replay(fr->value);
    replay_keep_ = false;
    if (lease_.st)
      lease_.st->requests_by_class[std::min<int>(h.status / 100, kStatusClasses - 1)].fetch_add(
          1, std::memory_order_relaxed);
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
    if (preference_unavailable) f.extra_fields = "Fly-Preferred-Instance-Unavailable: true\r\n";
    std::span<char> out = Scratch(codec::MaxRewrittenResponseSize(h, f));
    std::span<char> text = out.first(codec::RewriteResponse(h, f, out));
    resp_framing_ = h.framing;
    resp_remaining_ = h.content_length;
    resp_ka_ = h.keep_alive;
    int status = h.status;
    uin_.Consume(r.consumed);
    resp_parser_.Reset();
    resp_head_done_ = true;
    chunks_.Reset();
    bool has_body = resp_framing_ == codec::Framing::kChunked || resp_framing_ == codec::Framing::kCloseDelimited ||
                    (resp_framing_ == codec::Framing::kContentLength && resp_remaining_ > 0);
    if (!has_body) resp_done_ = true;
    Respond(status, text, has_body);
  }
  DecodeBody();
  return !dead && phase_ != Phase::kDone;
}

// HTTP/1 body → payload for DATA frames (chunked is de-chunked; its trailers are dropped).
void H2Stream::DecodeBody() {
  size_t before = body_.size();
  switch (resp_framing_) {
    case codec::Framing::kContentLength: {
      size_t take = static_cast<size_t>(std::min<uint64_t>(uin_.size(), resp_remaining_));
      body_.Append(w->pool(), uin_.view().substr(0, take));
      uin_.Consume(take);
      resp_remaining_ -= take;
      if (resp_remaining_ == 0) resp_done_ = true;
      break;
    }
    case codec::Framing::kChunked:
      while (!uin_.empty() && !chunks_.done()) {
        uint64_t in_chunk = chunks_.remaining_in_chunk();
        size_t take = in_chunk ? static_cast<size_t>(std::min<uint64_t>(in_chunk, uin_.size())) : 1;
        codec::ChunkedFramer::Result r = chunks_.Feed(uin_.view().substr(0, take));
        if (r.status == codec::ChunkedFramer::Status::kError) return Reset(NGHTTP2_INTERNAL_ERROR);
        if (r.data_bytes) body_.Append(w->pool(), uin_.view().substr(0, r.data_bytes));
        uin_.Consume(r.consumed);
      }
      if (chunks_.done()) resp_done_ = true;
      break;
    case codec::Framing::kCloseDelimited:
      body_.Append(w->pool(), uin_.view());
      uin_.Consume(uin_.size());
      break;
    default:
      break;
  }
  uin_.ReleaseIfEmpty(w->pool());
  if (body_.size() > before || resp_done_) ResumeClientData();
}

ssize_t H2Stream::ReadBody(uint8_t* buf, size_t len, uint32_t* flags) {
  size_t n = std::min(len, body_.size());
  if (n) std::memcpy(buf, body_.data(), n);
  body_.Consume(n);
  if (up2_ && n) {  // the app may send as much again
    up_unconsumed_ -= std::min(n, up_unconsumed_);
    up2_->Consume(up2_id_, n);
  }
  if (resp_done_ && body_.empty()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    body_.ReleaseIfEmpty(w->pool());
    if (!trailers_.empty()) {  // the app's trailers (grpc-status...) end the stream instead
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> nv = ToNv(trailers_);
      nghttp2_submit_trailer(conn_->ng(), id_, nv.data(), nv.size());
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  // Room again: read more of the app's response after this turn (not from inside nghttp2).
  if (up_ && up_->readable && body_.size() + n >= kMaxPendingBody && body_.size() < kMaxPendingBody)
    w->loop().Defer([this] {
      if (!dead) Drive();
    });
  return static_cast<ssize_t>(n);
}

void H2Stream::Respond(int status, std::span<char> head, bool has_body) {
  char st[3] = {static_cast<char>('0' + status / 100 % 10), static_cast<char>('0' + status / 10 % 10),
                static_cast<char>('0' + status % 10)};
  // Per thread, reused: nghttp2_submit_response copies the pairs, which point into `head`.
  static thread_local std::vector<nghttp2_nv> nv;
  nv.clear();
  nv.push_back(Nv(":status", std::string_view(st, 3)));
  HeadNv(head, &nv);
  InternNames(nv);  // `head` is the thread's scratch: values are copied, common names need not be
  nghttp2_data_provider prd{};
  prd.source.ptr = this;
  prd.read_callback = H2ReadBody;
  nghttp2_submit_response(conn_->ng(), id_, nv.data(), nv.size(), has_body ? &prd : nullptr);
  submitted_ = true;
  conn_->ScheduleFlush();
}

void H2Stream::ResumeClientData() {
  if (!deferred_) return;
  deferred_ = false;
  nghttp2_session_resume_data(conn_->ng(), id_);
  conn_->ScheduleFlush();
}

// ---------------------------------------------------------------------------------------------
// App side over HTTP/2 (h2_backend)

void H2Stream::UpHeader(std::string_view name, std::string_view value) {
  if (resp_head_done_) {
    if (!H2ConnectionSpecific(name)) trailers_.emplace_back(std::string(name), std::string(value));
  } else if (name == ":status") {
    resp_status_ = 0;
    for (char c : value) resp_status_ = resp_status_ * 10 + (c - '0');  // nghttp2 checked: 3 digits
  } else if (!name.empty() && name[0] != ':') {
    // Straight into the HTTP/1 text the codec reads (RewriteH2Response), the connection's
    // buffer (H2Upstream::head_text); the status line's digits are filled in at the end
    // (pseudo-headers came first, but keep it simple).
    std::string& h1 = up2_->head_text;
    if (h1.empty()) h1.assign(kStatusLine);
    h1.append(name).append(": ").append(value).append("\r\n");
  }
}

// The app's head as an HTTP/1 head text through the HTTP/1 parser and rewriter: the same
// decoration (Fly-Request-Id, Server, overrides) as every other response.
bool H2Stream::RewriteH2Response(std::span<char>* head) {
  std::string& text = up2_->head_text;
  if (text.empty()) text.assign(kStatusLine);
  text[9] = static_cast<char>('0' + resp_status_ / 100 % 10);  // 3 digits: nghttp2 checked
  text[10] = static_cast<char>('0' + resp_status_ / 10 % 10);
  text[11] = static_cast<char>('0' + resp_status_ % 10);
  text += "\r\n";
  std::string_view h1 = text;
  codec::ResponseParser parser(codec::ParseLimits{w->opts().max_head_bytes + 256, codec::kMaxHeaders});
  codec::ResponseHead& h = w->resp_head;
  codec::ResponseContext ctx;
  ctx.request_method = req_method_;
  if (!parser.Parse(h1, ctx, &h).done()) return false;
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
  if (preference_unavailable) f.extra_fields = "Fly-Preferred-Instance-Unavailable: true\r\n";
  std::span<char> out = Scratch(codec::MaxRewrittenResponseSize(h, f));
  *head = out.first(codec::RewriteResponse(h, f, out));
  return true;
}

void H2Stream::UpHeadersDone(bool end_stream) {
  if (resp_head_done_) {  // trailers: they end the stream after the last DATA
    resp_done_ = true;
    return ResumeClientData();
  }
  if (resp_status_ >= 100 && resp_status_ < 200) {  // interim: the final head follows
    up2_->head_text.clear();
    return;
  }
  resp_started_ = resp_head_done_ = true;
  if (lease_.st)
    lease_.st->requests_by_class[std::min<int>(resp_status_ / 100, kStatusClasses - 1)].fetch_add(
        1, std::memory_order_relaxed);
  std::span<char> head;
  bool ok = RewriteH2Response(&head);
  up2_->head_text.clear();  // done with it (the rewritten head is in the thread's scratch)
  if (!ok) {
    w->http_502.fetch_add(1, std::memory_order_relaxed);
    return SendError(502);
  }
  resp_done_ = end_stream;
  // A trailers-only response (gRPC errors: grpc-status in the head) ends with the head.
  Respond(resp_status_, head, !end_stream);
}

void H2Stream::UpData(const uint8_t* p, size_t n) {
  up_unconsumed_ += n;
  body_.Append(w->pool(), std::string_view(reinterpret_cast<const char*>(p), n));
  ResumeClientData();
}

void H2Stream::UpEnd() {
  resp_done_ = true;
  ResumeClientData();
}

ssize_t H2Stream::UpReadBody(uint8_t* buf, size_t len, uint32_t* flags) {
  size_t n = std::min(len, uout_.size());
  if (n) std::memcpy(buf, uout_.data(), n);
  uout_.Consume(n);
  if (req_done_ && uout_.empty()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  } else if (n == 0) {
    up_deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  uout_.ReleaseIfEmpty(w->pool());
  ConsumeWindow();  // the client may send as much again
  return static_cast<ssize_t>(n);
}

void H2Stream::UpClosed(uint32_t code, bool connect_error) {
  up2_ = nullptr;
  if (dead) return;
  if (resp_done_) {  // complete: the app's stream is over, the client's follows from nghttp2
    ReleaseLease();
    phase_ = Phase::kDone;
    ConsumeWindow();
    return ResumeClientData();
  }
  if (connect_error) return UpstreamFailed(true);
  if (code == NGHTTP2_REFUSED_STREAM && !resp_started_) {  // never processed: like a stale reuse
    reused_ = true;
    return UpstreamFailed(false);
  }
  if (!submitted_) {
    w->http_502.fetch_add(1, std::memory_order_relaxed);
    return SendError(502);
  }
  // The app reset its stream (or the connection broke) mid-response: the client sees the same.
  Reset(code == NGHTTP2_NO_ERROR ? static_cast<uint32_t>(NGHTTP2_INTERNAL_ERROR) : code);
}

// ---------------------------------------------------------------------------------------------
// Ends

void H2Stream::FinishUpstream() {
  // The app's response is complete: its connection is free now, whatever the client does next.
  bool reusable = resp_ka_ && req_done_ && head_written_ == head_.size() && uout_.empty() && !uin_eof_ &&
                  uin_.empty() && resp_framing_ != codec::Framing::kCloseDelimited;
  DropUp(reusable);
  ReleaseLease();
  phase_ = Phase::kDone;
  ConsumeWindow();
  ResumeClientData();
  conn_->ScheduleFlush();
}

void H2Stream::DropUp(bool reuse) {
  if (up2_) {  // the app's stream is cancelled (RST_STREAM CANCEL): the client went away
    up2_->Consume(up2_id_, TakeUpUnconsumed());  // what we held is the connection's again
    up2_->Cancel(up2_id_);
    up2_ = nullptr;
  }
  if (!up_) return;
  UpConn* c = up_;
  up_ = nullptr;
  w->ChargeFds(-1);
  if (reuse) w->PutPooled(c);
  else w->DropUpConn(c);
  uin_.Consume(uin_.size());
  uin_.ReleaseIfEmpty(w->pool());
  uin_eof_ = false;
}

void H2Stream::ReleaseLease() {
  if (lease_.valid()) w->Release(lease_, rs->snap->apps[app_index].name);
}

void H2Stream::UpstreamFailed(bool connect_error) {
  if (up_ && up_->host_down && bodyless_) connect_error = true;  // its host stopped answering (host_suspects.h)
  if (connect_error) w->ConnectFailed(lease_, up_ ? up_->so_error : h2_ ? ECONNREFUSED : EHOSTUNREACH);
  bool stale_reuse = reused_ && !resp_started_ && bodyless_;
  bool replay = !resp_started_ && (connect_error || stale_reuse);
  DropUp(false);
  resp_parser_.Reset();
  if (replay && attempts_ < w->opts().max_attempts) {
    w->retries.fetch_add(1, std::memory_order_relaxed);
    head_written_ = 0;
    if (stale_reuse && !connect_error) return Dispatch();  // the app had closed a pooled connection
    tried.push_back(lease_.st.get());
    ReleaseLease();
    phase_ = Phase::kRouting;
    return w->Route(this);
  }
  w->http_502.fetch_add(1, std::memory_order_relaxed);
  SendError(502);
}

void H2Stream::SendError(int status) {
  if (waiting) w->CancelWait(this);
  ClearDeadline();
  DropUp(false);
  ReleaseLease();
  if (submitted_) return Reset(NGHTTP2_INTERNAL_ERROR);
  if (std::atomic<uint64_t>* c = ErrorCounter(w, status); c && status != 502)
    c->fetch_add(1, std::memory_order_relaxed);
  phase_ = Phase::kDone;
  resp_done_ = true;
  std::string_view text = codec::ErrorResponse(static_cast<uint16_t>(status), false);
  std::span<char> head = Scratch(text.size());
  std::memcpy(head.data(), text.data(), text.size());
  Respond(status, head, false);
  ConsumeWindow();
}

void H2Stream::Reset(uint32_t code) {
  DropUp(false);
  ReleaseLease();
  phase_ = Phase::kDone;
  if (!closed_) nghttp2_submit_rst_stream(conn_->ng(), NGHTTP2_FLAG_NONE, id_, code);
  conn_->ScheduleFlush();
}

void H2Stream::OnDeadline() {
  if (phase_ == Phase::kRouting && waiting) {
    w->CancelWait(this);
    rs->apps[app_index]->queue_timeouts.fetch_add(1, std::memory_order_relaxed);
    return OnRouteFailed(503);
  }
  if (phase_ == Phase::kConnecting) return UpstreamFailed(true);
}

void H2Stream::OnClosed(uint32_t) {
  // Closed by nghttp2: done, reset by the client (cancellation) or the connection's end. An
  // app connection still in use is reset: the app sees the cancellation as a closed connection.
  closed_ = true;
  ConsumeWindow();
  Abort();
}

void H2Stream::Abort() {
  closed_ = true;
  if (waiting) w->CancelWait(this);
  ClearDeadline();
  DropUp(false);
  ReleaseLease();
  phase_ = Phase::kDone;
  dead = true;
}

}  // namespace privcast::proxy
