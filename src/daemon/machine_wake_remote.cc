// Wake across hosts (docs/cluster.md): this host's proxy chose a stopped or suspended machine of another
// live host. The machine's own daemon starts it when the store says `starting`; this host only
// writes that intent and holds the request until the machine accepts a TCP connection on its
// 6PN address (the same path the proxy then takes), polling every 20 ms on the control thread.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common/log.h"
#include "daemon/machine_manager.h"

namespace privcast::daemon {
namespace {

using store::Machine;

// A connect to addr:port that completes (or not) within `ms` milliseconds. Called only while a
// remote wake is pending: a refused connect returns at once, a silent host costs `ms`.
bool Accepts(const Ip6& addr, uint16_t port, int ms) {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  std::memcpy(&sa.sin6_addr, addr.b.data(), 16);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    ok = true;
  } else if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, ms) == 1) {
      int err = 0;
      socklen_t len = sizeof err;
      ok = ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

bool MachineManager::WakeRemote(const std::string& id, Waiter& w) {
  const Machine* m = nullptr;
  for (const auto& x : state_.machines)
    if (x.id == id) m = &x;
  if (!m || !live_peers_.count(m->host_id)) return false;
  using S = store::MachineState;
  // A suspended machine is asked for the same way: its own daemon's LaunchMachine thaws a
  // suspended runtime when the store says `starting` (a resume, not a cold start). One being
  // suspended right now is asked once it is (PollRemoteWake).
  if (m->state == S::kStopped || m->state == S::kCreated || m->state == S::kSuspended) {
    bool resume = m->state == S::kSuspended;
    auto t = registry_->TransitionMachine(id, {m->state}, S::kStarting,
                                          resume ? "resumed by proxy on another host"
                                                 : "started by proxy on another host");
    if (!t.ok() && t.status().code() != Code::kConflict) {  // lost a race: someone else started it
      auto done = std::move(w.done);
      w.poster->Post([done, st = t.status()] { done(st); });
      return true;
    }
    log::Info("proxy", resume ? "resuming machine on another host" : "starting machine on another host",
              {{"machine", id}, {"app", m->app}, {"host", static_cast<uint64_t>(m->host_id)}});
  }
  PollRemoteWake(id, std::move(w));
  return true;
}

void MachineManager::PollRemoteWake(const std::string& id, Waiter w) {
  const Machine* m = nullptr;
  for (const auto& x : state_.machines)
    if (x.id == id) m = &x;
  auto fail = [&](const Status& st) {
    readiness_.CountFailure();
    auto done = std::move(w.done);
    w.poster->Post([done, st] { done(st); });
  };
  if (shut_down_) return fail(Unavailable("privcastd is shutting down"));
  if (!m || !live_peers_.count(m->host_id)) return fail(Unavailable("machine " + id + " is gone or its host is down"));
  // The store view may lag this host's reload: `started` there means its process runs; the
  // connect says it listens.
  if (m->state == store::MachineState::kStarted &&
      Accepts(addr::SixPnAddress(m->net32, m->host_id, m->machine32), w.port, 100)) {
    auto done = std::move(w.done);
    w.poster->Post([done] { done(Status::Ok()); });
    return;
  }
  if (m->state == store::MachineState::kSuspended)  // it was being suspended when the wake came
    (void)registry_->TransitionMachine(id, {m->state}, store::MachineState::kStarting,
                                       "resumed by proxy on another host");
  if (clock_->Now() >= w.deadline) return fail(Unavailable("machine " + id + " did not start listening in time"));
  loop_->PostAfter(std::chrono::milliseconds(20),
                   [this, id, w = std::move(w)]() mutable { PollRemoteWake(id, std::move(w)); });
}

}  // namespace privcast::daemon
