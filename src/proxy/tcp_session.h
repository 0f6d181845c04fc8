// TcpSession: the raw TCP handler (no handlers) and the proxy_proto handler.
//
// One client connection ↔ one connection to the machine's link_v4:internal_port. Bytes move
// with splice() through a pipe per direction (zero-copy; pipes are pooled per worker), or
// read/write through a pool buffer when splice is off. Half-close is honoured: EOF from one
// side becomes shutdown(SHUT_WR) on the other once everything before it was delivered; the
// session ends when both directions are shut. A reset on one side resets the other.
// A connect failure (before the app saw a byte) is retried on another machine (max_attempts).
// Load: one unit for the connection's lifetime (both concurrency types).
// TLS (`tls` on the port): the handshake completes before routing (a failed one never wakes a
// machine), then the client side is read and written through the TlsStream (transport.h) and
// the relay copies through pool buffers (no splice: the bytes must pass through OpenSSL).
// Owned by its Worker; loop thread only.
#pragma once

#include "proxy/worker.h"

namespace privcast::proxy {

class TcpSession final : public Session {
 public:
  using Session::Session;
  ~TcpSession() override;

  void Start() override;
  void OnRouted(Lease lease) override;
  void OnRouteFailed(int status) override;
  void Abort() override;
  void OnDrain() override {}  // raw TCP has no message boundary: let it finish until the deadline
  void OnDeadline() override;

 private:
  struct End final : EventHandler {
    TcpSession* s;
    bool upstream;
    void OnEvents(uint32_t ev) override { s->OnEvents(upstream, ev); }
  };
  struct Dir {
    bool from_client = false;
    int pipe[2] = {-1, -1};
    Buffer buf;          // when not splicing
    size_t pending = 0;  // bytes in the pipe
    bool src_eof = false;
    bool shut = false;
    bool blocked = false;  // dst returned EAGAIN
  };
  void OnEvents(bool upstream, uint32_t ev);
  void ContinueHandshake();
  void Connected();
  void ConnectFailed(int err);
  // Moves bytes src → dst. Returns false on a fatal error.
  bool Pump(Dir& d, int src, int dst);
  void UpdateInterest();
  void Finish(bool reset);

  enum class State { kHandshake, kRouting, kConnecting, kRelay } state_ = State::kRouting;
  End cend_{}, uend_{};
  UniqueFd ufd_;
  Lease lease_;
  int attempts_ = 0;
  Dir c2u_, u2c_;
  uint32_t cmask_ = 0, umask_ = 0;
  bool splice_ = true;
};

}  // namespace privcast::proxy
