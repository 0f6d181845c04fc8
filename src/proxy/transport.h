// ClientTransport: the client side of a session — the accepted socket, plain or TLS (Envoy's
// TransportSocket idea without the virtual call). Internal to privcast_proxy.
//
// Plain: exactly the syscalls the sessions made before TLS existed, behind one predictable
// branch on a null pointer (no virtual call, no copy), so the plain path does not get slower.
// TLS: a TlsStream over the same fd with the same return conventions as recv/send.
// Edge-triggered readers: a short plain read means the socket is drained (nginx's rule); a
// short TLS read does not (a read ends at a record boundary, and read-ahead may hold more), so
// there the rule is applied to the socket reads below OpenSSL — see Drained().
//
// The handshake runs before the session's handler starts (TcpSession: before routing, so a
// failed handshake never wakes a machine; HttpSession: before the first request head).
// ContinueTlsHandshake counts every handshake and failure per app and logs failures, at most
// 5 lines per app per refusal_log_interval, with the app, the client and OpenSSL's reason.
// Loop thread only; the transport belongs to its Session.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <memory>
#include <string_view>

#include "proxy/tls_stream.h"

namespace privcast::proxy {

// One sendmsg of two buffers (either may be empty): bytes written or -1 (errno). With one
// buffer, send(): the kernel then skips copying and checking a msghdr and an iovec array.
// `flags` adds to MSG_NOSIGNAL (MSG_MORE for a connection's last bytes before its close).
inline ssize_t SendV2(int fd, const char* p1, size_t n1, const char* p2, size_t n2, int flags = 0) {
  if (n1 == 0 || n2 == 0) return ::send(fd, n1 ? p1 : p2, n1 ? n1 : n2, MSG_NOSIGNAL | flags);
  iovec iov[2];
  int cnt = 0;
  if (n1) iov[cnt++] = {const_cast<char*>(p1), n1};
  if (n2) iov[cnt++] = {const_cast<char*>(p2), n2};
  msghdr mh{};
  mh.msg_iov = iov;
  mh.msg_iovlen = cnt;
  return ::sendmsg(fd, &mh, MSG_NOSIGNAL | flags);
}

struct ClientTransport {
  int fd = -1;                     // the session's client socket (owned by Session::cfd)
  std::unique_ptr<TlsStream> tls;  // null: plain TCP

  ssize_t Recv(char* p, size_t n) { return tls ? tls->Read(p, n) : ::recv(fd, p, n, 0); }
  ssize_t Send(const char* p, size_t n) { return tls ? tls->Write(p, n) : ::send(fd, p, n, MSG_NOSIGNAL); }
  ssize_t Send2(const char* p1, size_t n1, const char* p2, size_t n2, int flags = 0) {
    return tls ? tls->Write2(p1, n1, p2, n2) : SendV2(fd, p1, n1, p2, n2, flags);
  }
  // After a read of n bytes into `room`: is the socket known drained (edge-triggered readers stop)?
  bool Drained(ssize_t n, size_t room) const { return tls ? tls->Drained() : static_cast<size_t>(n) < room; }
  // Half-close towards the client: close_notify first on TLS, then FIN.
  void ShutdownWrite() {
    if (tls) tls->CloseNotify();
    ::shutdown(fd, SHUT_WR);
  }
  // Before a graceful close (not a reset): close_notify on TLS.
  void CloseNotify() {
    if (tls) tls->CloseNotify();
  }
};

class Session;
class Worker;

enum class TlsProgress : uint8_t { kDone, kWantRead, kWantWrite, kFailed };
// Drives s.io.tls's handshake; a failure is counted and logged (the caller closes).
TlsProgress ContinueTlsHandshake(Session& s);
// The handshake did not finish in time: counted and logged like a failure (the caller closes).
void TlsHandshakeTimedOut(Session& s);
// The TLS side of a connection accepted on a `tls` port of app `app_index` of w.rs(); nullptr
// when the app has no certificate or OpenSSL cannot allocate — then `fd` is closed, the
// failure counted and logged.
std::unique_ptr<TlsStream> AcceptTls(Worker& w, uint32_t app_index, const PortSpec& port, int fd,
                                     const sockaddr_in6& peer);

}  // namespace privcast::proxy
