// DecodePlan: an app's stored release (config JSON) → what the daemon needs to run and route
// it (AppPlan: process groups with commands, limits, restart policy and internal ports;
// ReleaseInfo: services, kill signal/timeout, primary region). Pure; thread-safe.
#pragma once

#include "daemon/machine_manager.h"
#include "store/model.h"

namespace privcast::daemon {

Result<AppPlan> DecodePlan(const store::Release& release);

}  // namespace privcast::daemon
