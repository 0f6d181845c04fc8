// MachineWaker: how the proxy asks for "make this machine ready" without knowing the
// supervisor. The daemon implements it (start a stopped machine, resume a suspended one,
// wait until the app accepts on its internal port) and owns all threads involved.
//
// Contract: Wake() returns at once (never blocks a worker). `done` is invoked exactly once,
// on the calling worker's thread (through the worker's Poster), with ok when the machine
// accepts connections on `internal_port`, or an error (failed start, wake timeout). The
// implementation coalesces concurrent wakes of the same machine into one start.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/result.h"
#include "loop/poster.h"

namespace privcast::proxy {

// Runs a closure on a specific worker's event loop (thread-safe to call from anywhere).
using Poster = loop::Poster;

class MachineWaker {
 public:
  virtual ~MachineWaker() = default;
  virtual void Wake(const std::string& machine_id, uint16_t internal_port, Poster* reply_to,
                    std::function<void(Status)> done) = 0;
};

// Autostop asks through the same kind of seam: the proxy decides, the daemon acts.
class MachineStopper {
 public:
  virtual ~MachineStopper() = default;
  // suspend=false: stop (kill_signal, kill_timeout); true: suspend (freeze).
  virtual void Stop(const std::string& machine_id, bool suspend, const std::string& reason) = 0;
};

}  // namespace privcast::proxy
