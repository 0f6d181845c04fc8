#include "daemon/plan.h"

#include <algorithm>

#include "config/json.h"
#include "config/services.h"

namespace privcast::daemon {

Result<AppPlan> DecodePlan(const store::Release& release) {
  auto cfg = config::FromJson(release.config_json);
  if (!cfg.ok()) return cfg.status();
  const config::AppConfig& c = cfg.value();
  AppPlan plan;
  plan.info.primary_region = c.primary_region;
  plan.info.services = config::ToServiceSpecs(c);
  plan.info.kill_signal = c.kill_signal;
  plan.info.kill_timeout_ms = c.kill_timeout_ms;
  plan.env = c.env;
  for (const auto& name : config::ProcessGroups(c)) {
    AppPlan::Group g;
    g.name = name;
    g.command = config::CommandFor(c, name);
    g.has_services = config::GroupHasServices(c, name);
    for (const auto& s : config::ServicesForGroup(c, name))
      if (std::find(g.internal_ports.begin(), g.internal_ports.end(), s.internal_port) == g.internal_ports.end())
        g.internal_ports.push_back(s.internal_port);
    g.memory_mb = config::MemoryMbFor(c, name);
    g.cpus = config::CpusFor(c, name);
    auto r = config::RestartFor(c, name);
    switch (r.policy) {
      case config::RestartPolicy::kAlways: g.restart_policy = "always"; break;
      case config::RestartPolicy::kNever: g.restart_policy = "never"; break;
      case config::RestartPolicy::kOnFailure: g.restart_policy = "on-failure"; break;
    }
    g.restart_retries = static_cast<int>(r.retries);
    plan.groups.push_back(std::move(g));
  }
  return plan;
}

}  // namespace privcast::daemon
