// Restarting machines, shared by `machine restart`, `apps restart` and `secrets set/unset`
// (which, as on Fly, roll the app's machines so they see the new environment).
// Throws CommandFailure (cli/extend.h); not thread-safe.
#pragma once

#include <string>

#include "cli/extend.h"

namespace privcast::cli {

// Stop (waiting for `stopped`), then start (waiting for `started`; `failed` throws with the
// reason). Prints "Restarting machine ID" and "Machine ID restarted".
void RestartMachine(Context& ctx, const std::string& app, const std::string& id, int wait_s);
// Every started machine of the app, one after the other (flyctl's rolling restart);
// returns how many. Others are left as they are (they read the new state on their next start).
int RestartApp(Context& ctx, const std::string& app, int wait_s);

}  // namespace privcast::cli
