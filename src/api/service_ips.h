// Per-service flycast addresses (`<service>.svc.<app>.flycast`, ADR 0013) for the API routes:
// which service names an app has, checking a name before `ips allocate-v6 --service`, and
// the addresses `deploy --flycast` allocates for every process group that has a service.
//
// Reads and writes through the Registry only; thread-safe as the Registry is.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "config/app_config.h"
#include "store/model.h"
#include "store/registry.h"

namespace privcast::api {

// The app's service names (common/service_scope.h ServiceNames) under `config`.
std::vector<std::string> ServiceNamesOf(const config::AppConfig& config);

// Ok when the app's current release has a service `name`; else InvalidArgument naming the
// app's services (or saying it has no release yet).
Status CheckServiceName(store::Registry* reg, const std::string& app, const std::string& name);

// `deploy --flycast`: a per-service address on the app's own network for every [processes]
// group that some service serves, when the app has two groups or more (with one group the
// app's address is that group's). Idempotent: existing addresses are returned.
Result<std::vector<store::IpAssignment>> EnsureGroupFlycast(store::Registry* reg, const std::string& app,
                                                            const config::AppConfig& config);

}  // namespace privcast::api
