// DaemonBackend::DestroyApp (api/backend.h): an app's teardown. The machines are marked
// destroying in the store — the reconciler on the control thread stops and removes them —
// and this (API) thread waits for their records to say so, within one deadline for all of
// them (kAppTeardownWait on the backend's clock), before the app's record goes.
#include <algorithm>

#include "api/machine_wait.h"
#include "daemon/backend.h"

namespace privcast::daemon {

using store::MachineState;

Status DaemonBackend::DestroyApp(const store::App& app, const api::ClientWatch& client) {
  const std::string& name = app.name;
  auto ms = registry_->ListMachines(name);
  if (!ms.ok()) return ms.status();
  // Machines first: record the intent, then wait for the reconciler to tear them down.
  for (auto& m : *ms) {
    if (m.state == MachineState::kDestroyed || m.state == MachineState::kDestroying) continue;
    auto t = registry_->TransitionMachine(m.id, {}, MachineState::kDestroying, "destroy requested (app destroyed)");
    if (!t.ok() && t.status().code() != Code::kNotFound) return t.status();
  }
  const MonoTime deadline = clock_->Now() + kAppTeardownWait;
  for (auto& m : *ms) {
    const Duration left = std::max(deadline - clock_->Now(), Duration(0));
    auto w = api::WaitForMachineState(registry_, m.id, {MachineState::kDestroyed}, left, client, *clock_);
    if (!w.ok() && w.status().code() != Code::kNotFound)
      return Unavailable("app '" + name + "': machine " + m.id + " is still being destroyed (" + w.status().message() +
                         "); try again");
  }
  return registry_->DestroyApp(name);
}

}  // namespace privcast::daemon
