// Loading fly.toml: text → validated AppConfig, or every error, one line each naming
// file:line:col and the key path. toml++ is seen only by load.cc and region_file.cc.
//
// Error policy: nothing here throws or crashes on any input (the loader is fuzzed). A file
// is refused with all its errors in file order, one per line of the Status message, e.g.
//   fly.toml:3:17: http_service.internal_port: expected a port number (1-65535), got "x"
//   fly.toml:4:1: syntax error: <toml++'s description>
// (with a syntax error, the errors of the lines before it are found too). Values are read
// as flyctl reads them, coercions included (docs/fly-toml.md). Warnings (unknown keys, keys
// accepted and ignored, auto_stop without auto_start) do not refuse the file; the caller
// prints them and proceeds. Stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/app_config.h"

namespace privcast::config {

struct LoadedConfig {
  AppConfig config;
  std::vector<Diagnostic> warnings;  // in file order
};

// Files larger than this are refused before parsing.
inline constexpr size_t kMaxFlyTomlBytes = 1 << 20;

struct LoadOptions {
  // The app the command is about (the CLI's -a). When set it replaces the file's `app`
  // before validation, as in flyctl, so a template's `app = "{APP_NAME}"` deploys with -a.
  std::string app;
};

// Parse and validate. `filename` is used only in messages ("fly.toml" when empty).
// Errors are Code::kInvalidArgument with one line per error (no trailing newline).
Result<LoadedConfig> ParseFlyToml(std::string_view text, std::string_view filename, const LoadOptions& options = {});
// Read `path` and ParseFlyToml it, naming it `path` in messages. A missing or unreadable
// file is Code::kNotFound / kIo.
Result<LoadedConfig> LoadFlyToml(const std::string& path, const LoadOptions& options = {});

// A fly.toml document as JSON with its own keys and nesting (`privcast config show`, as
// flyctl prints an app's config): tables are objects, arrays arrays, dates strings.
// kInvalidArgument on a syntax error.
Result<std::string> FlyTomlAsJson(std::string_view text);

// Semantic checks on a model, whatever its origin (ParseFlyToml runs them; FromJson too):
// names, ranges, enums, soft_limit <= hard_limit, handlers, process groups referenced by
// services, [[vm]], [[restart]] and [checks] exist, no external port used twice per
// protocol. Returns errors sorted by position (positions come from config.source).
std::vector<Diagnostic> ValidateAppConfig(const AppConfig& config);
// Warnings about a valid model: auto_stop_machines enabled while auto_start_machines = false.
std::vector<Diagnostic> ConfigWarnings(const AppConfig& config);
// Warnings that depend on the app's addresses at deploy time: force_https = true on an app
// whose only addresses are private (private clients would get a 301 to an https URL that has
// no certificate). Print these in addition to LoadedConfig::warnings.
std::vector<Diagnostic> DeployWarnings(const AppConfig& config, bool has_public_ips);

}  // namespace privcast::config
