#include "proxy/tcp_session.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proxy/codec/proxy_protocol.h"

namespace privcast::proxy {

TcpSession::~TcpSession() {
  c2u_.buf.Release(w->pool());
  u2c_.buf.Release(w->pool());
}

void TcpSession::Start() {
  cend_.s = uend_.s = this;
  uend_.upstream = true;
  c2u_.from_client = true;
  splice_ = w->opts().splice && !io.tls;
  if (io.tls) {
    state_ = State::kHandshake;
    cmask_ = EPOLLIN;
    w->loop().Add(cfd.get(), cmask_, &cend_);
    SetDeadline(w->loop().Now() + w->opts().tls_handshake_timeout);
    return ContinueHandshake();
  }
  // Nothing is read from the client until a machine is connected: its bytes wait in the
  // kernel. Register with no events so a reset (EPOLLERR/EPOLLHUP) still ends the session.
  w->loop().Add(cfd.get(), 0, &cend_);
  w->Route(this);
}

void TcpSession::OnRouted(Lease lease) {
  lease_ = std::move(lease);
  lease_.st->connections_total.fetch_add(1, std::memory_order_relaxed);
  ++attempts_;
  int err = 0;
  int fd = ConnectUpstream(lease_.up(), lease_.port, &err);
  if (fd < 0) return ConnectFailed(err);
  ufd_.reset(fd);
  state_ = State::kConnecting;
  umask_ = EPOLLOUT;
  w->loop().Add(fd, umask_, &uend_);
  SetDeadline(w->loop().Now() + w->ConnectTimeout(lease_));
}

void TcpSession::ConnectFailed(int err) {
  w->ConnectFailed(lease_, err);
  tried.push_back(lease_.st.get());
  if (ufd_) {
    w->loop().Del(ufd_.get());
    ufd_.reset();
  }
  w->Release(lease_, rs->snap->apps[app_index].name);
  state_ = State::kRouting;
  ClearDeadline();
  if (attempts_ < w->opts().max_attempts) {
    w->retries.fetch_add(1, std::memory_order_relaxed);
    w->Route(this);
  } else {
    Finish(false);
  }
}

void TcpSession::OnRouteFailed(int) { Finish(false); }

void TcpSession::Abort() { Finish(true); }

void TcpSession::ContinueHandshake() {
  uint32_t want = 0;
  switch (ContinueTlsHandshake(*this)) {
    case TlsProgress::kDone:
      ClearDeadline();
      state_ = State::kRouting;
      cmask_ = 0;  // as for plain TCP: the client's bytes wait (in the kernel or OpenSSL) until connected
      w->loop().Modify(cfd.get(), cmask_, &cend_);
      return w->Route(this);
    case TlsProgress::kWantRead:
      want = EPOLLIN;
      break;
    case TlsProgress::kWantWrite:
      want = EPOLLOUT;
      break;
    case TlsProgress::kFailed:
      return Finish(false);
  }
  if (want != cmask_) {
    cmask_ = want;
    w->loop().Modify(cfd.get(), cmask_, &cend_);
  }
}

void TcpSession::OnDeadline() {
  if (state_ == State::kHandshake) {
    TlsHandshakeTimedOut(*this);
    return Finish(false);
  }
  if (state_ == State::kConnecting) return ConnectFailed(ETIMEDOUT);
  if (waiting) {  // queue timeout: TCP gets a close
    w->CancelWait(this);
    rs->apps[app_index]->queue_timeouts.fetch_add(1, std::memory_order_relaxed);
    return Finish(false);
  }
}

void TcpSession::Connected() {
  ClearDeadline();
  state_ = State::kRelay;
  if (port->proxy_proto) {
    sockaddr_storage client{}, dest{};
    std::memcpy(&client, &peer, sizeof peer);
    std::memcpy(&dest, &local, sizeof local);
    char hdr[codec::kProxyV1MaxLen + codec::kProxyV2MaxWriteLen];
    size_t n = port->proxy_proto_version == 2 ? codec::WriteProxyV2(client, dest, hdr)
                                              : codec::WriteProxyV1(client, dest, hdr);
    // A fresh connection's send buffer always takes a ~100-byte header whole.
    if (n == 0 || ::send(ufd_.get(), hdr, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) return Finish(true);
  }
  if (splice_) {
    if (!w->TakePipe(c2u_.pipe)) splice_ = false;
    else if (!w->TakePipe(u2c_.pipe)) {
      w->PutPipe(c2u_.pipe);
      c2u_.pipe[0] = c2u_.pipe[1] = -1;
      splice_ = false;
    }
  }
  if (!Pump(c2u_, cfd.get(), ufd_.get()) || !Pump(u2c_, ufd_.get(), cfd.get())) return Finish(true);
  UpdateInterest();
}

bool TcpSession::Pump(Dir& d, int src, int dst) {
  // TLS: bytes OpenSSL already holds raise no epoll event, so read them before giving up the turn.
  auto more_buffered = [&] { return d.from_client && io.tls && !d.src_eof && io.tls->HasBufferedInput(); };
  for (int round = 0; round < 16 || more_buffered(); ++round) {
    if (splice_) {
      if (d.pending) {
        ssize_t n = ::splice(d.pipe[0], nullptr, dst, nullptr, d.pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0) {
          if (errno == EAGAIN) {
            d.blocked = true;
            return true;
          }
          return false;
        }
        d.blocked = false;
        d.pending -= static_cast<size_t>(n);
        if (d.pending) continue;
      }
      if (d.src_eof) break;
      ssize_t n = ::splice(src, nullptr, d.pipe[1], nullptr, 1 << 20, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n == 0) {
        d.src_eof = true;
        break;
      }
      if (n < 0) {
        if (errno == EAGAIN) break;
        return false;
      }
      d.pending += static_cast<size_t>(n);
    } else {
      if (!d.buf.empty()) {
        ssize_t n = d.from_client ? ::send(dst, d.buf.data(), d.buf.size(), MSG_NOSIGNAL)
                                  : io.Send(d.buf.data(), d.buf.size());
        if (n < 0) {
          if (errno == EAGAIN) {
            d.blocked = true;
            return true;
          }
          return false;
        }
        d.blocked = false;
        d.buf.Consume(static_cast<size_t>(n));
        if (!d.buf.empty()) continue;
      }
      if (d.src_eof) break;
      d.buf.Ensure(w->pool());
      ssize_t n = d.from_client ? io.Recv(d.buf.tail(), d.buf.tail_room())
                                : ::recv(src, d.buf.tail(), d.buf.tail_room(), 0);
      if (n == 0) {
        d.src_eof = true;
        break;
      }
      if (n < 0) {
        if (errno == EAGAIN) break;
        return false;
      }
      d.buf.Commit(static_cast<size_t>(n));
    }
  }
  if (!splice_) d.buf.ReleaseIfEmpty(w->pool());
  size_t left = splice_ ? d.pending : d.buf.size();
  if (d.src_eof && left == 0 && !d.shut) {
    if (d.from_client) ::shutdown(dst, SHUT_WR);
    else io.ShutdownWrite();
    d.shut = true;
  }
  return true;
}

void TcpSession::UpdateInterest() {
  if (c2u_.shut && u2c_.shut) return Finish(false);
  auto left = [&](Dir& d) { return splice_ ? d.pending : d.buf.size(); };
  uint32_t cm = 0, um = 0;
  if (!c2u_.src_eof && left(c2u_) == 0) cm |= EPOLLIN;
  if (left(u2c_) > 0 || (io.tls && io.tls->read_wants_write())) cm |= EPOLLOUT;
  if (!u2c_.src_eof && left(u2c_) == 0) um |= EPOLLIN;
  if (left(c2u_) > 0) um |= EPOLLOUT;
  if (cm != cmask_) {
    w->loop().Modify(cfd.get(), cm, &cend_);
    cmask_ = cm;
  }
  if (um != umask_) {
    w->loop().Modify(ufd_.get(), um, &uend_);
    umask_ = um;
  }
}

void TcpSession::OnEvents(bool upstream, uint32_t ev) {
  if (dead) return;
  if (state_ == State::kHandshake) {
    if (!upstream) ContinueHandshake();
    return;
  }
  if (state_ == State::kRouting) {
    // Only errors are reported while routing: the client went away.
    if (!upstream && (ev & (EPOLLERR | EPOLLHUP))) Finish(false);
    return;
  }
  if (state_ == State::kConnecting) {
    if (!upstream) {
      if (ev & (EPOLLERR | EPOLLHUP)) Finish(true);
      return;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(ufd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) return ConnectFailed(err ? err : ECONNREFUSED);
    return Connected();
  }
  bool ok = true;
  if (!upstream) {
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) ok = Pump(c2u_, cfd.get(), ufd_.get());
    if (ok && (ev & (EPOLLOUT | EPOLLERR))) ok = Pump(u2c_, ufd_.get(), cfd.get());
    if (ok && (ev & EPOLLOUT) && io.tls && io.tls->read_wants_write()) ok = Pump(c2u_, cfd.get(), ufd_.get());
  } else {
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) ok = Pump(u2c_, ufd_.get(), cfd.get());
    if (ok && (ev & (EPOLLOUT | EPOLLERR))) ok = Pump(c2u_, cfd.get(), ufd_.get());
  }
  if (!ok) return Finish(true);
  UpdateInterest();
}

void TcpSession::Finish(bool reset) {
  if (dead) return;
  if (waiting) w->CancelWait(this);
  // EPOLL_CTL_DEL before close: a forked child may still hold the sockets (see HttpSession).
  w->loop().Del(cfd.get());
  if (reset) {
    ResetClose(cfd.release());
  } else {
    io.CloseNotify();
    cfd.reset();
  }
  if (ufd_) {
    w->loop().Del(ufd_.get());
    if (reset) ResetClose(ufd_.release());
    else ufd_.reset();
  }
  for (Dir* d : {&c2u_, &u2c_}) {
    if (d->pipe[0] >= 0) {
      if (d->pending == 0) w->PutPipe(d->pipe);
      else {
        ::close(d->pipe[0]);
        ::close(d->pipe[1]);
      }
      d->pipe[0] = d->pipe[1] = -1;
    }
  }
  if (lease_.valid()) w->Release(lease_, rs->snap->apps[app_index].name);
  w->Unregister(this);
}

}  // namespace privcast::proxy
