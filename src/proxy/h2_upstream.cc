#include "proxy/h2_upstream.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "proxy/h2_mem.h"
#include "proxy/h2_stream.h"
#include "proxy/worker.h"

namespace privcast::proxy {

namespace {

constexpr uint32_t kStreamWindow = 256 * 1024;
constexpr int32_t kConnectionWindow = 16 * 1024 * 1024;
constexpr size_t kMaxPendingOut = 1 << 20;

}  // namespace

struct H2UpCallbacks {
  static H2Stream* StreamOf(nghttp2_session*, int32_t id, void* ud) { return static_cast<H2Upstream*>(ud)->Find(id); }
  static int BeginHeaders(nghttp2_session*, const nghttp2_frame* f, void* ud) {
    auto* u = static_cast<H2Upstream*>(ud);
    u->head_text.clear();  // a block cut short may have left its start
    u->receiving_id_ = f->hd.stream_id;
    u->receiving_ = u->Find(f->hd.stream_id);
    return 0;
  }
  static H2Stream* Receiving(const nghttp2_frame* f, void* ud) {
    auto* u = static_cast<H2Upstream*>(ud);
    return f->hd.stream_id == u->receiving_id_ ? u->receiving_ : u->Find(f->hd.stream_id);
  }
  static int Header(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t namelen, const uint8_t* value,
                    size_t valuelen, uint8_t, void* ud) {
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    if (H2Stream* s = Receiving(f, ud))
      s->UpHeader({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen});
    return 0;
  }
  static int FrameRecv(nghttp2_session* ng, const nghttp2_frame* f, void* ud) {
    auto* u = static_cast<H2Upstream*>(ud);
    if (f->hd.type == NGHTTP2_GOAWAY) {
      u->goaway_ = true;  // no new streams here; nghttp2 closes the unprocessed ones
      return 0;
    }
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    H2Stream* s = f->hd.type == NGHTTP2_HEADERS ? Receiving(f, ud) : StreamOf(ng, f->hd.stream_id, ud);
    if (f->hd.type == NGHTTP2_HEADERS) {  // the block is complete
      u->receiving_id_ = 0;
      u->receiving_ = nullptr;
    }
    if (!s) return 0;
    bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
    if (f->hd.type == NGHTTP2_HEADERS) s->UpHeadersDone(end);
    else if (end) s->UpEnd();
    return 0;
  }
  static int DataChunk(nghttp2_session* ng, uint8_t, int32_t id, const uint8_t* data, size_t len, void* ud) {
    if (H2Stream* s = StreamOf(ng, id, ud)) s->UpData(data, len);
    else nghttp2_session_consume(ng, id, len);  // a stream whose client is gone
    return 0;
  }
  static int StreamClose(nghttp2_session* ng, int32_t id, uint32_t code, void* ud) {
    auto* u = static_cast<H2Upstream*>(ud);
    H2Stream* s = StreamOf(ng, id, ud);
    if (!s) return 0;
    u->Detach(id);
    // Its DATA the client has not taken yet: nghttp2 gives a closed stream's bytes back to
    // neither window, and without this each response still buffered at its end (most of
    // them: the END_STREAM comes in the same read) would shrink the connection's window for
    // good, until the app could send no DATA at all on it.
    if (size_t n = s->TakeUpUnconsumed()) nghttp2_session_consume_connection(ng, n);
    s->UpClosed(code, false);
    return 0;
  }
  static ssize_t ReadBody(nghttp2_session* ng, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                          nghttp2_data_source*, void* ud) {
    // By id, not the provider's pointer: a cancelled stream's H2Stream may be gone while its
    // RST_STREAM still waits to be sent.
    H2Stream* s = StreamOf(ng, id, ud);
    if (!s) return NGHTTP2_ERR_DEFERRED;
    return s->UpReadBody(buf, len, flags);
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
  static nghttp2_option* Options() {
    static nghttp2_option* opt = [] {
      nghttp2_option* o = nullptr;
      PC_CHECK(nghttp2_option_new(&o) == 0);
      nghttp2_option_set_no_auto_window_update(o, 1);  // the app's window follows the client
      nghttp2_option_set_peer_max_concurrent_streams(o, 100);
      return o;
    }();
    return opt;
  }
};

H2Upstream::H2Upstream(Worker* w, std::shared_ptr<MachineState> st, int fd) : w_(w), st_(std::move(st)), fd_(fd) {
  PC_CHECK(nghttp2_session_client_new3(&ng_, H2UpCallbacks::Get(), this, H2UpCallbacks::Options(), H2Mem()) == 0);
  // HEADER_TABLE_SIZE is the default (4096), said explicitly: nginx answers it with a dynamic
  // table size update to 0 (its encoder never refers to its table; without the update, every
  // response field comes as a literal our decoder must enter in its table, evicting another —
  // ≈ 3 % of the proxy's CPU per h2c request). An app that indexes for real sees no change.
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  };
  nghttp2_submit_settings(ng_, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
  nghttp2_session_set_local_window_size(ng_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  w_->loop().Add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, this);
}

H2Upstream::~H2Upstream() {
  out_.Release(w_->pool());
  if (ng_) nghttp2_session_del(ng_);
}

bool H2Upstream::HasRoom() const {
  return !closed_ && !goaway_ &&
         streams_.size() < nghttp2_session_get_remote_settings(ng_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

void H2IdTable::Add(int32_t id, H2Stream* s) {
  PC_CHECK(v_.size() == front_ || v_.back().first < id);  // nghttp2's ids only grow
  if (v_.capacity() == 0) v_.reserve(16);
  v_.emplace_back(id, s);
  ++live_;
}

H2Stream* H2IdTable::Find(int32_t id) const {
  auto it = std::lower_bound(v_.begin() + static_cast<std::ptrdiff_t>(front_), v_.end(), id,
                             [](const std::pair<int32_t, H2Stream*>& e, int32_t k) { return e.first < k; });
  return it != v_.end() && it->first == id ? it->second : nullptr;
}

bool H2IdTable::Remove(int32_t id) {
  auto it = std::lower_bound(v_.begin() + static_cast<std::ptrdiff_t>(front_), v_.end(), id,
                             [](const std::pair<int32_t, H2Stream*>& e, int32_t k) { return e.first < k; });
  if (it == v_.end() || it->first != id || !it->second) return false;
  it->second = nullptr;
  --live_;
  while (front_ < v_.size() && !v_[front_].second) ++front_;
  if (front_ == v_.size()) {
    v_.clear();
    front_ = 0;
  } else if (v_.size() - front_ > 2 * live_ + 16) {  // holes behind a long stream: squeeze them out
    auto end = std::remove_if(v_.begin() + static_cast<std::ptrdiff_t>(front_), v_.end(),
                              [](const std::pair<int32_t, H2Stream*>& e) { return !e.second; });
    v_.erase(end, v_.end());
    v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(front_));
    front_ = 0;
  }
  return true;
}

std::vector<H2Stream*> H2IdTable::TakeAll() {
  std::vector<H2Stream*> out;
  out.reserve(live_);
  for (size_t i = front_; i < v_.size(); ++i)
    if (v_[i].second) out.push_back(v_[i].second);
  v_.clear();
  front_ = live_ = 0;
  return out;
}

int32_t H2Upstream::Open(H2Stream* s, const nghttp2_nv* nv, size_t n, bool has_body) {
  nghttp2_data_provider prd{};
  prd.source.ptr = s;
  prd.read_callback = H2UpCallbacks::ReadBody;
  int32_t id = nghttp2_submit_request(ng_, nullptr, nv, n, has_body ? &prd : nullptr, nullptr);
  if (id > 0) {
    streams_.Add(id, s);
    ScheduleFlush();
  }
  return id;
}

void H2Upstream::Resume(int32_t id) {
  if (closed_) return;
  nghttp2_session_resume_data(ng_, id);
  ScheduleFlush();
}

void H2Upstream::Consume(int32_t id, size_t n) {
  if (closed_ || n == 0) return;
  nghttp2_session_consume(ng_, id, n);
  ScheduleFlush();
}

void H2Upstream::Cancel(int32_t id) {
  if (closed_) return;
  Detach(id);
  nghttp2_submit_rst_stream(ng_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  ScheduleFlush();
}

H2Stream* H2Upstream::Find(int32_t id) const { return streams_.Find(id); }

void H2Upstream::Detach(int32_t id) {
  if (id == receiving_id_) receiving_ = nullptr;
  if (!streams_.Remove(id)) return;
  if (streams_.size() == 0 && !closed_) w_->h2_upstreams().Idle(this);
}

void H2Upstream::OnEvents(uint32_t ev) {
  if (closed_) return;
  if (!connected_) {
    if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
      st_->upstream_connect_failures.fetch_add(1, std::memory_order_relaxed);
      // Nothing was sent: every stream may go elsewhere.
      std::vector<H2Stream*> streams = streams_.TakeAll();
      Close();
      for (H2Stream* s : streams) s->UpClosed(NGHTTP2_REFUSED_STREAM, true);
      return;
    }
    connected_ = true;
  }
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if ((ev & EPOLLOUT) && !Flush()) return;
  Drive();
}

void H2Upstream::Drive() {
  while (readable_ && !closed_ && out_.size() < kMaxPendingOut) {
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      readable_ = false;
      break;
    }
    if (n <= 0) return Close();
    if (static_cast<size_t>(n) < sizeof buf) readable_ = false;
    if (nghttp2_session_mem_recv(ng_, reinterpret_cast<uint8_t*>(buf), static_cast<size_t>(n)) < 0) return Close();
  }
  if (!closed_) ScheduleFlush();
}

void H2Upstream::ScheduleFlush() {
  if (flush_queued_ || closed_) return;
  flush_queued_ = true;
  w_->loop().Defer([this] {
    flush_queued_ = false;
    if (closed_) return;
    if (Flush() && !nghttp2_session_want_read(ng_) && !nghttp2_session_want_write(ng_)) Close();
  });
}

bool H2Upstream::Flush() {
  if (!connected_) return true;  // the EPOLLOUT of the connect sends what is queued
  while (out_.size() < kMaxPendingOut) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(ng_, &data);
    if (n < 0) {
      Close();
      return false;
    }
    if (n == 0) break;
    out_.Append(w_->pool(), std::string_view(reinterpret_cast<const char*>(data), static_cast<size_t>(n)));
  }
  while (!out_.empty()) {
    ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      Close();
      return false;
    }
    out_.Consume(static_cast<size_t>(n));
  }
  out_.ReleaseIfEmpty(w_->pool());
  if (nghttp2_session_want_write(ng_)) ScheduleFlush();
  return true;
}

void H2Upstream::Close() {
  if (closed_) return;
  closed_ = true;
  w_->loop().Del(fd_);
  ResetClose(fd_);  // ADR 0008: no TIME-WAIT towards the app
  fd_ = -1;
  // Streams still open learn it from nghttp2's close callbacks, which session_del does not
  // call: tell them here (their requests may be retried when the app saw nothing).
  receiving_ = nullptr;
  std::vector<H2Stream*> open = streams_.TakeAll();
  w_->h2_upstreams().Gone(this);
  for (H2Stream* s : open) s->UpClosed(NGHTTP2_INTERNAL_ERROR, false);
}

// ---------------------------------------------------------------------------------------------
// Pool

H2UpstreamPool::~H2UpstreamPool() {
  for (auto& [m, v] : by_machine_)
    for (H2Upstream* u : v) {
      std::unique_ptr<H2Upstream> owned(u);  // the pool's: freed here
      if (!owned->closed()) ResetClose(owned->fd());
    }
}

H2Upstream* H2UpstreamPool::Get(const std::shared_ptr<MachineState>& st, const UpstreamAddr& up, uint16_t port) {
  auto& v = by_machine_[st.get()];
  for (H2Upstream* u : v)
    if (u->HasRoom()) return u;
  int err = 0;
  int fd = ConnectUpstream(up, port, &err);
  if (fd < 0) return nullptr;
  H2Upstream* u = std::make_unique<H2Upstream>(w_, st, fd).release();  // the pool's, until Gone
  v.push_back(u);
  w_->ChargeFds(1);
  return u;
}

void H2UpstreamPool::Gone(H2Upstream* u) {
  auto it = by_machine_.find(u->machine());
  if (it != by_machine_.end()) {
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), u), v.end());
    if (v.empty()) by_machine_.erase(it);
  }
  w_->ChargeFds(-1);
  w_->loop().Retire(std::unique_ptr<H2Upstream>(u));  // freed after the batch
}

void H2UpstreamPool::Idle(H2Upstream* u) {
  u->idle_since = w_->loop().Now();
  if (w_->draining()) {
    u->ScheduleFlush();
    w_->loop().Defer([u] {
      if (!u->closed() && u->active() == 0) u->Close();
    });
    return;
  }
  if (!sweep_timer_) sweep_timer_ = w_->loop().AddTimerAfter(w_->opts().upstream_idle_timeout, [this] { Sweep(); });
}

void H2UpstreamPool::Sweep() {
  sweep_timer_ = 0;
  MonoTime cutoff = w_->loop().Now() - w_->opts().upstream_idle_timeout;
  std::vector<H2Upstream*> old;
  bool any = false;
  for (auto& [m, v] : by_machine_)
    for (H2Upstream* u : v) {
      if (u->active() != 0) continue;
      if (u->idle_since <= cutoff) old.push_back(u);
      else any = true;
    }
  for (H2Upstream* u : old) u->Close();
  if (any) sweep_timer_ = w_->loop().AddTimerAfter(w_->opts().upstream_idle_timeout, [this] { Sweep(); });
}

void H2UpstreamPool::CloseAll() {
  std::vector<H2Upstream*> idle;
  for (auto& [m, v] : by_machine_)
    for (H2Upstream* u : v)
      if (u->active() == 0) idle.push_back(u);
  for (H2Upstream* u : idle) u->Close();
}

}  // namespace privcast::proxy
