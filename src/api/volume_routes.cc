#include "api/volume_routes.h"

#include <nlohmann/json.hpp>

#include "api/codec.h"
#include "api/route_base.h"
#include "common/ids.h"

namespace privcast::api {
namespace {

using nlohmann::json;

// The volume `id`, checked to belong to `app` when one is given.
Result<store::Volume> Lookup(store::Registry* reg, const std::string& id, const std::string* app) {
  PC_ASSIGN_OR_RETURN(store::Volume v, reg->GetVolume(id));
  if (app && v.app != *app)
    return NotFound("app \"" + *app + "\" has no volume " + id + " (privcast volumes list -a " + *app + ")");
  return v;
}

}  // namespace

void ListVolumesRoute(RouteCall& c, const std::string* app) {
  auto l = c.registry->ListVolumes(app ? std::optional<std::string>(*app) : std::nullopt);
  if (!l.ok()) return Fail(c.ex, l.status());
  json a = json::array();
  for (const auto& v : *l) a.push_back(ToJson(v));
  Reply(c.ex, 200, a);
}

void CreateVolumeRoute(RouteCall& c, const std::string& app) {
  auto q = DecodeVolume(c.req.body);
  if (!q.ok()) return Fail(c.ex, q.status());
  auto v = c.registry->CreateVolume(app, q->name, q->region, q->size_gb);
  if (!v.ok()) return Fail(c.ex, v.status());
  Reply(c.ex, 201, ToJson(*v));
}

void GetVolumeRoute(RouteCall& c, const std::string* app, const std::string& id) {
  auto v = Lookup(c.registry, id, app);
  if (!v.ok()) return Fail(c.ex, v.status());
  Reply(c.ex, 200, ToJson(*v));
}

void DestroyVolumeRoute(RouteCall& c, const std::string* app, const std::string& id) {
  auto v = Lookup(c.registry, id, app);
  if (!v.ok()) return Fail(c.ex, v.status());
  if (Status st = c.registry->DestroyVolume(v->id); !st.ok()) return Fail(c.ex, st);
  json j = ToJson(*v);
  j["state"] = "destroyed";
  Reply(c.ex, 200, j);
}

Result<std::string> ResolveMachineVolume(store::Registry* reg, const std::string& app, const std::string& name_or_id) {
  if (ids::IsVolumeId(name_or_id)) {
    PC_ASSIGN_OR_RETURN(store::Volume v, reg->GetVolume(name_or_id));
    return v.id;  // the attach (same Txn as the machine) checks app and attachment
  }
  PC_ASSIGN_OR_RETURN(std::vector<store::Volume> vs, reg->ListVolumes(app));
  std::string attached;
  for (const auto& v : vs) {
    if (v.name != name_or_id) continue;
    if (v.attached_machine_id.empty()) return v.id;
    attached += (attached.empty() ? "" : ", ") + v.id + " (machine " + v.attached_machine_id + ")";
  }
  if (!attached.empty())
    return FailedPrecondition("every volume named \"" + name_or_id + "\" of app \"" + app +
                              "\" is attached: " + attached + "; create another (privcast volumes create " +
                              name_or_id + " -a " + app + ")");
  return NotFound("app \"" + app + "\" has no volume named \"" + name_or_id + "\" (privcast volumes create " +
                  name_or_id + " -a " + app + ")");
}

}  // namespace privcast::api
