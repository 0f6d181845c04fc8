// Fly's .internal names over the API's machine list (cli/internal_names.h).
#include "cli/internal_names.h"

#include <sstream>
#include <vector>

#include "cli/json_fields.h"

namespace privcast::cli {

Result<std::optional<InternalName>> ParseInternalName(const std::string& host) {
  const std::string suffix = ".internal";
  if (host.size() <= suffix.size() || host.compare(host.size() - suffix.size(), suffix.size(), suffix) != 0)
    return std::optional<InternalName>();
  std::vector<std::string> labels;
  std::stringstream ss(host.substr(0, host.size() - suffix.size()));
  for (std::string l; std::getline(ss, l, '.');) labels.push_back(l);
  InternalName n;
  if (!labels.empty()) n.app = labels.back();
  if (labels.size() == 2) n.region = labels[0];
  else if (labels.size() == 3 && labels[1] == "vm") n.machine_id = labels[0];
  if (n.app.empty() || (labels.size() != 1 && n.region.empty() && n.machine_id.empty()))
    return InvalidArgument("cannot resolve " + host +
                           ": use <app>.internal, <region>.<app>.internal or <id>.vm.<app>.internal");
  return std::optional<InternalName>(n);
}

Result<std::string> PickInternalAddress(const InternalName& name, const nlohmann::json& machines,
                                        const std::string& host) {
  std::string seen;  // a machine that matched but is not started, for the error
  if (machines.is_array())
    for (int pass = 0; pass < 2; ++pass)  // serving the app's services first, then any
      for (const auto& m : machines) {
        if (!m.is_object() || S(m, "private_ip").empty()) continue;
        if (!name.machine_id.empty() && S(m, "id") != name.machine_id) continue;
        if (!name.region.empty() && S(m, "region") != name.region) continue;
        if (S(m, "state") != "started") {
          seen = S(m, "id") + " is " + S(m, "state");
          continue;
        }
        if (pass == 0 && S(m, "services") != "true") continue;
        return S(m, "private_ip");
      }
  return FailedPrecondition("no started machine answers " + host + (seen.empty() ? "" : " (machine " + seen + ")") +
                            ": .internal addresses do not wake machines; use " + name.app + ".flycast, or start one");
}

}  // namespace privcast::cli
