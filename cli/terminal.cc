#include "cli/terminal.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <string>

#include "cli/extend.h"

namespace privcast::cli {
namespace {

// One RawTerminal at a time: the signal handlers reach its state through these.
struct termios g_saved_termios;
volatile sig_atomic_t g_raw_active = 0;
volatile sig_atomic_t g_winch_fd = -1;

extern "C" void RestoreAndReraise(int sig) {
  if (g_raw_active) ::tcsetattr(0, TCSANOW, &g_saved_termios);
  ::signal(sig, SIG_DFL);
  ::raise(sig);  // blocked while we run: delivered, with the default action, on return
}

extern "C" void PokeResize(int) {
  int saved = errno;
  char c = 0;
  if (g_winch_fd >= 0) (void)!::write(g_winch_fd, &c, 1);  // non-blocking: a full pipe already says it
  errno = saved;
}

}  // namespace

RawTerminal::RawTerminal() {
  if (::tcgetattr(0, &g_saved_termios) != 0)
    throw CommandFailure(std::string("cannot read the terminal's modes: ") + std::strerror(errno));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw CommandFailure(std::string("cannot create a pipe: ") + std::strerror(errno));
  resize_rd_.reset(p[0]);
  resize_wr_.reset(p[1]);
  ::fcntl(p[1], F_SETFL, ::fcntl(p[1], F_GETFL) | O_NONBLOCK);
  g_winch_fd = p[1];
  for (size_t i = 0; i < std::size(kSignals); ++i) {
    struct sigaction sa {};
    sigfillset(&sa.sa_mask);
    if (kSignals[i] == SIGWINCH) {
      sa.sa_handler = PokeResize;
      sa.sa_flags = SA_RESTART;
    } else {
      sa.sa_handler = RestoreAndReraise;
    }
    ::sigaction(kSignals[i], &sa, &old_[i]);
  }
  struct termios raw = g_saved_termios;
  ::cfmakeraw(&raw);
  g_raw_active = 1;
  if (::tcsetattr(0, TCSANOW, &raw) != 0) {
    int err = errno;
    Restore();
    throw CommandFailure(std::string("cannot put the terminal in raw mode: ") + std::strerror(err));
  }
}

RawTerminal::~RawTerminal() { Restore(); }

void RawTerminal::Restore() {
  if (g_raw_active) ::tcsetattr(0, TCSANOW, &g_saved_termios);
  g_raw_active = 0;
  for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &old_[i], nullptr);
  g_winch_fd = -1;
}

TerminationSignals::TerminationSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int TerminationSignals::Wait() {
  int sig = 0;
  sigwait(&set_, &sig);
  return sig;
}

}  // namespace privcast::cli
