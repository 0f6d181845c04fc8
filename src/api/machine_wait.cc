#include "api/machine_wait.h"

#include <algorithm>
#include <chrono>

namespace privcast::api {

Result<store::Machine> WaitForMachineState(store::Registry* reg, const std::string& id,
                                           const std::vector<store::MachineState>& states, Duration timeout,
                                           const ClientWatch& client, const Clock& clock) {
  const MonoTime deadline = clock.Now() + timeout;
  store::Store* st = reg->store();
  for (;;) {
    auto rev = st->Revision();
    if (!rev.ok()) return rev.status();
    auto m = reg->GetMachine(id);
    if (!m.ok()) return m.status();
    if (std::find(states.begin(), states.end(), m->state) != states.end()) return *m;
    const MonoTime now = clock.Now();
    if (now >= deadline || client.Gone())
      return Unavailable("timed out waiting for machine " + id + " (it is " + store::MachineStateName(m->state) + ")");
    auto left = std::chrono::duration_cast<Duration>(deadline - now);
    auto w = st->WaitForRevision(*rev, std::min<Duration>(left, kMachineWaitRecheck));
    if (!w.ok()) return w.status();
  }
}

}  // namespace privcast::api
