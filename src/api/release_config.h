// Deploy-time validation of fly.toml for POST /v1/apps/{app}/releases: parse and validate
// with src/config, collect warnings (the file's own and the deploy-time ones: every privcast
// address is private, so force_https = true warns), and serialise the validated config for
// Registry::CreateRelease. Nothing here touches the store. Thread-safe (pure).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace privcast::api {

struct ValidatedConfig {
  std::string config_json;            // config::ToJson of the validated config
  std::vector<std::string> warnings;  // one line each, "fly.toml:3:1: key: message"
};

// kInvalidArgument with the config module's "file:line:col: path: message" lines (one per
// error).
Result<ValidatedConfig> ValidateFlyToml(std::string_view source, std::string_view path, const std::string& app);

}  // namespace privcast::api
