// AppConfig ⇄ JSON: how a release stores its parsed, validated config (store's
// Release::config_json) and how the API hands it around.
//
// The JSON is a complete, explicit dump of the model (defaults included, durations in ms,
// kill_signal by name), so FromJson(ToJson(x)) == x for every valid x. FromJson treats its
// input as untrusted: wrong types, bad enums and everything ValidateAppConfig refuses come
// back as a Status (kInvalidArgument) naming the key path; missing keys take Fly's
// defaults; unknown keys are ignored. Never throws. Thread-safe (stateless).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "config/app_config.h"

namespace privcast::config {

std::string ToJson(const AppConfig& config);
Result<AppConfig> FromJson(std::string_view json);

}  // namespace privcast::config
