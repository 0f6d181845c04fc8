// `privcast volumes …` (docs/cli.md, docs/volumes.md), flyctl's shapes:
//   volumes create NAME [--size GB] [--region R] [-a APP] [-y] [--json]
//   volumes list [-a APP] [--json]          (alias ls)
//   volumes show ID [--json]
//   volumes destroy ID... [-y]              (aliases delete, rm)
// Registered by cli/commands.cc with what a command group needs from the Cli; errors are
// thrown (the Cli prints "Error: …" and exits 1). Not thread-safe (the CLI is one thread).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

namespace privcast::cli {

struct CommandContext {
  std::ostream* out = nullptr;
  // An API call: the answer's JSON on 2xx, else throws with the daemon's message.
  std::function<nlohmann::json(const std::string& method, const std::string& target, const nlohmann::json& body)> call;
  // -a/--app and -c/--config → the app (throws when neither names one).
  std::function<std::string(const std::string& app, const std::string& config)> resolve_app;
  // Adds a subcommand whose action runs `action` after parsing.
  std::function<CLI::App*(CLI::App* parent, const std::string& name, const std::string& desc, std::function<int()> action)>
      sub;
};

void RegisterVolumeCommands(CLI::App* root, const CommandContext& ctx);

// "NAME_OR_ID:/path" (machine run -v) → the Machines API's mounts entry; throws on bad shape.
nlohmann::json VolumeMountArg(const std::string& spec);

}  // namespace privcast::cli
