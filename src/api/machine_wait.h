// Waiting for a machine to reach a state, as the API's callers do (`machines/{id}/wait`, an
// app's teardown in the daemon's Backend): by the store's revision feed, never by polling
// faster than it changes. Blocks the calling thread (an API connection's); thread-safe as
// the Registry is.
#pragma once

#include <string>
#include <vector>

#include "api/backend.h"
#include "common/clock.h"
#include "common/result.h"
#include "store/registry.h"

namespace privcast::api {

// Waits until machine `id` is in one of `states`, for at most `timeout` on `clock`. NotFound
// when its record is gone; Unavailable("timed out waiting for machine ... (it is <state>)") on
// timeout or when `client` left. Between two store changes it reads the clock (and the
// client) at least every kMachineWaitRecheck of real time.
inline constexpr Duration kMachineWaitRecheck = std::chrono::milliseconds(500);
Result<store::Machine> WaitForMachineState(store::Registry* reg, const std::string& id,
                                           const std::vector<store::MachineState>& states, Duration timeout,
                                           const ClientWatch& client, const Clock& clock);

}  // namespace privcast::api
