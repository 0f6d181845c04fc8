// Uninstall: `privcastd --uninstall`, the one explicit step that removes privcast's isolation
// rules from a host (the nftables table outlives the daemon on purpose, so that
// stopping, crashing or upgrading privcastd never opens the networks to each other).
//
// It takes the data dir's lock (so no daemon runs on it), refuses while any machine recorded in
// the data dir still runs (their isolation would go with the table), then deletes the table
// `inet privcast` and the host network (`privcast0`, its unreachable routes) of the calling
// network namespace. The data dir itself is left for the operator.
// Blocking; called from main only.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace privcast::daemon {

// Machine ids whose runtime record (<machines_dir>/<id>/runtime) names a live process.
std::vector<std::string> RunningMachines(const std::string& machines_dir);

// Ok with a human summary of what was removed; FailedPrecondition when a daemon holds the data
// dir or machines still run.
[[nodiscard]] Result<std::string> Uninstall(const std::string& data_dir);

}  // namespace privcast::daemon
