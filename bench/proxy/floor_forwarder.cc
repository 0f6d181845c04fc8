// floor_forwarder: the cheapest possible keep-alive proxy, as a yardstick for the kernel's share.
//
// It accepts TCP connections, opens one app connection per client connection, and copies bytes
// both ways without looking at them: no parsing, no headers, no routing, no timers. Whatever CPU
// it spends per request is what the kernel charges any user-space proxy on a readiness or
// completion loop in this topology, so bench/proxy/run.sh (FLOOR=1) runs it beside privcast and
// HAProxy to show how far from the floor each one is.
//
//   floor_forwarder epoll|epoll-defer|epoll-usend|uring LISTEN_V6 PORT BACKEND_V4 BACKEND_PORT
//
// epoll:       one edge-triggered registration per socket, recv then send (privcast's shape
//              before ADR 0006).
// epoll-defer: the same, but the sends of one epoll batch are made after the batch, one send()
//              each (does not help: every send is still a syscall exit after a wakeup).
// epoll-usend: the same, but the sends of one epoll batch go out in one io_uring_enter (the
//              shape of ADR 0006).
// uring:       io_uring only: multishot accept and multishot recv into a provided-buffer ring,
//              sends issued from the completion loop, DEFER_TASKRUN (one io_uring_enter per turn).
// run.sh FLOOR=1 runs epoll (:83) and uring (:84); the other two are started by hand for A/B.
// Single-threaded, no error recovery beyond closing the pair: a bench tool, never a product path.
#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

sockaddr_in g_backend{};

[[noreturn]] void Die(const char* what) {
  std::perror(what);
  std::exit(1);
}

int Listen(const char* addr, int port) {
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) Die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  if (inet_pton(AF_INET6, addr, &sa.sin6_addr) != 1) Die("listen address");
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) Die("bind");
  if (listen(fd, 4096) < 0) Die("listen");
  return fd;
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// ---------------------------------------------------------------- epoll

struct Side {
  int fd = -1;
  Side* peer = nullptr;
  std::string pending;  // bytes for this socket that send() did not take yet
  bool closed = false;
  bool queued = false;  // on g_flush (deferred modes)
};

// Deferred modes: sends of one epoll batch are collected and issued after the batch, by send()
// (epoll-defer) or by one io_uring_enter for all of them (epoll-usend).
enum class SendMode { kNow, kDefer, kUring };
SendMode g_send_mode = SendMode::kNow;
std::vector<Side*> g_flush;
io_uring g_send_ring;

void Close(int ep, Side* s) {
  Side* p = s->peer;
  for (Side* x : {s, p}) {
    if (x->closed) continue;
    x->closed = true;
    epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, nullptr);
    close(x->fd);
  }
  // Leaked on purpose: a freed Side could still be named by a later event of this batch, and
  // the tool runs for seconds.
}

void SendTo(int ep, Side* to, const char* data, size_t n) {
  if (g_send_mode != SendMode::kNow) {
    to->pending.append(data, n);
    if (!to->queued) to->queued = true, g_flush.push_back(to);
    return;
  }
  if (to->pending.empty()) {
    ssize_t w = send(to->fd, data, n, MSG_NOSIGNAL);
    if (w == static_cast<ssize_t>(n)) return;
    if (w < 0 && errno != EAGAIN) return Close(ep, to);
    if (w > 0) data += w, n -= w;
  }
  to->pending.append(data, n);
}

void Flush(int ep, Side* s) {
  if (s->pending.empty()) return;
  ssize_t w = send(s->fd, s->pending.data(), s->pending.size(), MSG_NOSIGNAL);
  if (w < 0) {
    if (errno != EAGAIN) Close(ep, s);
    return;
  }
  s->pending.erase(0, w);
}

void FlushBatch(int ep) {
  if (g_send_mode == SendMode::kUring) {
    unsigned n = 0;
    for (Side* s : g_flush) {
      if (s->closed || s->pending.empty()) continue;
      io_uring_sqe* q = io_uring_get_sqe(&g_send_ring);
      io_uring_prep_send(q, s->fd, s->pending.data(), s->pending.size(), MSG_NOSIGNAL);
      io_uring_sqe_set_data(q, s);
      ++n;
    }
    // Small sends complete inline; waiting for all n keeps `pending` alive until then.
    if (n > 0) io_uring_submit_and_wait(&g_send_ring, n);
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&g_send_ring, head, cqe) {
      ++seen;
      auto* s = static_cast<Side*>(io_uring_cqe_get_data(cqe));
      if (cqe->res < 0) Close(ep, s);
      else s->pending.erase(0, cqe->res);
    }
    io_uring_cq_advance(&g_send_ring, seen);
  } else {
    for (Side* s : g_flush)
      if (!s->closed) Flush(ep, s);
  }
  for (Side* s : g_flush) s->queued = false;
  g_flush.clear();
}

int RunEpoll(int lfd) {
  if (g_send_mode == SendMode::kUring && io_uring_queue_init(1024, &g_send_ring, IORING_SETUP_SINGLE_ISSUER) < 0) {
    Die("io_uring_queue_init");
  }
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  static char buf[16384];
  epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      auto* s = static_cast<Side*>(evs[i].data.ptr);
      if (s == nullptr) {
        for (;;) {
          int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
          if (c < 0) break;
          int u = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
          NoDelay(c);
          NoDelay(u);
          connect(u, reinterpret_cast<sockaddr*>(&g_backend), sizeof g_backend);
          auto* a = new Side{c};
          auto* b = new Side{u};
          a->peer = b;
          b->peer = a;
          for (Side* x : {a, b}) {
            epoll_event e{};
            e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
            e.data.ptr = x;
            epoll_ctl(ep, EPOLL_CTL_ADD, x->fd, &e);
          }
        }
        continue;
      }
      if (s->closed) continue;
      if (evs[i].events & EPOLLOUT) Flush(ep, s);
      if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
        for (;;) {
          ssize_t r = recv(s->fd, buf, sizeof buf, 0);
          if (r <= 0) {
            if (r == 0 || errno != EAGAIN) Close(ep, s);
            break;
          }
          SendTo(ep, s->peer, buf, r);
          if (s->closed || static_cast<size_t>(r) < sizeof buf) break;  // short read: drained
        }
      }
    }
    if (!g_flush.empty()) FlushBatch(ep);
  }
}

// ---------------------------------------------------------------- io_uring

constexpr unsigned kBufs = 4096;
constexpr unsigned kBufSize = 4096;
enum Op : uint64_t { kAccept = 1, kConnect = 2, kRecv = 3, kSend = 4 };

// user_data: op (8 bits) | buffer id (16 bits) | fd (32 bits)
uint64_t Tag(Op op, int fd, unsigned bid = 0) {
  return (uint64_t{op} << 56) | (uint64_t{bid} << 32) | static_cast<uint32_t>(fd);
}

struct Uring {
  io_uring ring{};
  io_uring_buf_ring* br = nullptr;
  char* bufs = nullptr;
  std::vector<int> peer;  // peer[fd] = the other socket of the pair, -1 when closed

  io_uring_sqe* Sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (s == nullptr) {
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;
  }
  void Recv(int fd) {
    io_uring_sqe* s = Sqe();
    io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = 0;
    io_uring_sqe_set_data64(s, Tag(kRecv, fd));
  }
  void Recycle(unsigned bid) {
    io_uring_buf_ring_add(br, bufs + size_t{bid} * kBufSize, kBufSize, bid, io_uring_buf_ring_mask(kBufs), 0);
    io_uring_buf_ring_advance(br, 1);
  }
  void ClosePair(int fd) {
    int p = peer[fd];
    if (p < 0) return;
    peer[fd] = -1;
    peer[p] = -1;
    io_uring_submit(&ring);  // sends queued this turn go out before the shutdown
    shutdown(fd, SHUT_RDWR);
    shutdown(p, SHUT_RDWR);
    // The fds are closed once their multishot recv has ended (see the kRecv case).
  }
};

int RunUring(int lfd) {
  Uring u;
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (int r = io_uring_queue_init_params(4096, &u.ring, &p); r < 0) {
    errno = -r;
    Die("io_uring_queue_init_params");
  }
  // liburing 2.3 (Debian 12) has no io_uring_setup_buf_ring: register the ring by hand.
  u.br = static_cast<io_uring_buf_ring*>(std::aligned_alloc(4096, kBufs * sizeof(io_uring_buf)));
  io_uring_buf_ring_init(u.br);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(u.br);
  reg.ring_entries = kBufs;
  reg.bgid = 0;
  if (int r = io_uring_register_buf_ring(&u.ring, &reg, 0); r < 0) {
    errno = -r;
    Die("io_uring_register_buf_ring");
  }
  u.bufs = static_cast<char*>(std::aligned_alloc(4096, size_t{kBufs} * kBufSize));
  for (unsigned i = 0; i < kBufs; ++i) u.Recycle(i);
  u.peer.assign(1 << 20, -1);

  auto arm_accept = [&] {
    io_uring_sqe* s = u.Sqe();
    io_uring_prep_multishot_accept(s, lfd, nullptr, nullptr, 0);
    io_uring_sqe_set_data64(s, Tag(kAccept, lfd));
  };
  arm_accept();
  for (;;) {
    io_uring_submit_and_wait(&u.ring, 1);
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&u.ring, head, cqe) {
      ++seen;
      uint64_t tag = cqe->user_data;
      auto op = static_cast<Op>(tag >> 56);
      int fd = static_cast<int>(tag & 0xffffffff);
      int res = cqe->res;
      switch (op) {
        case kAccept: {
          if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
          if (res < 0) break;
          int up = socket(AF_INET, SOCK_STREAM, 0);
          NoDelay(res);
          NoDelay(up);
          u.peer[res] = up;
          u.peer[up] = res;
          io_uring_sqe* s = u.Sqe();
          io_uring_prep_connect(s, up, reinterpret_cast<sockaddr*>(&g_backend), sizeof g_backend);
          io_uring_sqe_set_data64(s, Tag(kConnect, up));
          break;
        }
        case kConnect:
          if (res < 0) {
            int c = u.peer[fd];
            u.ClosePair(fd);
            close(fd);
            if (c >= 0) close(c);
            break;
          }
          u.Recv(fd);
          u.Recv(u.peer[fd]);
          break;
        case kRecv: {
          bool more = cqe->flags & IORING_CQE_F_MORE;
          if (res > 0) {
            unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
            int to = u.peer[fd];
            if (to < 0) {
              u.Recycle(bid);
            } else {
              io_uring_sqe* s = u.Sqe();
              io_uring_prep_send(s, to, u.bufs + size_t{bid} * kBufSize, res, MSG_NOSIGNAL);
              io_uring_sqe_set_data64(s, Tag(kSend, to, bid));
            }
          } else if (res == 0 || (res < 0 && res != -ENOBUFS)) {
            u.ClosePair(fd);
          }
          if (!more) {
            if (u.peer[fd] >= 0) {
              u.Recv(fd);  // ran out of buffers: arm again
            } else {
              close(fd);  // its pair is gone and its last recv has ended
            }
          }
          break;
        }
        case kSend:
          // A short send is not retried: the responses here are ~200 bytes, far below a socket
          // buffer, and the tool reports no result it did not serve (wrk counts errors).
          u.Recycle(static_cast<unsigned>((tag >> 32) & 0xffff));
          if (res < 0) u.ClosePair(fd);
          break;
      }
    }
    io_uring_cq_advance(&u.ring, seen);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s epoll|epoll-defer|epoll-usend|uring LISTEN_V6 PORT BACKEND_V4 BACKEND_PORT\n",
                 argv[0]);
    return 2;
  }
  g_backend.sin_family = AF_INET;
  g_backend.sin_port = htons(std::atoi(argv[5]));
  if (inet_pton(AF_INET, argv[4], &g_backend.sin_addr) != 1) Die("backend address");
  int lfd = Listen(argv[2], std::atoi(argv[3]));
  if (std::strcmp(argv[1], "epoll") == 0) return RunEpoll(lfd);
  if (std::strcmp(argv[1], "epoll-defer") == 0) return g_send_mode = SendMode::kDefer, RunEpoll(lfd);
  if (std::strcmp(argv[1], "epoll-usend") == 0) return g_send_mode = SendMode::kUring, RunEpoll(lfd);
  if (std::strcmp(argv[1], "uring") == 0) return RunUring(lfd);
  std::fprintf(stderr, "mode must be epoll or uring\n");
  return 2;
}
