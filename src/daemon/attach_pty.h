// AttachPty: the pseudo-terminal of `machine run --shell` on a terminal (docs/cli.md).
//
// The machine never gets the user's terminal itself: it gets the slave of a pty allocated
// here (its stdin/stdout/stderr and controlling terminal, so it has job control, Ctrl-C as
// SIGINT to its foreground job and a window size), and a relay thread copies bytes between
// the master and the user's terminal fds received from the CLI:
//   user_in → master, master → user_out, and on each byte from the CLI's resize pipe the
//   size of user_out (TIOCGWINSZ) is set on the master (the kernel then sends SIGWINCH to
//   the machine's foreground process group).
//
// The user's fds are used as they are, blocking: the relay never changes their flags
// (O_NONBLOCK would stay on the user's terminal file description after the CLI exits). It
// reads user_in or writes user_out only when poll() says so. Known limit: if another
// process reads the same terminal between that poll and our read (only possible once the
// CLI is gone), the read waits for the next keystroke; the relay watches the client and
// stops reading first when it can.
//
// End of the relay: the master reads EIO once every slave fd is closed (the machine's
// processes are gone and the owner called CloseSlave()); pending output is written to the
// user first. The relay also ends, without draining, when the client goes away (`gone_fd`
// reports and `gone()` confirms) or on Stop(). Output the user can no longer take (write
// error) is dropped while the master keeps being drained, so the machine never blocks on
// a full pty.
//
// Ownership: owns the master and (until CloseSlave) the slave; borrows the fds given to
// Start, which must stay open until Wait() returned. Thread-safety: one owner thread calls
// Open/slave/CloseSlave/Start/Wait/Stop; the relay thread is the only user of the master
// after Start. The destructor stops and joins the relay.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/fd.h"
#include "common/result.h"

namespace privcast::daemon {

class AttachPty {
 public:
  // A new pty pair (both ends O_CLOEXEC | O_NOCTTY), window rows×cols (0×0: kernel default).
  // `ptmx`: another devpts instance's ptmx (ssh console: the machine's own, reached through
  // /proc/<its init>/root, so `tty` inside names a device the machine sees); "" = ours.
  static Result<std::unique_ptr<AttachPty>> Open(uint16_t rows, uint16_t cols, const std::string& ptmx = "");
  ~AttachPty();
  AttachPty(const AttachPty&) = delete;
  AttachPty& operator=(const AttachPty&) = delete;

  // The slave, to hand to the machine as stdio (-1 after CloseSlave).
  int slave() const { return slave_.get(); }
  // /dev/pts/N, for logs and tests.
  const std::string& slave_name() const { return slave_name_; }
  // Drop our copy: from then on the relay ends when the machine's copies are closed.
  void CloseSlave() { slave_.reset(); }

  struct Fds {
    int user_in = -1;   // the user's terminal (input); -1: nothing to send to the machine
    int user_out = -1;  // the user's terminal (output, window size source)
    int resize = -1;    // read end of the CLI's resize pipe; -1: size fixed at Open
    int gone_fd = -1;   // readable/hang-up when the client may be gone; -1: not watched
  };
  // Starts the relay thread. `gone` (thread-safe, non-blocking; null: any report counts)
  // confirms gone_fd's report; bytes the client sent are left alone (they are not ours).
  void Start(Fds fds, std::function<bool()> gone);
  // Blocks until the relay ended (see the contract above). Idempotent.
  void Wait();
  // Ends the relay without draining (used on error paths). Thread-safe.
  void Stop();

 private:
  AttachPty(UniqueFd master, UniqueFd slave, std::string slave_name, UniqueFd stop);
  void Relay(Fds fds, const std::function<bool()>& gone);

  UniqueFd master_, slave_;
  std::string slave_name_;
  UniqueFd stop_;  // eventfd: Stop() → the relay ends
  std::thread thread_;
};

}  // namespace privcast::daemon
