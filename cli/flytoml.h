// How the CLI finds the app a command is about: `-a APP`, else `app = "..."` in ./fly.toml
// (or the file given with -c). The file is scanned for its top-level `app` key only (before
// the first [table]), so a fly.toml with an error elsewhere still names its app; `deploy`
// validates the whole file separately.
//
// Also a small edit of a fly.toml's top-level keys (launch --copy-config).
//
// Pure functions (plus one file read); thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace privcast::cli {

// The top-level `app` of a fly.toml text, nullopt when absent.
std::optional<std::string> AppFromFlyTomlText(std::string_view text);

// -a wins; else the app of `config_path` (default "fly.toml" in the current folder).
// Errors name both ways to fix it.
Result<std::string> ResolveApp(const std::string& flag_app, const std::string& config_path);

// The fly.toml text with top-level `key = "value"` (launch --copy-config writes --name and
// --region so): the first top-level line of that key replaced, else a line added before the
// first [table] (or at the end). Every other line is kept as it was.
std::string SetTopLevelKey(const std::string& toml, const std::string& key, const std::string& value);

// Reads a whole fly.toml (kNotFound "PATH not found" when missing; else common/file.h's errors).
Result<std::string> ReadFlyToml(const std::string& path);

}  // namespace privcast::cli
