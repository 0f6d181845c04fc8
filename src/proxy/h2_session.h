// H2Session: the `http` handler for an HTTP/2 client connection (docs/adr/0011-http2.md).
//
// Entered from an HttpSession: an `http` port whose first bytes are the HTTP/2 connection
// preface (h2c with prior knowledge), or a TLS handshake that selected ALPN "h2"
// (H2Session::TakeOver). nghttp2 does the framing, HPACK, flow control and the protocol's
// state machine through its callback API only (nghttp2_session_mem_recv / mem_send): this
// session owns the socket, the epoll registration and the output buffer, as HttpSession does.
//
// Each client stream is an H2Stream (h2_stream.h): a Session of its own for routing (admission,
// machine choice per request, wake with the stream held, queue, retries), with its own app
// connection for the exchange. The connection itself never routes.
//
// Output: frames of a loop turn (every stream's) are produced once, after the batch (a deferred
// flush), and written in one send; a write that comes up short waits for EPOLLOUT (the socket
// is registered edge-triggered IN|OUT|RDHUP). The client is not read while more than
// kMaxPendingOut bytes wait for it (a client that does not read cannot grow our buffer with
// PINGs or SETTINGS; nghttp2's max_outbound_ack caps the acks too).
//
// Limits (ADR 0011): SETTINGS_MAX_CONCURRENT_STREAMS = ProxyOptions::h2_max_concurrent_streams
// (a stream over it is refused with RST_STREAM REFUSED_STREAM by nghttp2); rapid reset (streams
// reset by the client) over nghttp2's token bucket (1000 burst, 33/s) → GOAWAY
// ENHANCE_YOUR_CALM; more than kMaxSettings entries in a SETTINGS frame, more than 1000
// queued SETTINGS/PING acks, too many CONTINUATION frames → GOAWAY; a header list over
// ProxyOptions::max_head_bytes → 431 on that stream. idle_timeout with no open stream →
// GOAWAY NO_ERROR and close.
// Owned by its Worker; loop thread only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/http1.h"
#include "proxy/h2_head.h"
#include "proxy/worker.h"

namespace privcast::proxy {

class H2Stream;

// The server session's nghttp2 options (the limits above) and first SETTINGS; shared with the
// HTTP/2 fuzzer (fuzz/proxy/h2_frames_fuzz.cc) so it drives the same configuration.
nghttp2_option* H2ServerOptions();
std::vector<nghttp2_settings_entry> H2ServerSettings(uint32_t max_concurrent_streams, size_t max_header_list);

class H2Session final : public Session {
 public:
  using Session::Session;
  ~H2Session() override;

  // Replaces `from` (an HttpSession that saw the preface or negotiated "h2"): takes its socket,
  // transport, network slot and the bytes it already read; `watched`: the socket is in the
  // epoll set (under from's handler). The caller unregisters `from` without closing the socket.
  // `upgrade`: an HTTP/1.1 request with Upgrade: h2c and HTTP2-Settings `settings` (base64url):
  // answered 101, and served as stream 1 (RFC 7540 §3.2).
  static void TakeOver(Session& from, std::string_view initial, bool watched,
                       const codec::RequestHead* upgrade = nullptr, std::string_view settings = {});

  void OnRouted(Lease) override {}  // streams route, never the connection
  void OnRouteFailed(int) override {}
  void Abort() override { Close(true); }
  void OnDrain() override;
  void OnDeadline() override;

  // For streams.
  nghttp2_session* ng() { return ng_; }
  void ScheduleFlush();      // produce and write pending frames after this batch
  void Unlink(H2Stream* s);  // the stream is gone from nghttp2 (deleted after the batch)
  const std::string& client_ip() const { return client_ip_; }  // Fly-Client-IP text, formatted once
  // The request HEADERS block being received (the newest stream's): a connection's blocks
  // arrive one after the other (RFC 9113 §4.3), so one per connection, cleared by NewStream and
  // reused, instead of strings allocated per stream. The stream reads it in OnHead.
  H2RequestFields& fields() { return fields_; }

  static constexpr size_t kMaxPendingOut = 1 << 20;

 private:
  struct End final : EventHandler {
    H2Session* s;
    void OnEvents(uint32_t ev) override { s->OnClient(ev); }
  };
  friend struct H2Callbacks;

  void Begin(std::string_view initial, bool watched, const codec::RequestHead* upgrade, std::string_view settings);
  bool StartUpgrade(const codec::RequestHead& h, std::string_view settings);  // false: closed
  H2Stream* NewStream(int32_t id);
  // The stream whose request HEADERS block is being received, if it is `id` (else null): set by
  // NewStream, so that its fields need no stream lookup each.
  H2Stream* Receiving(int32_t id) const;
  void OnClient(uint32_t ev);
  void Drive();
  bool Feed(const char* p, size_t n);  // into nghttp2; false when the session ended
  bool Flush();                        // false when the session ended
  void AfterIo();                      // close when neither side wants anything, idle timer
  void Close(bool reset);
  void FreeRetired();  // the streams Unlink retired

  End cend_{};
  std::string client_ip_;
  H2RequestFields fields_;
  nghttp2_session* ng_ = nullptr;
  Buffer cout_;
  H2Stream* streams_ = nullptr;     // intrusive list of open streams
  std::vector<H2Stream*> retired_;  // unlinked this turn, freed after the batch (FreeRetired)
  H2Stream* receiving_ = nullptr;   // Receiving(); cleared when its block ends or it closes
  size_t nstreams_ = 0;
  bool c_readable_ = false;
  bool c_watched_ = false;
  bool cin_eof_ = false;
  bool flush_queued_ = false;
  bool closing_ = false;  // GOAWAY sent or protocol error: close once the frames are out
};

}  // namespace privcast::proxy
