// H2Stream: one HTTP/2 request stream of an H2Session, relayed to the app as HTTP/1.1
// (docs/adr/0011-http2.md).
//
// A stream is a Session for routing only (no socket, not in the worker's session list): the
// per-request path of HttpSession applies to it unchanged — Worker::Route (admission was the
// connection's; machine choice per request with hints from its own fly-* headers; wake with the
// stream held; queue with queue_timeout → 503), one lease per stream whatever the concurrency
// type (a stream is the unit of load, as a client connection is for HTTP/1), Fly headers,
// retries on connect errors or a stale pooled connection before the app saw a byte, metrics.
//
// Request: the HEADERS block becomes an HTTP/1.1 head text (":method :path HTTP/1.1",
// Host from :authority, cookie crumbs joined with "; ", Content-Length when the client sent
// it, else chunked when DATA follows), which the HTTP/1 parser and rewriter (codec) turn into
// exactly the head an HTTP/1 client's request would give — the same validation, Fly headers
// and routing hints. DATA payload goes up as received (chunk-framed when chunked). Client
// flow control follows the app: the stream's window is consumed only once its bytes were
// written to the app (NGHTTP2_OPT_NO_AUTO_WINDOW_UPDATE), so a slow app slows its own stream.
//
// Response: parsed and rewritten by codec (Fly-Request-Id, Server, overrides), its fields
// lowercased minus connection-specific ones, submitted as HEADERS; the body (content-length,
// chunked — de-chunked here — or close-delimited) is handed to nghttp2 through a data
// provider; the app is not read while kMaxPendingBody bytes wait for the client's window.
//
// Ends: the app's response complete → the app connection is pooled (when clean) and the lease
// released at once; the client closing or resetting the stream first → the app connection is
// reset and the lease released (cancellation reaches the app as a closed connection).
// Owned by its H2Session (deleted after the batch in which nghttp2 closed it); loop thread only.
#pragma once

#include <nghttp2/nghttp2.h>

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "proxy/codec/chunked.h"
#include "proxy/codec/http1.h"
#include "proxy/h2_head.h"
#include "proxy/h2_mem.h"
#include "proxy/worker.h"

namespace privcast::proxy {

class H2Session;
class H2Upstream;

class H2Stream final : public Session, public UpConnOwner {
 public:
  H2Stream(H2Session* conn, int32_t id);
  ~H2Stream() override;
  // From H2Mem's per-thread lists (h2_mem.h): a stream is allocated and freed per request.
  static void* operator new(size_t n) { return H2MemAllocator<char>().allocate(n); }
  static void operator delete(void* p) { H2MemAllocator<char>().deallocate(static_cast<char*>(p), 0); }

  // nghttp2 callbacks, via H2Session.
  void AddHeader(std::string_view name, std::string_view value);
  void OnHead(bool end_stream);
  void OnData(const uint8_t* p, size_t n);
  void OnRequestEnd();
  void OnClosed(uint32_t error_code);  // nghttp2 closed the stream (any reason)
  ssize_t ReadBody(uint8_t* buf, size_t len, uint32_t* flags);
  void Abort() override;  // the connection is going away

  // App side over HTTP/2 (h2_backend): H2Upstream's callbacks.
  void UpHeader(std::string_view name, std::string_view value);
  void UpHeadersDone(bool end_stream);  // the response head, or its trailers
  void UpData(const uint8_t* p, size_t n);
  void UpEnd();
  void UpClosed(uint32_t code, bool connect_error);               // the app's stream is over (detached)
  ssize_t UpReadBody(uint8_t* buf, size_t len, uint32_t* flags);  // request DATA for the app
  // The app's DATA received and not yet given back to its window (the client has not taken
  // it), now forgotten: the app's stream is over, its connection's window gets them back.
  size_t TakeUpUnconsumed() { return std::exchange(up_unconsumed_, 0); }

  void OnRouted(Lease lease) override;
  void OnRouteFailed(int status) override;
  void OnDrain() override {}
  void OnDeadline() override;
  void OnUpstream(uint32_t ev) override;

  int32_t id() const { return id_; }
  H2Stream* prev_s = nullptr;  // H2Session's list
  H2Stream* next_s = nullptr;

  static constexpr size_t kMaxPendingBody = 256 * 1024;  // response bytes waiting for the client
  static constexpr size_t kMaxPendingUp = 64 * 1024;     // request bytes waiting for the app

 private:
  enum class Phase : uint8_t { kHeaders, kRouting, kConnecting, kExchange, kDone };

  void Dispatch();
  const std::vector<nghttp2_nv>& UpFields();  // for an h2 app
  void SendUp();                              // head + body bytes to the app
  void ReadUp();
  bool ProcessResponse();
  bool Replay(std::string_view value);  // the response carries fly-replay (proxy/replay.h)
  void KeepForReplay(size_t n);         // the first n bytes of uout_ were sent: keep them in head_
  void DecodeBody();                    // uin_ → body_ per the response framing
  void FinishUpstream();
  void UpstreamFailed(bool connect_error);
  void DropUp(bool reuse);
  void ReleaseLease();
  void SendError(int status);  // codec::ErrorResponse's head, no body; a reset once HEADERS went out
  using Fields = H2Fields;
  // An HTTP/1 head of ours (writable: its names are lowercased in place) as the HEADERS.
  void Respond(int status, std::span<char> head, bool has_body);
  void ResumeClientData();
  // The app's head (H2Upstream::head_text) → the client's response head (codec rules) in the
  // thread's scratch; false: 502.
  bool RewriteH2Response(std::span<char>* head);
  void Reset(uint32_t code);  // RST_STREAM towards the client
  void ConsumeWindow();
  void Drive();

  H2Session* conn_;
  int32_t id_;
  Phase phase_ = Phase::kHeaders;
  UpConn* up_ = nullptr;
  Lease lease_;
  // Request.
  bool te_trailers_ = false;  // the client sent "te: trailers" (an h2 app gets it too)
  // The rewritten HTTP/1.1 head: sent to an HTTP/1.1 app, kept for a replay; for an h2 app the
  // source of its request fields, which nghttp2 does not copy (UpFields): not to be changed or
  // freed while a HEADERS built from it may be queued (until the app's response starts, or
  // DropUp cancelled the app's stream).
  H2String head_;
  bool chunked_ = false, req_done_ = false, bodyless_ = false;
  size_t head_written_ = 0;
  bool replay_keep_ = false;  // body bytes sent are appended to head_ until the response head (fly-replay)
  Buffer uout_;               // body bytes (chunk-framed when chunked_) not yet written to the app
  size_t unconsumed_ = 0;     // DATA payload not yet given back to the client's window
  codec::Method req_method_ = codec::Method::kGet;
  char req_id_[26];
  int attempts_ = 0;
  bool reused_ = false;
  // Response.
  Buffer uin_, body_;
  codec::ResponseParser resp_parser_;
  codec::ChunkedFramer chunks_;
  codec::Framing resp_framing_ = codec::Framing::kNone;
  uint64_t resp_remaining_ = 0;
  bool resp_started_ = false, resp_head_done_ = false, resp_done_ = false, resp_ka_ = true;
  bool submitted_ = false, deferred_ = false, uin_eof_ = false, closed_ = false;
  // App side over HTTP/2.
  bool h2_ = false;  // the service has h2_backend (decided when the head came)
  H2Upstream* up2_ = nullptr;
  int32_t up2_id_ = 0;
  bool up_deferred_ = false;  // the app's request data provider waits for client DATA
  size_t up_unconsumed_ = 0;  // the app's DATA in body_, not yet given back to its windows
  int resp_status_ = 0;
  static constexpr std::string_view kStatusLine = "HTTP/1.1 000 -\r\n";  // digits set at the end
  Fields trailers_;
};

}  // namespace privcast::proxy
