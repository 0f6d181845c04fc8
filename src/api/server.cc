#include "api/server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>
#include <unordered_map>

#include "api/codec.h"
#include "api/routes.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/mutex.h"

namespace privcast::api {
namespace {

constexpr const char* kComp = "api";

// A request carries at most this many descriptors (machine run --shell: stdin, stdout,
// stderr and, with a tty, the resize pipe). recvmsg's control buffer holds no more: the
// kernel closes any extra ones at once (MSG_CTRUNC), and the request is refused.
constexpr size_t kMaxRequestFds = 4;

constexpr const char* kFdsRefused =
    "file descriptors (SCM_RIGHTS) are accepted only by POST /v1/apps/{app}/machines/run with "
    "\"shell\": true, at most 4, on the first bytes of the request";

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

class Server::Impl {
 public:
  Impl(store::Registry* registry, Backend* backend, ServerOptions opts)
      : opts_(std::move(opts)), routes_(registry, backend, &opts_) {
    PC_CHECK(opts_.clock != nullptr);
  }

  ~Impl() { Stop(); }

  Status Start();
  void Stop();

 private:
  // One accepted connection (in conns_, under mu_). A connection is "waiting" while it has no
  // request being handled (idle keep-alive, or a request still arriving): only waiting
  // connections may be evicted to make room for a new one (Admit).
  struct Conn {
    int fd = -1;
    uid_t uid = 0;
    bool privileged = false;  // root or the daemon's own uid: may use the reserved slots
    bool busy = false;
    bool evicted = false;  // shut down to make room; no longer counted
    MonoTime waiting_since{};
    // An eventfd the clock's watch writes when the clock jumps (a FakeClock), so a read that
    // waits for a deadline looks at the clock again; -1 with a clock that never jumps.
    int kick_fd = -1;
  };

  class Watch final : public ClientWatch {
   public:
    Watch(int fd, const std::atomic<bool>* stopping) : fd_(fd), stopping_(stopping) {}
    bool Gone() const override {
      if (stopping_->load()) return true;
      struct pollfd p {
        fd_, POLLIN | POLLRDHUP, 0
      };
      int n = ::poll(&p, 1, 0);
      if (n <= 0) return false;
      if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
      char c;
      ssize_t r = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      return r == 0;
    }
    int fd() const override { return fd_; }

   private:
    int fd_;
    const std::atomic<bool>* stopping_;
  };

  class Ex final : public Exchange {
   public:
    Ex(int fd, bool keep_alive, std::vector<UniqueFd>* fds, const Watch* watch)
        : fd_(fd), keep_alive_(keep_alive), fds_(fds), watch_(watch) {}
    using Exchange::Respond;
    void Respond(int status, std::string_view ct, std::string_view body, const http::Headers& extra) override {
      if (responded_) return;
      responded_ = true;
      if (!WriteAll(fd_, http::SerializeResponse(status, ct, body, keep_alive_, extra))) broken_ = true;
    }
    bool BeginStream(int status, std::string_view ct) override {
      if (responded_) return false;
      responded_ = true;
      streaming_ = true;
      if (!WriteAll(fd_, http::SerializeChunkedHead(status, ct))) broken_ = true;
      return !broken_;
    }
    bool WriteChunk(std::string_view data) override {
      if (!streaming_ || broken_) return false;
      if (data.empty()) return true;
      if (!WriteAll(fd_, http::EncodeChunk(data))) broken_ = true;
      return !broken_;
    }
    void EndStream() override {
      if (!streaming_ || broken_ || ended_) return;
      ended_ = true;
      if (!WriteAll(fd_, "0\r\n\r\n")) broken_ = true;
    }
    std::vector<UniqueFd> TakeFds() override { return std::move(*fds_); }
    const ClientWatch& watch() const override { return *watch_; }
    int64_t peer_uid() const override {
      struct ucred cred {};
      socklen_t len = sizeof cred;
      return ::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.uid : -1;
    }

    // Whether the connection can carry another request.
    bool reusable() const { return keep_alive_ && responded_ && !broken_ && (!streaming_ || ended_); }
    bool responded() const { return responded_; }

   private:
    int fd_;
    bool keep_alive_;
    std::vector<UniqueFd>* fds_;
    const Watch* watch_;
    bool responded_ = false, streaming_ = false, ended_ = false, broken_ = false;
  };

  void AcceptLoop();
  void Serve(uint64_t id, int fd, int kick_fd);
  // The clock moved other than by real time passing: every connection reads it again.
  void KickAll() EXCLUDES(mu_);
  // Admits a connection of `uid` (mu_ held), evicting the longest-waiting connection of
  // that uid (or, for root and the daemon's uid, of anyone) when a limit is reached.
  // Returns "" when admitted, else why not.
  std::string Admit(uid_t uid, bool privileged) REQUIRES(mu_);
  // Marks the connection busy (a request is being handled) or waiting again. false: it was
  // evicted meanwhile (then the request is dropped).
  bool SetBusy(uint64_t id, bool busy) EXCLUDES(mu_);
  // Reads more bytes into *buf until `deadline` (on the clock; a write to kick_fd makes it
  // look again), collecting passed fds when `fds_allowed` (else any that arrive are closed at
  // once and *fd_violation is set).
  // 1: got data, 0: EOF/stop, -1: deadline, -2: error.
  int ReadSome(int fd, int kick_fd, std::string* buf, std::vector<UniqueFd>* fds, bool fds_allowed, MonoTime deadline,
               bool* fd_violation);

  ServerOptions opts_;
  Clock* const clock_ = opts_.clock;
  uint64_t watch_ = 0;  // clock_->Watch handle; 0: the clock never jumps (RealClock)
  Routes routes_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: wakes the accept loop on Stop
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;

  Mutex mu_;
  CondVar cv_;
  std::unordered_map<uint64_t, Conn> conns_ GUARDED_BY(mu_);  // live connection threads
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  int active_ GUARDED_BY(mu_) = 0;  // connection threads alive
  const uid_t self_uid_ = ::geteuid();
};

Status Server::Impl::Start() {
  if (started_) return FailedPrecondition("API server already started");
  const std::string& path = opts_.socket_path;
  struct sockaddr_un sa {};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(sa.sun_path))
    return InvalidArgument("API socket path '" + path + "' is empty or longer than " +
                           std::to_string(sizeof(sa.sun_path) - 1) + " bytes");
  std::memcpy(sa.sun_path, path.data(), path.size());

  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec) return Status(Code::kIo, "creating " + parent.string() + ": " + ec.message());
  }

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("socket", errno);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return AlreadyExists("API socket path " + path +
                           " exists and is not a socket; remove it or choose another --api");
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(probe.get(), reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) == 0)
      return AlreadyExists("another privcastd is already serving " + path);
    ::unlink(path.c_str());  // stale socket of a previous run
  }
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&sa), sizeof sa) < 0)
    return ErrnoStatus("bind " + path, errno);
  // Nobody can connect before listen(), so tightening the mode here leaves no window.
  if (::chmod(path.c_str(), 0600) < 0) {
    int e = errno;
    ::unlink(path.c_str());
    return ErrnoStatus("chmod " + path, e);
  }
  if (::listen(fd.get(), 128) < 0) {
    int e = errno;
    ::unlink(path.c_str());
    return ErrnoStatus("listen " + path, e);
  }
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_.valid()) return ErrnoStatus("eventfd", errno);
  listen_fd_ = std::move(fd);
  stopping_ = false;
  started_ = true;
  watch_ = clock_->Watch([this] { KickAll(); });
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  log::Info(kComp, "API listening", {{"socket", path}});
  return Status::Ok();
}

void Server::Impl::Stop() {
  if (!started_) return;
  started_ = false;
  stopping_ = true;
  uint64_t one = 1;
  (void)!::write(wake_fd_.get(), &one, sizeof one);
  if (accept_thread_.joinable()) accept_thread_.join();
  listen_fd_.reset();
  ::unlink(opts_.socket_path.c_str());
  {
    MutexLock l(&mu_);
    // Wake every reader: idle connections see EOF at once; in-flight requests finish and
    // write their response (the write side stays open); streams see ClientWatch::Gone().
    for (auto& [id, c] : conns_) ::shutdown(c.fd, SHUT_RD);
    while (active_ != 0) cv_.Wait(&mu_);
  }
  clock_->Unwatch(watch_);  // without mu_: the clock holds its own lock while it calls KickAll
  watch_ = 0;
  wake_fd_.reset();
  log::Info(kComp, "API stopped", {{"socket", opts_.socket_path}});
}

void Server::Impl::AcceptLoop() {
  for (;;) {
    struct pollfd p[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    int n = ::poll(p, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (stopping_ || (p[1].revents & POLLIN)) return;
    if (!(p[0].revents & POLLIN)) continue;
    int cfd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
      log::Warn(kComp, "accept failed", {{"err", std::strerror(errno)}});
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: back off briefly instead of spinning.
        struct pollfd w {
          wake_fd_.get(), POLLIN, 0
        };
        ::poll(&w, 1, 100);
      }
      continue;
    }
    struct ucred cred {};
    socklen_t clen = sizeof cred;
    uid_t uid = static_cast<uid_t>(-1);  // unknown: treated as an unprivileged uid of its own
    if (::getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) uid = cred.uid;
    bool privileged = uid == 0 || uid == self_uid_;
    MutexLock l(&mu_);
    std::string refused = Admit(uid, privileged);
    if (!refused.empty()) {
      l.Unlock();
      log::Info(kComp, "API connection refused", {{"uid", static_cast<int64_t>(uid)}, {"why", refused}});
      // Small enough for an empty socket buffer; never wait on a client that does not read.
      std::string resp = http::SerializeResponse(503, "application/json", ErrorBody(refused), false);
      (void)!::send(cfd, resp.data(), resp.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(cfd);
      continue;
    }
    uint64_t id = next_id_++;
    Conn c;
    c.fd = cfd;
    c.uid = uid;
    c.privileged = privileged;
    c.waiting_since = clock_->Now();
    if (watch_ != 0) c.kick_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);  // -1 on failure: no kicks
    const int kick = c.kick_fd;
    conns_.emplace(id, c);
    ++active_;
    l.Unlock();
    std::thread([this, id, cfd, kick] {
      Serve(id, cfd, kick);
      MutexLock g(&mu_);
      conns_.erase(id);  // before the close: KickAll writes kick_fd under mu_
      ::close(cfd);
      if (kick >= 0) ::close(kick);
      if (--active_ == 0) cv_.NotifyAll();
    }).detach();
  }
}

std::string Server::Impl::Admit(uid_t uid, bool privileged) {
  int total = 0, mine = 0, unprivileged = 0;
  for (const auto& [id, c] : conns_) {
    if (c.evicted) continue;
    ++total;
    if (c.uid == uid) ++mine;
    if (!c.privileged) ++unprivileged;
  }
  const int uid_limit = privileged ? opts_.max_connections : opts_.max_connections_per_uid;
  const int shared = opts_.max_connections - opts_.reserved_connections;  // what other uids may use
  bool over_uid = mine >= uid_limit;
  bool over_all = total >= opts_.max_connections || (!privileged && unprivileged >= shared);
  if (!over_uid && !over_all) return "";
  // Make room: the connection of this uid that has waited longest without a request being
  // handled (idle keep-alive, or a request that is still trickling in). Root and the
  // daemon's uid may also take the slot of any uid's waiting connection when all are used:
  // slow or idle connections can never keep the operator out.
  auto oldest = [&](auto pred) -> Conn* {
    mu_.AssertHeld();  // called from here only: the analysis does not follow into lambdas
    Conn* v = nullptr;
    for (auto& [id, c] : conns_)
      if (!c.evicted && !c.busy && pred(c) && (!v || c.waiting_since < v->waiting_since)) v = &c;
    return v;
  };
  Conn* victim = oldest([&](const Conn& c) { return c.uid == uid; });
  if (!victim && privileged && !over_uid) victim = oldest([](const Conn&) { return true; });
  if (victim) {
    victim->evicted = true;
    ::shutdown(victim->fd, SHUT_RDWR);  // its thread sees EOF and ends
    log::Debug(kComp, "API connection evicted to make room",
               {{"uid", static_cast<int64_t>(victim->uid)}, {"for_uid", static_cast<int64_t>(uid)}});
    return "";
  }
  std::string why = "too many API connections from uid " + std::to_string(uid) + ": it has " + std::to_string(mine) +
                    " open (at most " + std::to_string(uid_limit) + "), " + std::to_string(total) +
                    " in all (at most " + std::to_string(opts_.max_connections) + ", " +
                    std::to_string(opts_.reserved_connections) + " of them kept for root and uid " +
                    std::to_string(self_uid_) +
                    "), every one busy with a request; end some (e.g. a `privcast logs -f`) and retry";
  return why;
}

bool Server::Impl::SetBusy(uint64_t id, bool busy) {
  MutexLock g(&mu_);
  auto it = conns_.find(id);
  if (it == conns_.end() || it->second.evicted) return false;
  it->second.busy = busy;
  if (!busy) it->second.waiting_since = clock_->Now();
  return true;
}

void Server::Impl::KickAll() {
  MutexLock g(&mu_);
  for (const auto& [id, c] : conns_)
    if (c.kick_fd >= 0) (void)::eventfd_write(c.kick_fd, 1);  // full counter: a kick is pending anyway
}

int Server::Impl::ReadSome(int fd, int kick_fd, std::string* buf, std::vector<UniqueFd>* fds, bool fds_allowed,
                           MonoTime deadline, bool* fd_violation) {
  struct pollfd p[2] = {{fd, POLLIN, 0}, {kick_fd, POLLIN, 0}};
  const nfds_t nfds = kick_fd >= 0 ? 2 : 1;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_->Now());
    if (left.count() <= 0) return -1;
    int n = ::poll(p, nfds, static_cast<int>(std::min<int64_t>(left.count() + 1, 1 << 30)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -2;
    if (nfds == 2 && (p[1].revents & POLLIN)) {
      eventfd_t moved = 0;
      (void)::eventfd_read(kick_fd, &moved);  // drained; the loop reads the clock again
    }
    if (p[0].revents == 0) continue;  // the loop re-checks the deadline
    break;
  }
  char data[16384];
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxRequestFds)];
  struct iovec iov {
    data, sizeof data
  };
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t r;
  do {
    r = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (r < 0 && errno == EINTR);
  if (r >= 0 && (msg.msg_flags & MSG_CTRUNC)) *fd_violation = true;  // the kernel closed the excess
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int pfd;
      std::memcpy(&pfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      UniqueFd owned(pfd);  // closed right here unless this request may carry it
      if (!fds_allowed) {
        *fd_violation = true;
        continue;
      }
      fds->push_back(std::move(owned));
    }
  }
  if (r < 0) return -2;
  if (r == 0) return 0;
  buf->append(data, static_cast<size_t>(r));
  return 1;
}

void Server::Impl::Serve(uint64_t id, int fd, int kick_fd) {
  std::string buf;
  std::vector<UniqueFd> fds;
  http::ParseLimits limits{opts_.max_header_bytes, opts_.max_body_bytes};
  Watch watch(fd, &stopping_);
  auto refuse = [&](int status, std::string_view why) {
    WriteAll(fd, http::SerializeResponse(status, "application/json", ErrorBody(why), false));
  };
  // When the request being received began (its first byte); max(): none yet (idle).
  MonoTime started = buf.empty() ? MonoTime::max() : clock_->Now();
  for (;;) {
    http::Request req;
    auto pr = http::ParseRequest(buf, limits, &req);
    if (!fds.empty() && pr.kind != http::ParseResult::Kind::kError) {
      // Descriptors are for the one route that takes them: decided as soon as the request
      // line is in, so a request that should not carry any does not hold them a moment longer.
      size_t eol = buf.find("\r\n");
      if (eol != std::string::npos && !RouteTakesFds(std::string_view(buf).substr(0, eol))) {
        fds.clear();
        return refuse(400, kFdsRefused);
      }
    }
    if (pr.kind == http::ParseResult::Kind::kIncomplete) {
      // The idle timeout while nothing of a request has come; then one deadline for the
      // whole request (head and body), however the bytes trickle in.
      MonoTime deadline = started == MonoTime::max() ? clock_->Now() + opts_.idle_timeout
                                                     : started + opts_.request_timeout;
      bool violation = false;
      int r = ReadSome(fd, kick_fd, &buf, &fds, /*fds_allowed=*/buf.empty() && fds.empty(), deadline, &violation);
      if (violation) {
        fds.clear();
        return refuse(400, kFdsRefused);
      }
      if (r == 1) {
        if (started == MonoTime::max()) started = clock_->Now();
        continue;
      }
      // A stop lets a half-received request fail fast; an idle connection just closes.
      if (r == -1 && !buf.empty())
        refuse(408, "request not completed within " +
                        std::to_string(
                            std::chrono::duration_cast<std::chrono::milliseconds>(opts_.request_timeout).count()) +
                        " ms (head and body)");
      return;
    }
    if (pr.kind == http::ParseResult::Kind::kError) {
      log::Info(kComp, "bad request", {{"status", pr.status}, {"err", pr.error}});
      WriteAll(fd, http::SerializeResponse(pr.status, "application/json", ErrorBody(pr.error), false));
      return;
    }
    buf.erase(0, pr.consumed);
    if (!SetBusy(id, true)) return;  // evicted while the last bytes arrived
    bool keep = req.keep_alive && !stopping_;
    Ex ex(fd, keep, &fds, &watch);
    routes_.Handle(req, ex);
    if (!ex.responded()) ex.Respond(500, "application/json", ErrorBody("internal error: no response"));
    fds.clear();
    if (!ex.reusable() || stopping_) return;
    if (!SetBusy(id, false)) return;
    started = buf.empty() ? MonoTime::max() : clock_->Now();  // pipelined bytes start the next one
  }
}

Server::Server(store::Registry* registry, Backend* backend, ServerOptions opts)
    : impl_(std::make_unique<Impl>(registry, backend, std::move(opts))) {}
Server::~Server() = default;
Status Server::Start() { return impl_->Start(); }
void Server::Stop() { impl_->Stop(); }

}  // namespace privcast::api
