#include "common/service_scope.h"

#include <algorithm>

namespace privcast {

bool ServesGroup(const ServiceSpec& svc, std::string_view group) {
  if (svc.processes.empty()) return true;
  return std::find(svc.processes.begin(), svc.processes.end(), group) != svc.processes.end();
}

std::vector<std::string> ServiceNames(const std::vector<ServiceSpec>& services,
                                      const std::vector<std::string>& groups) {
  std::vector<std::string> out;
  for (const ServiceSpec& s : services)
    if (!s.name.empty()) out.push_back(s.name);
  for (const std::string& g : groups)
    if (std::any_of(services.begin(), services.end(), [&](const ServiceSpec& s) { return ServesGroup(s, g); }))
      out.push_back(g);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<std::vector<ServiceSpec>> ServiceScope(const std::vector<ServiceSpec>& services,
                                                     const std::vector<std::string>& groups, std::string_view name) {
  if (name.empty()) return std::nullopt;
  for (const ServiceSpec& s : services)
    if (s.name == name) return std::vector<ServiceSpec>{s};
  if (std::find(groups.begin(), groups.end(), name) == groups.end()) return std::nullopt;
  std::vector<ServiceSpec> out;
  for (const ServiceSpec& s : services) {
    if (!ServesGroup(s, name)) continue;
    out.push_back(s);
    out.back().processes = {std::string(name)};  // only that group's machines
  }
  if (out.empty()) return std::nullopt;
  return out;
}

bool InScope(const MachineView& m, const std::vector<ServiceSpec>& scope) {
  if (!m.carries_services) return false;
  return std::any_of(scope.begin(), scope.end(), [&](const ServiceSpec& s) { return ServesGroup(s, m.process_group); });
}

}  // namespace privcast
