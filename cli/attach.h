// Attaching this terminal (or these pipes) to a process in a machine: `machine run --shell`
// and `ssh console`. Our stdin/stdout/stderr go to the daemon by SCM_RIGHTS with the request;
// on a terminal it is put in raw mode for the session (cli/terminal.h: restored on every exit
// path and on SIGTERM/SIGHUP/SIGINT/SIGQUIT), the window size and TERM are sent, and SIGWINCH is passed
// on through a pipe whose read end is the 4th fd (docs/cli.md, docs/api.md).
//
// Not thread-safe (signal handlers reach the terminal state through globals; one at a time).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/client.h"

namespace privcast::cli {

// POSTs `body` (with "tty", and on a terminal "rows", "cols", env TERM added) to `target`
// with our stdio, reads the ndjson event stream and returns the process's exit code.
// Throws CommandFailure (cli/extend.h) with the daemon's error; `app` names it in hints.
int RunAttachedStream(api::Client& client, const std::string& target, nlohmann::json body, const std::string& app);

}  // namespace privcast::cli
