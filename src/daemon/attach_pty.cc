#include "daemon/attach_pty.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "common/log.h"

namespace privcast::daemon {
namespace {

constexpr size_t kCap = 64 * 1024;  // bytes buffered per direction before we stop reading
constexpr size_t kChunk = 16 * 1024;
// Writes to the user's (blocking) fd after POLLOUT: a pipe with room takes PIPE_BUF bytes
// without blocking; a terminal takes what its reader drains.
constexpr size_t kUserWrite = PIPE_BUF;

// The user's window size (of `user_out`) onto the pty; the kernel signals SIGWINCH on a change.
void CopyWindowSize(int user_out, int master) {
  struct winsize ws {};
  if (::ioctl(user_out, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0) return;
  (void)::ioctl(master, TIOCSWINSZ, &ws);
}

bool Transient(int err) { return err == EINTR || err == EAGAIN || err == EWOULDBLOCK; }

// One relay (AttachPty's contract): the bytes in flight each way and which ends are still
// open, one poll() over them per turn. Runs on the relay thread only.
class PtyRelay {
 public:
  PtyRelay(int master, int stop, const AttachPty::Fds& f, const std::function<bool()>& gone)
      : master_(master),
        stop_(stop),
        f_(f),
        gone_(gone),
        in_open_(f.user_in >= 0),
        out_ok_(f.user_out >= 0),
        resize_open_(f.resize >= 0),
        watch_(f.gone_fd >= 0) {}

  // Relays until the end; returns why it ended.
  const char* Run();

 private:
  enum { kStop, kMaster, kIn, kOut, kResize, kGone, kCount };

  void Arm(struct pollfd (&p)[kCount]) const;
  bool ClientGone() const { return watch_ && (!gone_ || gone_()); }
  void ReadMaster(short revents);
  void WriteMaster();
  void WriteUser(short revents);
  void ReadUser();
  void ReadResize();

  const int master_, stop_;
  const AttachPty::Fds f_;
  const std::function<bool()>& gone_;
  std::string to_master_, to_user_;
  bool in_open_;
  bool out_ok_;  // false: output is dropped (the user cannot take it)
  bool resize_open_;
  bool watch_;
  bool stray_ = false;  // the client sent bytes (not ours to read): watch hang-ups only
  bool hup_ = false;    // every slave closed: only draining is left
  bool eof_ = false;    // the master read EIO/EOF: nothing more will come
  char buf_[kChunk];
};

const char* PtyRelay::Run() {
  for (;;) {
    if (eof_ && (to_user_.empty() || !out_ok_)) return "drained";
    struct pollfd p[kCount] = {};
    Arm(p);
    if (::poll(p, kCount, -1) < 0) {
      if (errno == EINTR) continue;
      return "poll failed";
    }
    if (p[kStop].revents) return "stopped";
    if (p[kGone].revents) {
      if (ClientGone()) return "client gone";
      stray_ = true;
    }
    if (p[kMaster].revents & (POLLIN | POLLHUP | POLLERR)) ReadMaster(p[kMaster].revents);
    if ((p[kMaster].revents & POLLOUT) && !hup_ && !to_master_.empty()) WriteMaster();
    if (p[kOut].revents) WriteUser(p[kOut].revents);
    if (p[kIn].revents && !hup_) {
      // Re-check first: once the CLI is gone, the user's shell reads this terminal again.
      if (ClientGone()) return "client gone";
      ReadUser();
    }
    if (p[kResize].revents) ReadResize();
  }
}

void PtyRelay::Arm(struct pollfd (&p)[kCount]) const {
  p[kStop] = {stop_, POLLIN, 0};
  short mev = static_cast<short>((!eof_ && to_user_.size() < kCap ? POLLIN : 0) |
                                 (!hup_ && !to_master_.empty() ? POLLOUT : 0));
  // Not polled at all when there is nothing to do: POLLHUP would be reported regardless.
  p[kMaster] = {mev ? master_ : -1, mev, 0};
  bool want_in = in_open_ && !hup_ && to_master_.size() < kCap;
  p[kIn] = {want_in ? f_.user_in : -1, POLLIN, 0};
  bool want_out = out_ok_ && !to_user_.empty();
  p[kOut] = {want_out ? f_.user_out : -1, POLLOUT, 0};
  p[kResize] = {resize_open_ ? f_.resize : -1, POLLIN, 0};
  p[kGone] = {watch_ ? f_.gone_fd : -1, static_cast<short>(stray_ ? POLLRDHUP : POLLIN | POLLRDHUP), 0};
}

void PtyRelay::ReadMaster(short revents) {
  if (!eof_ && to_user_.size() < kCap) {
    ssize_t n = ::read(master_, buf_, std::min(sizeof buf_, kCap - to_user_.size()));
    if (n > 0) {
      if (out_ok_) to_user_.append(buf_, static_cast<size_t>(n));
    } else if (n == 0 || !Transient(errno)) {
      eof_ = hup_ = true;  // EIO: every slave is closed and everything was read
    }
  }
  if (revents & (POLLHUP | POLLERR)) hup_ = true;
  if (hup_) to_master_.clear();
}

void PtyRelay::WriteMaster() {
  ssize_t n = ::write(master_, to_master_.data(), to_master_.size());
  if (n > 0) {
    to_master_.erase(0, static_cast<size_t>(n));
  } else if (n < 0 && !Transient(errno)) {
    hup_ = true;
    to_master_.clear();
  }
}

void PtyRelay::WriteUser(short revents) {
  // Blocking fd, ready: the write returns once the terminal took it (or failed).
  bool ready = revents & POLLOUT;
  ssize_t n = ready ? ::write(f_.user_out, to_user_.data(), std::min(to_user_.size(), kUserWrite)) : -1;
  if (n > 0) {
    to_user_.erase(0, static_cast<size_t>(n));
  } else if (n == 0 || !ready || !Transient(errno)) {
    out_ok_ = false;
    to_user_.clear();
  }
}

void PtyRelay::ReadUser() {
  ssize_t n = ::read(f_.user_in, buf_, std::min(sizeof buf_, kCap - to_master_.size()));
  if (n > 0) {
    to_master_.append(buf_, static_cast<size_t>(n));
  } else if (n == 0 || !Transient(errno)) {
    in_open_ = false;  // end of input or a hung-up terminal: stop reading it
  }
}

void PtyRelay::ReadResize() {
  ssize_t n = ::read(f_.resize, buf_, sizeof buf_);
  if (n > 0) {
    if (f_.user_out >= 0) CopyWindowSize(f_.user_out, master_);
  } else if (n == 0 || !Transient(errno)) {
    resize_open_ = false;  // the CLI closed its end
  }
}

}  // namespace

Result<std::unique_ptr<AttachPty>> AttachPty::Open(uint16_t rows, uint16_t cols, const std::string& ptmx) {
  UniqueFd master, slave;
  char name[128];
  if (ptmx.empty()) {
    master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master) return ErrnoStatus("posix_openpt", errno);
    if (::grantpt(master.get()) != 0) return ErrnoStatus("grantpt", errno);
    if (::unlockpt(master.get()) != 0) return ErrnoStatus("unlockpt", errno);
    if (int err = ::ptsname_r(master.get(), name, sizeof name); err != 0) return ErrnoStatus("ptsname", err);
    slave.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) return ErrnoStatus(std::string("open ") + name, errno);
  } else {
    // The slave through the master (TIOCGPTPEER): its path is only meaningful in the other
    // instance's mount namespace.
    master.reset(::open(ptmx.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master) return ErrnoStatus("open " + ptmx, errno);
    if (::unlockpt(master.get()) != 0) return ErrnoStatus("unlockpt", errno);
    unsigned int n = 0;
    if (::ioctl(master.get(), TIOCGPTN, &n) != 0) return ErrnoStatus("TIOCGPTN", errno);
    std::snprintf(name, sizeof name, "/dev/pts/%u", n);
    slave.reset(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) return ErrnoStatus("TIOCGPTPEER", errno);
  }
  if (rows > 0 && cols > 0) {
    struct winsize ws {};
    ws.ws_row = rows;
    ws.ws_col = cols;
    if (::ioctl(master.get(), TIOCSWINSZ, &ws) != 0) return ErrnoStatus("TIOCSWINSZ", errno);
  }
  // Ours alone (unlike the user's fds): the relay must never block on the machine's side.
  int fl = ::fcntl(master.get(), F_GETFL);
  if (fl < 0 || ::fcntl(master.get(), F_SETFL, fl | O_NONBLOCK) != 0) return ErrnoStatus("pty O_NONBLOCK", errno);
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop) return ErrnoStatus("eventfd", errno);
  return std::unique_ptr<AttachPty>(new AttachPty(std::move(master), std::move(slave), name, std::move(stop)));
}

AttachPty::AttachPty(UniqueFd master, UniqueFd slave, std::string slave_name, UniqueFd stop)
    : master_(std::move(master)),
      slave_(std::move(slave)),
      slave_name_(std::move(slave_name)),
      stop_(std::move(stop)) {}

AttachPty::~AttachPty() {
  Stop();
  Wait();
}

void AttachPty::Start(Fds fds, std::function<bool()> gone) {
  PC_CHECK(!thread_.joinable());
  thread_ = std::thread([this, fds, gone = std::move(gone)] { Relay(fds, gone); });
}

void AttachPty::Wait() {
  if (thread_.joinable()) thread_.join();
}

void AttachPty::Stop() {
  uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof one);
}

void AttachPty::Relay(Fds f, const std::function<bool()>& gone) {
  PtyRelay relay(master_.get(), stop_.get(), f, gone);
  const char* why = relay.Run();
  log::Debug("daemon", "pty relay ended", {{"pty", slave_name_}, {"reason", why}});
}

}  // namespace privcast::daemon
