// DecodePlan: an app's stored release (config JSON) → what the daemon needs to run and route
// it (AppPlan: process groups with commands, limits, restart policy and internal ports;
// ReleaseInfo: services, kill signal/timeout, primary region). Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/app_config.h"
#include "daemon/machine_manager.h"
#include "store/model.h"
#include "supervisor/restart.h"

namespace privcast::daemon {

Result<AppPlan> DecodePlan(const store::Release& release);
// [[restart]] policy → the supervisor's restart mode (total: every policy has one).
supervisor::RestartMode ToRestartMode(config::RestartPolicy p);

// A [processes] command as Fly runs it: split into argv with shell quoting rules (quotes and
// backslashes), so the program itself is the machine's main process and receives
// kill_signal. nullopt when the command needs a shell (pipes, redirections, variables,
// globs, `;`, `&&`...): the caller then runs it with /bin/sh -c.
std::optional<std::vector<std::string>> SplitCommand(const std::string& command);

// Can a machine exec argv[0] with this environment (PATH may be among `env`)? Refused with
// the reason (supervisor::CheckProgramInMachine): a command outside what a machine sees,
// missing, not executable or not in PATH. Checks the host's filesystem: call it off the data path.
Status CheckMachineCommand(const std::vector<std::string>& argv,
                           const std::vector<std::pair<std::string, std::string>>& env);
// Every process group's command (a shell command: /bin/sh), before a deploy stores it; the
// first failure, prefixed "[processes] <group>: ". Groups without a command are not checked here.
Status CheckPlanCommands(const AppPlan& plan);

}  // namespace privcast::daemon
