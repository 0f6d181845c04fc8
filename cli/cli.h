// The `privcast` command line (docs/cli.md): flyctl-shaped commands that talk to
// privcastd's API over its Unix socket.
//
// Exit codes: 0 success; 1 an error (one line "Error: <what and how to fix>" on stderr), a
// usage error included (the message and the command's usage on stderr), as flyctl exits.
// `machine run --shell` exits with the machine's exit code.
//
// RunCli is the whole program minus process setup, so tests can drive it in-process with
// their own streams. Not thread-safe (parses argv, may touch the terminal).
#pragma once

#include <ostream>
#include <string>

namespace privcast::cli {

inline constexpr const char* kVersion = "0.1.0";

// `api_env` is the value of PRIVCAST_API ("" when unset).
int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err, const std::string& api_env);

}  // namespace privcast::cli
