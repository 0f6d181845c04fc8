#include "proxy/h2_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>

#include "common/log.h"
#include "proxy/h2_head.h"
#include "proxy/h2_mem.h"
#include "proxy/h2_stream.h"
#include "proxy/http_session.h"

namespace privcast::proxy {

namespace {

constexpr size_t kMaxSettings = 32;  // entries in one SETTINGS frame
constexpr uint32_t kStreamWindow = 256 * 1024;
constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;

H2Stream* StreamOf(nghttp2_session* ng, int32_t id) {
  return static_cast<H2Stream*>(nghttp2_session_get_stream_user_data(ng, id));
}

}  // namespace

H2Stream* H2Session::Receiving(int32_t id) const { return receiving_ && receiving_->id() == id ? receiving_ : nullptr; }

// nghttp2's callbacks: thin trampolines into the session and its streams.
struct H2Callbacks {
  static int BeginHeaders(nghttp2_session*, const nghttp2_frame* f, void* ud) {
    auto* s = static_cast<H2Session*>(ud);
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    s->NewStream(f->hd.stream_id);
    return 0;
  }
  static int Header(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t namelen, const uint8_t* value,
                    size_t valuelen, uint8_t, void* ud) {
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: dropped
    if (H2Stream* st = static_cast<H2Session*>(ud)->Receiving(f->hd.stream_id))
      st->AddHeader({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen});
    return 0;
  }
  static int FrameRecv(nghttp2_session* ng, const nghttp2_frame* f, void* ud) {
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    auto* s = static_cast<H2Session*>(ud);
    bool request = f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST;
    H2Stream* st = request ? s->Receiving(f->hd.stream_id) : StreamOf(ng, f->hd.stream_id);
    if (request) s->receiving_ = nullptr;  // the block is complete
    if (!st) return 0;
    bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (request) st->OnHead(end);
    else if (end) st->OnRequestEnd();
    return 0;
  }
  static int DataChunk(nghttp2_session* ng, uint8_t, int32_t id, const uint8_t* data, size_t len, void*) {
    if (H2Stream* st = StreamOf(ng, id)) st->OnData(data, len);
    else nghttp2_session_consume_connection(ng, len);  // a stream we no longer relay
    return 0;
  }
  static int StreamClose(nghttp2_session* ng, int32_t id, uint32_t code, void* ud) {
    H2Stream* st = StreamOf(ng, id);
    if (!st) return 0;
    auto* s = static_cast<H2Session*>(ud);
    if (s->receiving_ == st) s->receiving_ = nullptr;
    nghttp2_session_set_stream_user_data(ng, id, nullptr);
    st->OnClosed(code);
    s->Unlink(st);
    return 0;
  }
  static ssize_t ReadBody(nghttp2_session* ng, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                          nghttp2_data_source*, void*) {
    H2Stream* st = StreamOf(ng, id);  // by id: a stream the session dropped has no user data
    if (!st) return NGHTTP2_ERR_DEFERRED;
    return st->ReadBody(buf, len, flags);
  }

  static nghttp2_session_callbacks* Get() {
    static nghttp2_session_callbacks* cbs = [] {
      nghttp2_session_callbacks* c = nullptr;
      PC_CHECK(nghttp2_session_callbacks_new(&c) == 0);
      nghttp2_session_callbacks_set_on_begin_headers_callback(c, BeginHeaders);
      nghttp2_session_callbacks_set_on_header_callback(c, Header);
      nghttp2_session_callbacks_set_on_frame_recv_callback(c, FrameRecv);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, DataChunk);
      nghttp2_session_callbacks_set_on_stream_close_callback(c, StreamClose);
      return c;
    }();
    return cbs;
  }
};

nghttp2_option* H2ServerOptions() {
  static nghttp2_option* opt = [] {
    nghttp2_option* o = nullptr;
    PC_CHECK(nghttp2_option_new(&o) == 0);
    nghttp2_option_set_no_auto_window_update(o, 1);  // the window follows the app (h2_stream.h)
    nghttp2_option_set_max_settings(o, kMaxSettings);
    nghttp2_option_set_max_outbound_ack(o, 1000);
    nghttp2_option_set_stream_reset_rate_limit(o, 1000, 33);  // rapid reset (CVE-2023-44487)
    nghttp2_option_set_max_continuations(o, 8);
    // No closed streams kept for the RFC 7540 priority tree (nghttp2 keeps up to
    // MAX_CONCURRENT_STREAMS of them per connection by default): we never schedule by it, and
    // keeping them is bookkeeping on every stream's close.
    nghttp2_option_set_no_closed_streams(o, 1);
    return o;
  }();
  return opt;
}

std::vector<nghttp2_settings_entry> H2ServerSettings(uint32_t max_concurrent_streams, size_t max_header_list) {
  return {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(max_header_list)},
  };
}

ssize_t H2ReadBody(nghttp2_session* ng, int32_t id, uint8_t* buf, size_t len, uint32_t* flags, nghttp2_data_source* src,
                   void* ud) {
  return H2Callbacks::ReadBody(ng, id, buf, len, flags, src, ud);
}

void H2Session::TakeOver(Session& from, std::string_view initial, bool watched, const codec::RequestHead* upgrade,
                         std::string_view settings) {
  Worker* w = from.w;
  auto owned = std::make_unique<H2Session>(w, from.rs, from.app_index, from.svc, from.port, from.cfd.release(),
                                           from.peer, from.local);
  H2Session* s = owned.get();
  s->io.tls = std::move(from.io.tls);
  s->net_slot = from.net_slot;
  from.net_slot = nullptr;
  s->fd_charge = from.fd_charge;
  w->Register(std::move(owned));  // Session::Start is a no-op here: Begin takes what was handed over
  s->Begin(initial, watched, upgrade, settings);
}

H2Stream* H2Session::NewStream(int32_t id) {
  fields_.Clear();
  H2Stream* st = std::make_unique<H2Stream>(this, id).release();  // the list's, until Unlink
  nghttp2_session_set_stream_user_data(ng_, id, st);
  receiving_ = st;
  st->next_s = streams_;
  if (streams_) streams_->prev_s = st;
  streams_ = st;
  ++nstreams_;
  ClearDeadline();
  return st;
}

bool H2Session::StartUpgrade(const codec::RequestHead& h, std::string_view settings) {
  std::string payload;
  if (!Base64UrlDecode(settings, &payload) ||
      nghttp2_session_upgrade2(ng_, reinterpret_cast<const uint8_t*>(payload.data()), payload.size(),
                               h.method_id == codec::Method::kHead, nullptr) != 0) {
    Close(true);
    return false;
  }
  cout_.Append(w->pool(), "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
  // Stream 1 is the request itself, half-closed from the client's side.
  H2Stream* st = NewStream(1);
  st->AddHeader(":method", h.method);
  st->AddHeader(":scheme", "http");
  st->AddHeader(":authority", h.host);
  st->AddHeader(":path", h.target);
  std::string name;
  for (size_t i = 0; i < h.header_count; ++i) {
    const codec::Header& f = h.headers[i];
    if (f.hop_by_hop || f.kind == codec::HeaderKind::kHost) continue;
    name.assign(f.name);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c); });
    if (name == "http2-settings") continue;
    st->AddHeader(name, f.value);
  }
  st->OnHead(true);
  return !dead;
}

H2Session::~H2Session() {
  FreeRetired();
  cout_.Release(w->pool());
  if (ng_) nghttp2_session_del(ng_);
}

void H2Session::Begin(std::string_view initial, bool watched, const codec::RequestHead* upgrade,
                      std::string_view settings) {
  cend_.s = this;
  client_ip_ = PeerIp(peer);
  if (nghttp2_session_server_new3(&ng_, H2Callbacks::Get(), this, H2ServerOptions(), H2Mem()) != 0) return Close(true);
  std::vector<nghttp2_settings_entry> iv = H2ServerSettings(w->opts().h2_max_concurrent_streams,
                                                            w->opts().max_head_bytes);
  nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  uint32_t ev = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  if (watched) w->loop().Modify(cfd.get(), ev, &cend_);
  else w->loop().Add(cfd.get(), ev, &cend_);
  c_watched_ = true;
  SetDeadline(w->loop().Now() + w->opts().idle_timeout);
  if (upgrade && !StartUpgrade(*upgrade, settings)) return;
  if (!Feed(initial.data(), initial.size())) return;
  c_readable_ = true;  // more may be there already (and TLS may hold decrypted bytes)
  Drive();
}

void H2Session::OnClient(uint32_t ev) {
  if (dead) return;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c_readable_ = true;
  if ((ev & EPOLLOUT) && io.tls && io.tls->read_wants_write()) c_readable_ = true;
  if ((ev & (EPOLLOUT | EPOLLERR)) && !Flush()) return;
  Drive();
}

void H2Session::Drive() {
  for (int i = 0; i < 16 && !dead; ++i) {
    if (!c_readable_ || cin_eof_ || cout_.size() >= kMaxPendingOut) break;
    char buf[16384];
    ssize_t n = io.Recv(buf, sizeof buf);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        c_readable_ = false;
        break;
      }
      return Close(true);
    }
    if (io.Drained(n, sizeof buf)) c_readable_ = false;
    if (n == 0) {
      cin_eof_ = true;
      break;
    }
    if (!Feed(buf, static_cast<size_t>(n))) return;
  }
  if (dead) return;
  if (c_readable_ && !cin_eof_ && cout_.size() < kMaxPendingOut) {
    w->loop().Defer([this] {
      if (!dead) Drive();
    });
  }
  if (!Flush()) return;
  AfterIo();
}

bool H2Session::Feed(const char* p, size_t n) {
  ssize_t r = nghttp2_session_mem_recv(ng_, reinterpret_cast<const uint8_t*>(p), n);
  if (r < 0) {
    // nghttp2 has queued the GOAWAY with the right code (PROTOCOL_ERROR, FLOW_CONTROL_ERROR,
    // ENHANCE_YOUR_CALM for floods...): send it, then close.
    log::Info("proxy", "http/2 connection error",
              {{"client", PeerIp(peer)}, {"error", nghttp2_strerror(static_cast<int>(r))}});
    closing_ = true;
    if (r == NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
      Close(true);
      return false;
    }
    Flush();
    if (!dead) Close(false);
    return false;
  }
  ScheduleFlush();
  return true;
}

void H2Session::ScheduleFlush() {
  if (flush_queued_ || dead) return;
  flush_queued_ = true;
  w->loop().Defer([this] {
    flush_queued_ = false;
    if (dead) return;
    if (Flush()) AfterIo();
  });
}

bool H2Session::Flush() {
  if (dead) return false;
  while (cout_.size() < kMaxPendingOut) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(ng_, &data);
    if (n < 0) {
      Close(true);
      return false;
    }
    if (n == 0) break;
    cout_.Append(w->pool(), std::string_view(reinterpret_cast<const char*>(data), static_cast<size_t>(n)));
  }
  while (!cout_.empty()) {
    ssize_t n = io.Send(cout_.data(), cout_.size());
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;  // EPOLLOUT edge resumes
      Close(true);
      return false;
    }
    cout_.Consume(static_cast<size_t>(n));
  }
  cout_.ReleaseIfEmpty(w->pool());
  // Room again below the cap: more frames may be waiting in nghttp2.
  if (nghttp2_session_want_write(ng_) && cout_.empty()) ScheduleFlush();
  return true;
}

void H2Session::AfterIo() {
  if (dead) return;
  // Done: nothing left to write, and nothing more to read (EOF, or a GOAWAY sent or received
  // and no stream left).
  if (cout_.empty() && !nghttp2_session_want_write(ng_) && (cin_eof_ || !nghttp2_session_want_read(ng_)))
    return Close(false);
  if (nstreams_ == 0) SetDeadline(w->loop().Now() + w->opts().idle_timeout);
}

void H2Session::Unlink(H2Stream* s) {
  if (s->prev_s) s->prev_s->next_s = s->next_s;
  else streams_ = s->next_s;
  if (s->next_s) s->next_s->prev_s = s->prev_s;
  --nstreams_;
  // Freed after the batch (a stale event may still name it), all of a turn's at once by one
  // closure: EventLoop::Retire would allocate a shared_ptr and a closure per stream. The closure
  // is queued before this session can be retired (Close unlinks every stream first), so it
  // runs while the session is alive.
  retired_.push_back(s);
  if (retired_.size() == 1) w->loop().Defer([this] { FreeRetired(); });
  ScheduleFlush();
}

void H2Session::FreeRetired() {
  for (H2Stream* s : retired_) delete s;  // ours since Unlink
  retired_.clear();
}

void H2Session::OnDrain() {
  if (dead || closing_) return;
  closing_ = true;
  nghttp2_submit_goaway(ng_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(ng_), NGHTTP2_NO_ERROR, nullptr,
                        0);
  // Streams in flight finish; the close follows once nghttp2 has nothing left to do (AfterIo).
  ScheduleFlush();
}

void H2Session::OnDeadline() {
  if (nstreams_ > 0) return;
  OnDrain();  // idle: GOAWAY NO_ERROR, then close
}

void H2Session::Close(bool reset) {
  if (dead) return;
  // Streams still open: their app connections are reset, their leases released.
  receiving_ = nullptr;
  while (streams_) {
    H2Stream* st = streams_;
    nghttp2_session_set_stream_user_data(ng_, st->id(), nullptr);
    st->Abort();
    Unlink(st);
  }
  if (c_watched_) w->loop().Del(cfd.get());
  if (reset) {
    ResetClose(cfd.release());
  } else {
    io.CloseNotify();
    cfd.reset();
  }
  cout_.Release(w->pool());
  w->Unregister(this);
}

}  // namespace privcast::proxy
