#include "proxy/transport.h"

#include <unistd.h>

#include <string>

#include "common/log.h"
#include "proxy/proxy_impl.h"
#include "proxy/worker.h"

namespace privcast::proxy {

namespace {

// Counts a failed handshake of app `app_index` and logs it, at most 5 lines per app per
// refusal_log_interval (a scanner must not flood the log).
void CountFailure(Worker& w, const RoutingState& rs, uint32_t app_index, const sockaddr_in6& peer,
                  std::string_view reason) {
  AppState& as = *rs.apps[app_index];
  as.tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
  if (as.TakeTlsFailureLogLine(w.NowNs(), w.opts().refusal_log_interval.count()))
    log::Warn("proxy", "tls handshake failed", {{"app", as.name}, {"client", PeerIp(peer)}, {"reason", reason}});
}

}  // namespace

TlsProgress ContinueTlsHandshake(Session& s) {
  switch (s.io.tls->Handshake()) {
    case TlsStream::Step::kDone:
      s.rs->apps[s.app_index]->tls_handshakes.fetch_add(1, std::memory_order_relaxed);
      return TlsProgress::kDone;
    case TlsStream::Step::kWantRead:
      return TlsProgress::kWantRead;
    case TlsStream::Step::kWantWrite:
      return TlsProgress::kWantWrite;
    case TlsStream::Step::kFailed:
      break;
  }
  CountFailure(*s.w, *s.rs, s.app_index, s.peer, s.io.tls->error());
  return TlsProgress::kFailed;
}

void TlsHandshakeTimedOut(Session& s) { CountFailure(*s.w, *s.rs, s.app_index, s.peer, "handshake timeout"); }

std::unique_ptr<TlsStream> AcceptTls(Worker& w, uint32_t app_index, const PortSpec& port, int fd,
                                     const sockaddr_in6& peer) {
  const RoutingState& rs = *w.rs();
  SSL_CTX* ctx = app_index < rs.tls.size() ? rs.tls[app_index].get() : nullptr;
  std::unique_ptr<TlsStream> t;
  if (ctx) t = TlsStream::New(ctx, fd, port);
  if (t) return t;
  CountFailure(w, rs, app_index, peer, ctx ? "cannot allocate: " + TakeOpenSslError() : "no certificate for the app");
  ::close(fd);
  return nullptr;
}

}  // namespace privcast::proxy
