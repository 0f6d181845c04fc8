#include "cli/forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>

namespace privcast::cli {
namespace {

std::optional<uint16_t> ParsePort(std::string_view s) {
  unsigned v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

// Numeric host → sockaddr. "localhost" means 127.0.0.1.
bool ToSockaddr(const std::string& host, uint16_t port, sockaddr_storage* ss, socklen_t* len) {
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  std::memset(ss, 0, sizeof *ss);
  auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (::inet_pton(AF_INET, h.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    *len = sizeof *s4;
    return true;
  }
  if (::inet_pton(AF_INET6, h.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    *len = sizeof *s6;
    return true;
  }
  return false;
}

}  // namespace

Result<PortPair> ParsePortPair(std::string_view spec) {
  size_t colon = spec.find(':');
  auto local = ParsePort(spec.substr(0, colon));
  if (!local) return InvalidArgument("'" + std::string(spec) + "' is not LOCAL[:REMOTE] (ports 0-65535)");
  PortPair p{*local, *local};
  if (colon != std::string_view::npos) {
    auto remote = ParsePort(spec.substr(colon + 1));
    if (!remote || *remote == 0)
      return InvalidArgument("'" + std::string(spec) + "' is not LOCAL[:REMOTE] (REMOTE is 1-65535)");
    p.remote = *remote;
  }
  if (p.remote == 0) return InvalidArgument("give the remote port: LOCAL:REMOTE");
  return p;
}

Status Forwarder::Start(const std::string& bind_host, uint16_t local_port, const std::string& target_host,
                        uint16_t remote_port) {
  sockaddr_storage ss;
  socklen_t len;
  if (!ToSockaddr(bind_host, local_port, &ss, &len))
    return InvalidArgument("bind address '" + bind_host + "' is not a numeric IP address");
  sockaddr_storage probe;
  socklen_t plen;
  if (!ToSockaddr(target_host, remote_port, &probe, &plen))
    return InvalidArgument("target '" + target_host + "' is not a numeric IP address");
  UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0)
    return ErrnoStatus("cannot listen on " + bind_host + ":" + std::to_string(local_port), errno);
  if (::listen(fd.get(), 128) < 0) return ErrnoStatus("listen", errno);
  sockaddr_storage got;
  socklen_t glen = sizeof got;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&got), &glen);
  local_port_ = ntohs(got.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&got)->sin_port
                                               : reinterpret_cast<sockaddr_in6*>(&got)->sin6_port);
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  listen_fd_ = std::move(fd);
  target_host_ = target_host;
  remote_port_ = remote_port;
  stop_ = false;
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return Status::Ok();
}

void Forwarder::Stop() {
  if (!accept_thread_.joinable()) return;
  stop_ = true;
  uint64_t one = 1;
  (void)!::write(wake_fd_.get(), &one, sizeof one);
  accept_thread_.join();
  std::vector<std::thread> relays;
  {
    MutexLock l(&mu_);
    relays.swap(relays_);
  }
  for (auto& t : relays) t.join();
  listen_fd_.reset();
}

void Forwarder::AcceptLoop() {
  for (;;) {
    pollfd p[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno == EINTR) continue;
    if (stop_) return;
    if (!(p[0].revents & POLLIN)) continue;
    UniqueFd client(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.valid()) continue;
    sockaddr_storage ss;
    socklen_t len;
    ToSockaddr(target_host_, remote_port_, &ss, &len);
    UniqueFd up(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!up.valid() || ::connect(up.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0) {
      std::fprintf(stderr, "proxy: connecting to [%s]:%u failed: %s\n", target_host_.c_str(), remote_port_,
                   std::strerror(errno));
      continue;  // closing the client tells it
    }
    MutexLock l(&mu_);
    relays_.emplace_back(&Forwarder::Relay, std::move(client), std::move(up), &stop_);
  }
}

void Forwarder::Relay(UniqueFd a, UniqueFd b, const std::atomic<bool>* stop) {
  // Two directions; each ends with a half-close of its destination once its source is done.
  bool open_ab = true, open_ba = true;
  char buf[65536];
  while ((open_ab || open_ba) && !stop->load()) {
    pollfd p[2] = {{a.get(), static_cast<short>(open_ab ? POLLIN : 0), 0},
                   {b.get(), static_cast<short>(open_ba ? POLLIN : 0), 0}};
    int n = ::poll(p, 2, 200);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    for (int i = 0; i < 2; ++i) {
      bool& open = i == 0 ? open_ab : open_ba;
      int src = i == 0 ? a.get() : b.get();
      int dst = i == 0 ? b.get() : a.get();
      if (!open || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = ::read(src, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        open = false;
        ::shutdown(dst, SHUT_WR);
        if (r < 0) return;
        continue;
      }
      size_t off = 0;
      while (off < static_cast<size_t>(r)) {
        ssize_t w = ::send(dst, buf + off, static_cast<size_t>(r) - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += static_cast<size_t>(w);
      }
    }
  }
}

}  // namespace privcast::cli
