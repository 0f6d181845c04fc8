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
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "api/codec.h"
#include "api/routes.h"
#include "common/fd.h"
#include "common/log.h"

namespace privcast::api {
namespace {

constexpr const char* kComp = "api";

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
      : opts_(std::move(opts)), routes_(registry, backend, &opts_) {}

  ~Impl() { Stop(); }

  Status Start();
  void Stop();
  const std::string& path() const { return opts_.socket_path; }

 private:
  struct Conn {
    int fd = -1;
  };

  class Watch final : public ClientWatch {
   public:
    Watch(int fd, const std::atomic<bool>* stopping) : fd_(fd), stopping_(stopping) {}
    bool Gone() const override {
      if (stopping_->load()) return true;
      struct pollfd p {fd_, POLLIN | POLLRDHUP, 0};
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
    void Respond(int status, std::string_view ct, std::string_view body) override {
      if (responded_) return;
      responded_ = true;
      if (!WriteAll(fd_, http::SerializeResponse(status, ct, body, keep_alive_))) broken_ = true;
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

    // Whether the connection can carry another request.
    bool reusable() const {
      return keep_alive_ && responded_ && !broken_ && (!streaming_ || ended_);
    }
    bool responded() const { return responded_; }

   private:
    int fd_;
    bool keep_alive_;
    std::vector<UniqueFd>* fds_;
    const Watch* watch_;
    bool responded_ = false, streaming_ = false, ended_ = false, broken_ = false;
  };

  void AcceptLoop();
  void Serve(int fd);
  // Reads more bytes into *buf, collecting passed fds. 1: got data, 0: EOF/stop, -1: timeout,
  // -2: error.
  int ReadSome(int fd, std::string* buf, std::vector<UniqueFd>* fds);

  ServerOptions opts_;
  Routes routes_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: wakes the accept loop on Stop
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::set<int> conns_;  // fds of live connections (guarded by mu_)
  int active_ = 0;       // connection threads alive (guarded by mu_)
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
      return AlreadyExists("API socket path " + path + " exists and is not a socket; remove it or choose another --api");
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
    std::unique_lock<std::mutex> l(mu_);
    // Wake every reader: idle connections see EOF at once; in-flight requests finish and
    // write their response (the write side stays open); streams see ClientWatch::Gone().
    for (int fd : conns_) ::shutdown(fd, SHUT_RD);
    cv_.wait(l, [&] { return active_ == 0; });
  }
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
        struct pollfd w {wake_fd_.get(), POLLIN, 0};
        ::poll(&w, 1, 100);
      }
      continue;
    }
    std::unique_lock<std::mutex> l(mu_);
    if (active_ >= opts_.max_connections) {
      l.unlock();
      WriteAll(cfd, http::SerializeResponse(503, "application/json",
                                            ErrorBody("too many API connections; try again"), false));
      ::close(cfd);
      continue;
    }
    ++active_;
    conns_.insert(cfd);
    l.unlock();
    std::thread([this, cfd] {
      Serve(cfd);
      std::lock_guard<std::mutex> g(mu_);
      conns_.erase(cfd);
      ::close(cfd);
      if (--active_ == 0) cv_.notify_all();
    }).detach();
  }
}

int Server::Impl::ReadSome(int fd, std::string* buf, std::vector<UniqueFd>* fds) {
  struct pollfd p {fd, POLLIN, 0};
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.idle_timeout).count();
  for (;;) {
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, 1 << 30)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -2;
    if (n == 0) return -1;
    break;
  }
  char data[16384];
  alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 8)];
  struct iovec iov {data, sizeof data};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t r;
  do {
    r = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (r < 0 && errno == EINTR);
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int pfd;
      std::memcpy(&pfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds->emplace_back(pfd);  // owned now; closed unless a route takes it
    }
  }
  if (r < 0) return -2;
  if (r == 0) return 0;
  buf->append(data, static_cast<size_t>(r));
  return 1;
}

void Server::Impl::Serve(int fd) {
  std::string buf;
  std::vector<UniqueFd> fds;
  http::ParseLimits limits{opts_.max_header_bytes, opts_.max_body_bytes};
  Watch watch(fd, &stopping_);
  for (;;) {
    http::Request req;
    auto pr = http::ParseRequest(buf, limits, &req);
    if (pr.kind == http::ParseResult::Kind::kIncomplete) {
      // A stop lets a half-received request fail fast; an idle connection just closes.
      int r = ReadSome(fd, &buf, &fds);
      if (r == 1) continue;
      if (r == -1 && !buf.empty())
        WriteAll(fd, http::SerializeResponse(408, "application/json",
                                             ErrorBody("request not completed in time"), false));
      return;
    }
    if (pr.kind == http::ParseResult::Kind::kError) {
      log::Info(kComp, "bad request", {{"status", pr.status}, {"err", pr.error}});
      WriteAll(fd, http::SerializeResponse(pr.status, "application/json", ErrorBody(pr.error), false));
      return;
    }
    buf.erase(0, pr.consumed);
    bool keep = req.keep_alive && !stopping_;
    Ex ex(fd, keep, &fds, &watch);
    routes_.Handle(req, ex);
    if (!ex.responded()) ex.Respond(500, "application/json", ErrorBody("internal error: no response"));
    fds.clear();
    if (!ex.reusable() || stopping_) return;
  }
}

Server::Server(store::Registry* registry, Backend* backend, ServerOptions opts)
    : impl_(std::make_unique<Impl>(registry, backend, std::move(opts))) {}
Server::~Server() = default;
Status Server::Start() { return impl_->Start(); }
void Server::Stop() { impl_->Stop(); }
const std::string& Server::socket_path() const { return impl_->path(); }

}  // namespace privcast::api
