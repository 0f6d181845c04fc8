// HttpSession: the `http` handler. HTTP/1.1 from the client, HTTP/1.1 to the machine.
//
// One exchange at a time per client connection (pipelined requests wait in the input buffer,
// so responses can never be reordered). Per request: parse the head (codec), route
// (per request with `requests` concurrency, once per connection with `connections`), take a
// pooled connection to the machine or connect, write the rewritten head (codec rewriter) and
// stream the body (content-length or chunked, framed by the codec, never buffered whole);
// read the response head, rewrite it, stream its body; then return the app connection to the
// worker's pool (requests concurrency) or keep it until the client connection ends and pool it
// then (connections) — whatever the client's Connection header (ADR 0008) — and go back to
// reading the client. 101 / CONNECT-2xx switches to a raw tunnel both ways. 1xx (100-continue)
// are forwarded as they come.
//
// Failure before the app saw a byte of a body-less request (connect error, reset of a reused
// connection with no response byte) → retried on another machine (max_attempts); otherwise
// 502 if the client has seen nothing, else the client connection is closed.
// Errors of the client: malformed → 400, head too large → 431, a head not complete within
// header_timeout of its first byte (absolute: trickled bytes do not restart it) → 408, a body
// slower than body_min_rate after body_timeout → 408 (reset once the response has begun); each
// closes after the response (lingering close).
//
// I/O: both sockets are registered once, edge-triggered (EPOLLIN|EPOLLRDHUP, and EPOLLOUT), so
// a keep-alive request costs no epoll_ctl at all; a read shorter than the buffer (or EAGAIN)
// clears the "readable" flag (nginx's rule), a write that hits EAGAIN waits for the EPOLLOUT edge.
// A plain client socket is read speculatively before it is registered, and registered without
// EPOLLOUT until a write first leaves bytes behind (one EPOLL_CTL_MOD then): registered earlier,
// or writable-armed, it would report a readiness nobody waits for in the next epoll_wait, a
// loop turn between routing a fresh connection's request and sleeping so the app can answer.
// Writes of plain sockets go through the loop's SendBatch when it is enabled: FlushClient /
// FlushUpstream queue the direction's writer and return as if the socket were full; at the end
// of the turn the writer sends what is pending then, and its result is handled like a send()
// result followed by an EPOLLOUT edge (ClientSent / UpstreamSent). TLS writes go directly.
//
// TLS (`tls` on the port): the client side is a TlsStream (transport.h); phase kHandshake comes
// first, bounded by tls_handshake_timeout; then X-Forwarded-Proto https / X-Forwarded-SSL on,
// and force_https never redirects.
//
// Memory: an idle keep-alive session holds no buffer (all four are returned to the worker
// pool when empty); the object itself is a few hundred bytes.
// Owned by its Worker; loop thread only.
#pragma once

#include "proxy/codec/chunked.h"
#include "proxy/codec/http1.h"
#include "proxy/worker.h"

namespace privcast::proxy {

class HttpSession final : public Session, public UpConnOwner {
 public:
  using Session::Session;
  ~HttpSession() override;

  void Start() override;
  void OnRouted(Lease lease) override;
  void OnRouteFailed(int status) override;
  void Abort() override { Close(true); }
  void OnDrain() override;
  void OnDeadline() override;
  void OnUpstream(uint32_t ev) override;  // events of up_ (UpConn forwards them)

 private:
  struct End final : EventHandler {
    HttpSession* s;
    void OnEvents(uint32_t ev) override { s->OnClient(ev); }
  };
  struct ClientWriter final : BatchedWriter {
    HttpSession* s;
    bool Prepare(int* fd, iovec iov[2], int* flags) override { return s->PrepareClientWrite(fd, iov, flags); }
    void Done(ssize_t r) override { s->ClientSent(r); }
  };
  struct UpstreamWriter final : BatchedWriter {
    HttpSession* s;
    bool Prepare(int* fd, iovec iov[2], int*) override { return s->PrepareUpstreamWrite(fd, iov); }
    void Done(ssize_t r) override { s->UpstreamSent(r); }
  };
  enum class Phase : uint8_t {
    kHandshake,   // TLS ports: handshake before the first request
    kHead,        // reading a request head (idle keep-alive when cin_ is empty)
    kRouting,     // waiting for a machine (wake / queue)
    kConnecting,  // connect() to the machine in progress
    kExchange,    // request going up / response coming down
    kTunnel,      // after 101: raw bytes both ways
    kClosing,     // error response written; lingering close
  };

  void OnClient(uint32_t ev);
  void ContinueHandshake();
  // HTTP/2 preface, ALPN h2 or Upgrade: h2c (`upgrade`: that request, `settings` its
  // HTTP2-Settings): an H2Session takes the connection over.
  void SwitchToH2(const codec::RequestHead* upgrade = nullptr, std::string_view settings = {});
  // Edge-triggered: read while a side is known readable and the phase wants its bytes.
  void Drive();
  bool WantClientRead() const;
  bool WantUpstreamRead() const;
  void TunnelCheck();
  void ReadClient();
  void ProcessHead();
  void BeginRequest(const codec::RequestHead& h, size_t consumed);  // ProcessHead's parts
  void RedirectToHttps(const codec::RequestHead& h);
  void Dispatch();     // have a machine (lease): get an app connection
  void SendRequest();  // app connection ready: write head + body
  void ReadUpstream();
  bool ProcessResponse();  // false when the session ended
  // The response head carries fly-replay (proxy/replay.h): route the kept request again, or
  // answer an error. Always false (the response is not the client's).
  bool Replay(std::string_view value);
  void FrameRequestBody();
  void FrameResponseBody();
  bool FlushUpstream();  // false on a write error (handled)
  bool FlushClient();    // false on a write error (handled)
  bool PrepareClientWrite(int* fd, iovec iov[2], int* flags);
  int LastWriteFlags() const;  // MSG_MORE when this write ends the connection (its FIN joins it)
  bool PrepareUpstreamWrite(int* fd, iovec iov[2]);
  void WroteClient(size_t n);         // n bytes of cout_ + response body went to the client
  void WroteUpstream(size_t n);       // n bytes of uout_ + request body went to the app
  bool ClientWriteFailed(int err);    // false when the session ended
  void WatchClient();                 // registers cfd (once)
  void ArmClientOut();                // EPOLLOUT from now on: a client write left bytes behind
  bool UpstreamWriteFailed(int err);  // false when the session ended
  void ClientSent(ssize_t r);         // a batched write's result, then what an EPOLLOUT edge does
  void UpstreamSent(ssize_t r);
  void AfterClientWrite();
  void AfterUpstreamWrite();
  void MaybeFinishExchange();
  void UpstreamFailed(bool connect_error);
  void DropUpstream(bool reuse);
  void SendError(int status, const char* extra_headers = "");
  void Close(bool reset);
  void StartTunnel();
  void StartHeadClock();  // the head's absolute deadline starts now
  void BodyDeadline();    // while a request body comes: body_start_ + body_timeout + bytes / min rate
  bool WantsReqLease() const { return svc->concurrency == ConcurrencyType::kRequests; }

  End cend_{};
  ClientWriter cw_{};
  UpstreamWriter uw_{};
  Phase phase_ = Phase::kHead;
  UpConn* up_ = nullptr;      // the app connection in use (owner == this)
  bool c_readable_ = false;   // client EPOLLIN edge not yet drained
  bool c_watched_ = false;    // cfd is in the loop's epoll set
  bool c_out_armed_ = false;  // ... with EPOLLOUT (TLS: from the start; plain: after a short write)
  Lease up_lease_;            // per request (requests concurrency)
  Lease conn_lease_;          // per connection (connections concurrency)
  Buffer cin_, uin_, uout_, cout_;
  size_t req_ready_ = 0;     // framed body bytes at the front of cin_ not yet sent up
  size_t resp_ready_ = 0;    // framed body bytes at the front of uin_ not yet sent down
  size_t uout_written_ = 0;  // bytes of uout_ already written (kept for a replay)
  codec::RequestParser req_parser_;
  codec::ResponseParser resp_parser_;
  codec::ChunkedFramer req_chunks_, resp_chunks_;
  uint64_t req_remaining_ = 0, resp_remaining_ = 0;
  codec::Framing req_framing_ = codec::Framing::kNone, resp_framing_ = codec::Framing::kNone;
  codec::Method req_method_ = codec::Method::kGet;
  size_t req_head_len_ = 0;
  char req_id_[26];
  int attempts_ = 0;
  bool req_ka_ = true, req_http10_ = false, req_upgrade_ = false, req_done_ = false;
  bool resp_started_ = false, resp_head_done_ = false, resp_done_ = false, resp_ka_ = true;
  bool client_ka_ = true, reused_ = false, draining_ = false;
  bool cin_eof_ = false, uin_eof_ = false, c_shut_ = false, u_shut_ = false;
  bool head_clock_ = false;  // the current head's deadline is running (restarted by nothing but a new head)
  bool body_clock_ = false;
  // uout_ keeps every byte of the request sent so far (head + body up to kReplayBodyLimit) until
  // the response head arrives, for a fly-replay (proxy/replay.h).
  bool replay_keep_ = false;  // a request body is coming and its minimum rate is enforced
  uint64_t body_bytes_ = 0;   // client bytes read since body_start_
  MonoTime body_start_{};
  int64_t req_start_us_ = 0;
  uint32_t up_gen_ = 0;  // changes whenever up_ does
  uint32_t uw_gen_ = 0;  // up_gen_ when uw_ last prepared a write
};

}  // namespace privcast::proxy
