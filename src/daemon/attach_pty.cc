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

#include "common/log.h"

namespace privcast::daemon {
namespace {

constexpr size_t kCap = 64 * 1024;  // bytes buffered per direction before we stop reading
constexpr size_t kChunk = 16 * 1024;
// Writes to the user's (blocking) fd after POLLOUT: a pipe with room takes PIPE_BUF bytes
// without blocking; a terminal takes what its reader drains.
constexpr size_t kUserWrite = PIPE_BUF;

bool Transient(int err) { return err == EINTR || err == EAGAIN || err == EWOULDBLOCK; }

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

void AttachPty::ApplySize(int user_out) const {
  struct winsize ws {};
  if (::ioctl(user_out, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0) return;
  (void)::ioctl(master_.get(), TIOCSWINSZ, &ws);  // the kernel signals SIGWINCH on a change
}

// NOLINTNEXTLINE(readability-function-size): one poll loop over the pty and client fds; its locals are the relay state
void AttachPty::Relay(Fds f, const std::function<bool()>& gone) {
  const int master = master_.get();
  std::string to_master, to_user;
  bool in_open = f.user_in >= 0;
  bool out_ok = f.user_out >= 0;  // false: output is dropped (the user cannot take it)
  bool resize_open = f.resize >= 0;
  bool watch = f.gone_fd >= 0;
  bool stray = false;  // the client sent bytes (not ours to read): watch hang-ups only
  bool hup = false;    // every slave closed: only draining is left
  bool eof = false;    // the master read EIO/EOF: nothing more will come
  const char* why = "drained";
  char buf[kChunk];
  auto client_gone = [&] { return watch && (!gone || gone()); };
  enum { kStop, kMaster, kIn, kOut, kResize, kGone, kCount };
  for (;;) {
    if (eof && (to_user.empty() || !out_ok)) break;
    struct pollfd p[kCount] = {};
    p[kStop] = {stop_.get(), POLLIN, 0};
    short mev = static_cast<short>((!eof && to_user.size() < kCap ? POLLIN : 0) |
                                   (!hup && !to_master.empty() ? POLLOUT : 0));
    // Not polled at all when there is nothing to do: POLLHUP would be reported regardless.
    p[kMaster] = {mev ? master : -1, mev, 0};
    bool want_in = in_open && !hup && to_master.size() < kCap;
    p[kIn] = {want_in ? f.user_in : -1, POLLIN, 0};
    bool want_out = out_ok && !to_user.empty();
    p[kOut] = {want_out ? f.user_out : -1, POLLOUT, 0};
    p[kResize] = {resize_open ? f.resize : -1, POLLIN, 0};
    p[kGone] = {watch ? f.gone_fd : -1, static_cast<short>(stray ? POLLRDHUP : POLLIN | POLLRDHUP), 0};
    if (::poll(p, kCount, -1) < 0) {
      if (errno == EINTR) continue;
      why = "poll failed";
      break;
    }
    if (p[kStop].revents) {
      why = "stopped";
      break;
    }
    if (p[kGone].revents) {
      if (client_gone()) {
        why = "client gone";
        break;
      }
      stray = true;
    }
    if (p[kMaster].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!eof && to_user.size() < kCap) {
        ssize_t n = ::read(master, buf, std::min(sizeof buf, kCap - to_user.size()));
        if (n > 0) {
          if (out_ok) to_user.append(buf, static_cast<size_t>(n));
        } else if (n == 0 || !Transient(errno)) {
          eof = hup = true;  // EIO: every slave is closed and everything was read
        }
      }
      if (p[kMaster].revents & (POLLHUP | POLLERR)) hup = true;
      if (hup) to_master.clear();
    }
    if ((p[kMaster].revents & POLLOUT) && !hup && !to_master.empty()) {
      ssize_t n = ::write(master, to_master.data(), to_master.size());
      if (n > 0) {
        to_master.erase(0, static_cast<size_t>(n));
      } else if (n < 0 && !Transient(errno)) {
        hup = true;
        to_master.clear();
      }
    }
    if (p[kOut].revents) {
      // Blocking fd, ready: the write returns once the terminal took it (or failed).
      bool ready = p[kOut].revents & POLLOUT;
      ssize_t n = ready ? ::write(f.user_out, to_user.data(), std::min(to_user.size(), kUserWrite)) : -1;
      if (n > 0) {
        to_user.erase(0, static_cast<size_t>(n));
      } else if (n == 0 || !ready || !Transient(errno)) {
        out_ok = false;
        to_user.clear();
      }
    }
    if (p[kIn].revents && !hup) {
      // Re-check first: once the CLI is gone, the user's shell reads this terminal again.
      if (client_gone()) {
        why = "client gone";
        break;
      }
      ssize_t n = ::read(f.user_in, buf, std::min(sizeof buf, kCap - to_master.size()));
      if (n > 0) {
        to_master.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || !Transient(errno)) {
        in_open = false;  // end of input or a hung-up terminal: stop reading it
      }
    }
    if (p[kResize].revents) {
      ssize_t n = ::read(f.resize, buf, sizeof buf);
      if (n > 0) {
        if (f.user_out >= 0) ApplySize(f.user_out);
      } else if (n == 0 || !Transient(errno)) {
        resize_open = false;  // the CLI closed its end
      }
    }
  }
  log::Debug("daemon", "pty relay ended", {{"pty", slave_name_}, {"reason", why}});
}

}  // namespace privcast::daemon
