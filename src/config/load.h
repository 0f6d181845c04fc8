// Loading fly.toml: text → validated AppConfig, or one error line naming file:line:col and
// the key path. The only code in privcast that sees toml++ (load.cc).
//
// Error policy: nothing here throws or crashes on any input (the loader is fuzzed). A file
// is refused with the first error in file order, e.g.
//   fly.toml:12:17: http_service.concurrency.soft_limit: expected a positive integer, got -3
//   fly.toml:4:9: syntax error: <toml++'s description>
// Warnings (unknown keys, auto_stop without auto_start) do not refuse the file; the caller
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

// Parse and validate. `filename` is used only in messages ("fly.toml" when empty).
// Errors are Code::kInvalidArgument with the one-line message.
Result<LoadedConfig> ParseFlyToml(std::string_view text, std::string_view filename);
// Read `path` and ParseFlyToml it, naming it `path` in messages. A missing or unreadable
// file is Code::kNotFound / kIo.
Result<LoadedConfig> LoadFlyToml(const std::string& path);

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
