#include "api/service_ips.h"

#include <algorithm>

#include "common/service_scope.h"
#include "config/json.h"
#include "config/services.h"

namespace privcast::api {

std::vector<std::string> ServiceNamesOf(const config::AppConfig& config) {
  return ServiceNames(config::ToServiceSpecs(config), config::ProcessGroups(config));
}

Status CheckServiceName(store::Registry* reg, const std::string& app, const std::string& name) {
  auto rel = reg->CurrentRelease(app);
  if (!rel.ok()) return rel.status();
  if (!rel->has_value())
    return InvalidArgument("app '" + app + "' has no release yet, so no service '" + name +
                           "': deploy it first (services are [processes] groups with a service, or "
                           "[[services]] entries with name = \"...\")");
  auto cfg = config::FromJson((*rel)->config_json);
  if (!cfg.ok()) return cfg.status();
  std::vector<std::string> names = ServiceNamesOf(*cfg);
  if (std::find(names.begin(), names.end(), name) != names.end()) return Status::Ok();
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  return InvalidArgument("app '" + app + "' has no service '" + name +
                         "' (services: " + (list.empty() ? "none" : list) + ")");
}

Result<std::vector<store::IpAssignment>> EnsureGroupFlycast(store::Registry* reg, const std::string& app,
                                                            const config::AppConfig& config) {
  std::vector<store::IpAssignment> out;
  // One group: the app's own address already reaches exactly that group's machines, and
  // `ips list` of a one-group app stays one row (`ips allocate-v6 --service` still works).
  if (config.processes.size() < 2) return out;
  const std::vector<ServiceSpec> specs = config::ToServiceSpecs(config);
  for (const auto& [group, command] : config.processes) {
    const std::string& g = group;
    if (!std::any_of(specs.begin(), specs.end(), [&](const ServiceSpec& s) { return ServesGroup(s, g); })) continue;
    // The app's own network (no org, no network): AllocateFlycast returns an existing one.
    auto ip = reg->AllocateFlycast(app, std::nullopt, std::nullopt, group);
    if (!ip.ok()) return ip.status();
    out.push_back(std::move(ip).value());
  }
  return out;
}

}  // namespace privcast::api
