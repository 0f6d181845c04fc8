// `privcast deploy` (and `config validate`, which says offline what deploy would say about
// the file): fly.toml checked here first, then one release on the daemon, then — with the
// rolling strategy — a wait, machine by machine, for the health checks. `launch` ends in a
// Deploy too (cli/launch.cc). Throws CommandFailure (cli/extend.h); not thread-safe.
#pragma once

#include <string>

#include "cli/extend.h"
#include "common/result.h"
#include <nlohmann/json.hpp>

namespace privcast::cli {

struct DeployArgs {
  std::string app, config;  // -a, -c
  bool flycast = false, ha = true, yes = false;
  std::string image, strategy = "rolling", wait_timeout = "5m";
  std::string region;  // --region ams,syd: machines per group in each (placement)
};

// --region ams,syd → ["ams", "syd"]; a code that is not one throws CommandFailure (exit 1).
nlohmann::json RegionList(const std::string& csv);

int Deploy(Context& ctx, const DeployArgs& d);

// A refused fly.toml: every error on a line of its own, each "Error: file:line:col: ..." on
// stderr; returns the exit code, 1.
int PrintConfigErrors(Context& ctx, const Status& st);

}  // namespace privcast::cli
