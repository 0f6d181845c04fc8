// What every command group (cli/<group>.cc, registered by cli/groups.h) gets from the core
// (cli/commands.cc): the streams, the API connection, the action to run after parsing, and
// the small helpers every group uses (app flags, JSON calls, output).
//
// Contract: a group's command runs after parsing, through Context::set_action; it writes
// to ctx.out / ctx.err and reports a failure by throwing CommandFailure (or any
// std::exception): the core prints "Error: <what>" and exits 1. State a command's options
// bind to must outlive the parse and the action: keep it in a shared_ptr captured by the
// command's callback (CLI11 keeps the callback as long as the App).
// Not thread-safe (one CLI run at a time).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "api/client.h"

namespace privcast::cli {

struct CommandFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Context {
  std::ostream& out;
  std::ostream& err;
  std::function<api::Client&()> client;                  // connects on first use
  std::function<void(std::function<int()>)> set_action;  // what runs after parsing
  // What followed "--" on the command line (machine run IMAGE -- CMD ARGS...), kept out of
  // CLI11's parse so it never mixes with the positionals before it; set before parsing.
  std::vector<std::string> after_dashdash;
};

// A subcommand of `parent` whose callback makes `action` the command to run.
CLI::App* AddCommand(Context& ctx, CLI::App* parent, const std::string& name, const std::string& desc,
                     std::function<int()> action);
// The subcommand of `parent` named (or aliased) `name`, or null.
CLI::App* FindSubcommand(const CLI::App* parent, const std::string& name);
// A duration flag as flyctl takes it ("10s", "1m", "1m30s"; a bare number is seconds), at
// most max_s seconds.
CLI::Validator DurationCheck(int64_t max_s);
// -a/--app and -c/--config, as every app command takes them.
void AddAppFlags(CLI::App* c, std::string* app, std::string* config);
// -a wins, else fly.toml's app; throws CommandFailure naming both ways.
std::string AppName(const std::string& app, const std::string& config);
std::string UrlEnc(const std::string& s);

// One request: the status and the parsed body (null when it is not JSON). A transport error
// throws CommandFailure; any status returns.
std::pair<int, nlohmann::json> CallRaw(Context& ctx, const std::string& method, const std::string& target,
                                       const std::string& body);
// What a non-2xx answer says: the daemon's {"error": ...}, else "privcastd answered HTTP N".
std::string ErrorOf(int status, const nlohmann::json& j);
// One JSON request; a non-2xx answer or a transport error throws CommandFailure with the
// daemon's message. `body` null = no body.
nlohmann::json CallJson(Context& ctx, const std::string& method, const std::string& target,
                        const nlohmann::json& body = nullptr);
void PrintJson(Context& ctx, const nlohmann::json& j);

// Before CLI11 parses: an argument where a subcommand must be (a parent with subcommands and
// no positionals) that names none is `Error: unknown command "x" for "privcast apps"`, with
// close names suggested (Levenshtein <= 2, or a prefix), exit 1: cobra's (flyctl's) wording.
// nullopt when the command line names known commands all the way down.
std::optional<int> CheckUnknownCommand(const CLI::App& root, const std::vector<std::string>& args_in_order,
                                       std::ostream& err);

// Edit distance (for the suggestions; exposed for tests).
size_t Levenshtein(const std::string& a, const std::string& b);

}  // namespace privcast::cli
