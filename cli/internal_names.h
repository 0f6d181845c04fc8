// `privcast proxy ... <app>.internal`: Fly's internal DNS names resolved as Fly's resolver
// answers them, from the app's machines as the API lists them.
//
//   <app>.internal              any machine of the app
//   <region>.<app>.internal     the app's machines in that region
//   <id>.vm.<app>.internal      that machine
//
// The address is a machine's 6PN address: a started machine that serves the app's services
// first, else any started one. Like Fly's, .internal names never wake a machine, so with none
// started the answer is an error that says to use <app>.flycast.
//
// Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/result.h"

namespace privcast::cli {

struct InternalName {
  std::string app, region, machine_id;  // region / machine_id empty when not part of the name
};

// nullopt when `host` does not end in ".internal"; an error for a .internal name of another shape.
Result<std::optional<InternalName>> ParseInternalName(const std::string& host);

// `machines`: GET /v1/apps/{app}/machines. `host` is only for the error text.
Result<std::string> PickInternalAddress(const InternalName& name, const nlohmann::json& machines,
                                        const std::string& host);

}  // namespace privcast::cli
