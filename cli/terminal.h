// This process's terminal and its signals, for the commands that take them over:
//  - RawTerminal: stdin's terminal in raw mode for a session (machine run --shell, ssh
//    console: every key, Ctrl-C and Ctrl-D included, goes to the machine's pty, whose line
//    discipline gives them their meaning). Its modes are restored whatever happens: the
//    destructor (normal return, an exception), and SIGTERM/SIGHUP/SIGINT/SIGQUIT, whose
//    handlers restore, then re-raise with the default action. SIGWINCH writes a byte to a
//    pipe whose read end (resize_fd) goes to the daemon, which then copies this terminal's
//    size to the machine's pty.
//  - TerminationSignals: SIGINT/SIGTERM/SIGHUP blocked (before any thread starts, so every
//    thread inherits the mask) and waited for with sigwait (privcast proxy runs until one).
// Not thread-safe: one RawTerminal at a time (signal handlers reach it through globals).
#pragma once

#include <signal.h>

#include <iterator>

#include "common/fd.h"

namespace privcast::cli {

class RawTerminal {
 public:
  // Throws CommandFailure (cli/extend.h) when stdin is not a terminal it can set.
  RawTerminal();
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  // Readable once per SIGWINCH burst (a byte each; a full pipe already says it).
  int resize_fd() const { return resize_rd_.get(); }

 private:
  static constexpr int kSignals[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGWINCH};
  void Restore();

  struct sigaction old_[std::size(kSignals)] = {};
  UniqueFd resize_rd_, resize_wr_;
};

class TerminationSignals {
 public:
  // Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and the threads it starts).
  TerminationSignals();
  // Until one of them arrives; returns it.
  int Wait();

 private:
  sigset_t set_;
};

}  // namespace privcast::cli
