// `privcast volumes …` (docs/cli.md, docs/volumes.md), flyctl's shapes:
//   volumes create NAME [--size GB] [--region R] [-a APP] [-y] [--json]
//   volumes list [-a APP] [--json]          (alias ls)
//   volumes show ID [--json]
//   volumes destroy ID... [-y]              (aliases delete, rm)
// Registered by RegisterVolumes (cli/groups.h); errors are thrown (the core prints
// "Error: …" and exits 1). Not thread-safe (the CLI is one thread).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace privcast::cli {

// "NAME_OR_ID:/path" (machine run -v) → the Machines API's mounts entry; throws on bad shape.
nlohmann::json VolumeMountArg(const std::string& spec);

}  // namespace privcast::cli
