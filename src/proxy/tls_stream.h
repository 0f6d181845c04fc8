// TlsStream: server-side TLS on one accepted non-blocking socket, driven by a worker's event
// loop. It is the TLS half of ClientTransport (proxy/transport.h).
//
// Ownership: owns its SSL (which holds a reference on its SSL_CTX); does not own the fd.
// OpenSSL reaches the socket only through a BIO of ours (recv, and send with MSG_NOSIGNAL, so a
// vanished peer never raises SIGPIPE) and only inside these methods; nothing here blocks.
// Loop thread only.
//
// Use: Handshake() until kDone (kWantRead/kWantWrite: call again on that readiness); then
// Read/Write behave like recv/send: > 0 bytes, Read 0 = EOF (close_notify, or a TCP EOF
// without one, which curl and browsers commonly send), -1 with errno EAGAIN (not ready) or
// ECONNRESET/EPIPE/EPROTO (dead; the stream is failed from then on).
// OpenSSL's retry rule: after Write returned EAGAIN, the next Write must start with the same
// bytes (they may have moved in memory and more may follow) — the sessions' append-only
// output buffers give exactly that. Renegotiation is refused (SSL_OP_NO_RENEGOTIATION).
#pragma once

#include <openssl/ossl_typ.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/snapshot.h"

namespace privcast::proxy {

class TlsStream {
 public:
  // Server side of `fd` with `ctx`; `port` supplies ALPN and the version range and must
  // outlive the handshake. nullptr when OpenSSL cannot allocate (reason in TakeOpenSslError).
  static std::unique_ptr<TlsStream> New(SSL_CTX* ctx, int fd, const PortSpec& port);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  enum class Step : uint8_t { kDone, kWantRead, kWantWrite, kFailed };
  Step Handshake();
  bool established() const { return established_; }

  ssize_t Read(char* p, size_t n);
  ssize_t Write(const char* p, size_t n);
  // p1 then p2 (each may be empty), like one sendmsg of two iovecs: records until EAGAIN;
  // returns bytes taken (a short p1 shares its record with the start of p2).
  ssize_t Write2(const char* p1, size_t n1, const char* p2, size_t n2);
  // Sends close_notify once, best effort (never after a failure; a full socket drops it).
  void CloseNotify();

  // Read returned EAGAIN because OpenSSL must write first (a TLS 1.3 KeyUpdate answer): retry
  // the read on writability.
  bool read_wants_write() const { return read_wants_write_; }
  // Decrypted or raw bytes are buffered inside OpenSSL (read-ahead): a level-triggered reader
  // must read again without waiting for the socket.
  bool HasBufferedInput() const;
  // Edge-triggered readers may stop: the last socket read came back short or EAGAIN, and
  // OpenSSL holds nothing (nginx's rule, applied below the TLS records).
  bool Drained() const;

  // Why the handshake or the stream failed (for the log line): OpenSSL's reason, e.g.
  // "wrong version number", "tlsv1 alert unknown ca", "no application protocol".
  const std::string& error() const { return error_; }
  std::string_view alpn() const;  // selected protocol, "" when none
  const char* version() const;    // "TLSv1.3", ...

 private:
  TlsStream() = default;
  ssize_t Fail(int ret, bool reading);
  friend struct TlsBio;  // the socket BIO (tls_stream.cc)
  friend int AlpnCallback(SSL*, const unsigned char**, unsigned char*, const unsigned char*, unsigned int, void*);

  SSL* ssl_ = nullptr;
  int fd_ = -1;
  const PortSpec* port_ = nullptr;  // ALPN during the handshake only
  std::string error_;
  bool established_ = false;
  bool failed_ = false;
  bool close_notify_sent_ = false;
  bool read_wants_write_ = false;
  bool socket_drained_ = false;
};

// The ALPN selection of NewServerTlsContext (registered on every context it builds).
int AlpnCallback(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                 unsigned int inlen, void* arg);

}  // namespace privcast::proxy
