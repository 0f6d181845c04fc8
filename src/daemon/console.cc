// DaemonBackend::Console (`privcast ssh console`): a program inside a running machine
// (supervisor/enter.h), attached to the CLI's stdio as `machine run --shell` is: on a
// terminal through a pty of ours relayed to the user's (AttachPty), else the fds as they are.
// The wait ends with the program, or kills it when the client goes away.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "daemon/attach_pty.h"
#include "daemon/backend.h"

namespace privcast::daemon {

namespace {

// Waits for the entered program; when the client goes away, kills the program's process
// group (what it started too, as sshd's hang-up would) and its relay. Returns its status.
int WaitEntered(Entered& e, const api::ClientWatch& client) {
  bool killed = false;
  for (;;) {
    struct pollfd fds[2] = {{e.pidfd.get(), POLLIN, 0}, {client.fd(), POLLIN | POLLRDHUP, 0}};
    int n = ::poll(fds, killed || client.fd() < 0 ? 1 : 2, 1000);
    if (n < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    if (!killed && (fds[1].revents || client.Gone()) && client.Gone()) {
      if (e.program > 0) ::kill(-e.program, SIGKILL);
      ::kill(e.pid, SIGKILL);
      killed = true;
    }
  }
  siginfo_t si{};
  if (::waitid(P_PIDFD, static_cast<id_t>(e.pidfd.get()), &si, WEXITED) != 0) return 128 + SIGKILL;
  if (si.si_code == CLD_EXITED) return si.si_status;
  return 128 + si.si_status;
}

}  // namespace

Result<int> DaemonBackend::Console(const store::Machine& m, const std::vector<std::string>& cmd,
                                   const std::vector<std::pair<std::string, std::string>>& env,
                                   api::AttachedStdio stdio, const api::ClientWatch& client) {
  EnterRequest req;
  req.argv = cmd;
  req.env = env;
  if (!stdio.tty) {
    req.in = stdio.in.get();
    req.out = stdio.out.get();
    req.err = stdio.err.get();
    PC_ASSIGN_OR_RETURN(Entered e, manager_->runtime()->Enter(m.id, req));
    return WaitEntered(e, client);
  }
  auto pty = AttachPty::Open(stdio.rows, stdio.cols, manager_->runtime()->PtmxPath(m.id));
  if (!pty.ok()) return Status(pty.status().code(), "allocating a terminal for the console: " + pty.status().message());
  AttachPty& p = **pty;
  req.in = req.out = req.err = p.slave();
  req.tty = true;
  auto e = manager_->runtime()->Enter(m.id, req);
  if (!e.ok()) return e.status();
  p.Start({stdio.in.get(), stdio.out.get(), stdio.resize.get(), client.fd()}, [&client] { return client.Gone(); });
  p.CloseSlave();
  int code = WaitEntered(*e, client);
  // The program is gone; the relay ends once every copy of the slave is closed (after its
  // output is drained). A background job still holding the terminal keeps it open, as
  // with ssh: the relay also ends when the client leaves.
  p.Wait();
  return code;
}

}  // namespace privcast::daemon
