// `privcast platform regions`: the region table in force (ADR 0018), as flyctl's
// `fly platform regions` lists Fly's. Registered by RegisterExtraCommands (cli/extend.cc).
#pragma once

#include "cli/extend.h"

namespace privcast::cli {

void RegisterPlatform(CLI::App& root, Context& ctx);

}  // namespace privcast::cli
