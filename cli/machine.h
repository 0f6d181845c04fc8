// What the `privcast machine` commands share (cli/machine.cc: list, status, start, stop,
// suspend, destroy; cli/machine_run.cc: run). Throws CommandFailure (cli/extend.h); not
// thread-safe.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/extend.h"

namespace privcast::cli {

// /v1/apps/<app>/machines[/<id>]
std::string MachinePath(const std::string& app, const std::string& id = "");

// Waits (bounded by timeout_s; <= 0: does not wait) for a machine to reach `state`; returns
// the state reached (e.g. "failed") or "" on timeout.
std::string WaitState(Context& ctx, const std::string& app, const std::string& id, const std::string& state,
                      int timeout_s);

// A machine whose start failed: throws the error, with the reason its record gives.
[[noreturn]] void ThrowFailedStart(Context& ctx, const std::string& app, const std::string& id);

// Adds `machine run` to the machine group (cli/machine_run.cc).
void AddMachineRun(CLI::App* machine, Context& ctx);

}  // namespace privcast::cli
