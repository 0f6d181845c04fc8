// H2Upstream: one HTTP/2 cleartext (h2c, prior knowledge) connection from the proxy to a
// machine's internal port, for services with `h2_backend = true` (docs/adr/0011-http2.md).
//
// Multiplexed and pooled: a worker keeps its H2Upstreams per machine (H2UpstreamPool); a
// stream takes the first one with room under the app's SETTINGS_MAX_CONCURRENT_STREAMS (100
// until its SETTINGS say otherwise), else a new connection is made. A connection with no stream
// stays for upstream_idle_timeout, then is closed (GOAWAY, reset: ADR 0008's rule). A GOAWAY
// from the app, an EOF or an error closes it; nghttp2 then closes its streams, and those the
// app never processed (REFUSED_STREAM / above the GOAWAY's last id) are retried by their
// H2Stream like a stale pooled HTTP/1 connection.
//
// nghttp2 (client session) through its callback API only; this object owns the socket (epoll,
// edge-triggered IN|OUT|RDHUP, registered once) and its output buffer; frames of a turn are
// written once after the batch. Flow control: the app's DATA is given back to its window only
// once the client took it (H2Stream::ReadBody → Consume), so a slow client slows only its own
// stream; connection windows are 16 MiB both ways.
// Owned by the worker's pool; loop thread only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "proxy/buffer.h"
#include "proxy/event_loop.h"
#include "proxy/state.h"

namespace privcast::proxy {

class H2Stream;
class Worker;
struct UpstreamAddr;

// An app connection's open streams by id (nghttp2's ids only grow): a sorted vector searched by
// bisection, with no node to allocate per stream as a hash map would. A removed entry becomes a
// hole, dropped once it reaches the front — responses end roughly in the order the requests
// went, so removal costs no shift of the entries after it — and the holes are squeezed out when
// they outnumber the live entries (a long stream at the front does not let them pile up).
class H2IdTable {
 public:
  void Add(int32_t id, H2Stream* s);  // id above every id added before
  H2Stream* Find(int32_t id) const;
  bool Remove(int32_t id);  // false: not there
  size_t size() const { return live_; }
  std::vector<H2Stream*> TakeAll();  // the live entries in id order; the table is empty after

 private:
  std::vector<std::pair<int32_t, H2Stream*>> v_;  // [front_, end) in use, holes have null
  size_t front_ = 0;
  size_t live_ = 0;
};

class H2Upstream final : public EventHandler {
 public:
  H2Upstream(Worker* w, std::shared_ptr<MachineState> st, int fd);
  ~H2Upstream() override;

  void OnEvents(uint32_t ev) override;
  bool HasRoom() const;
  // A request stream for `s`: HEADERS now (sent once connected), DATA through s->UpReadBody
  // when has_body. Returns the stream id, or a negative nghttp2 error.
  int32_t Open(H2Stream* s, const nghttp2_nv* nv, size_t n, bool has_body);
  void Resume(int32_t id);             // more request DATA (or its end) is there
  void Cancel(int32_t id);             // the client went away: RST_STREAM CANCEL, detached
  void Consume(int32_t id, size_t n);  // the client took n bytes of this stream's DATA
  void ScheduleFlush();
  void Close();  // reset the connection; its open streams are told (UpClosed)

  MachineState* machine() const { return st_.get(); }
  size_t active() const { return streams_.size(); }
  int fd() const { return fd_; }
  MonoTime idle_since{};
  bool closed() const { return closed_; }
  // The response head of the stream whose HEADERS block is being received, as HTTP/1 text
  // (H2Stream::UpHeader): a connection's header blocks arrive one after the other (RFC 9113
  // §4.3), so one buffer per connection, reused, instead of one string per stream.
  std::string head_text;

 private:
  friend struct H2UpCallbacks;
  void Drive();
  bool Flush();
  H2Stream* Find(int32_t id) const;
  void Detach(int32_t id);

  Worker* w_;
  std::shared_ptr<MachineState> st_;
  int fd_;
  nghttp2_session* ng_ = nullptr;
  Buffer out_;
  // Open streams with a client behind them, by id. Ours, not nghttp2's stream user data: a
  // stream cancelled before its HEADERS left is not a stream nghttp2 can label yet.
  H2IdTable streams_;
  // The stream whose HEADERS block is being received (looked up once per block, not per field).
  int32_t receiving_id_ = 0;
  H2Stream* receiving_ = nullptr;
  bool connected_ = false, readable_ = false, flush_queued_ = false, closed_ = false, goaway_ = false;
};

// A worker's H2Upstreams, per machine.
class H2UpstreamPool {
 public:
  explicit H2UpstreamPool(Worker* w) : w_(w) {}
  ~H2UpstreamPool();
  // One with room for a stream, or a new connection (nullptr when connect() failed at once).
  H2Upstream* Get(const std::shared_ptr<MachineState>& st, const UpstreamAddr& up, uint16_t port);
  void Gone(H2Upstream* u);  // closed: forget it (freed after the batch)
  void Idle(H2Upstream* u);  // no stream left: the idle sweep may close it
  void CloseAll();           // draining

 private:
  void Sweep();
  Worker* w_;
  std::unordered_map<MachineState*, std::vector<H2Upstream*>> by_machine_;
  EventLoop::TimerId sweep_timer_ = 0;
};

}  // namespace privcast::proxy
