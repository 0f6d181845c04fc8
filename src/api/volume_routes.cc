#include "api/volume_routes.h"

#include <nlohmann/json.hpp>

#include "api/codec.h"
#include "common/ids.h"

namespace privcast::api {
namespace {

using nlohmann::json;

void Reply(Exchange& ex, int status, const json& j) {
  ex.Respond(status, "application/json", j.dump(-1, ' ', false, json::error_handler_t::replace));
}
void Fail(Exchange& ex, const Status& st) { ex.Respond(HttpStatusFor(st.code()), "application/json", ErrorBody(st.message())); }

bool Allowed(const http::Request& req, Exchange& ex, std::initializer_list<const char*> methods) {
  std::string list;
  for (const char* m : methods) {
    if (req.method == m) return true;
    list += std::string(list.empty() ? "" : ", ") + m;
  }
  ex.Respond(405, "application/json", ErrorBody("method " + req.method + " not allowed on " + req.path + " (allowed: " + list + ")"));
  return false;
}

// The volume `id`, checked to belong to `app` when one is given.
Result<store::Volume> Lookup(store::Registry* reg, const std::string& id, const std::string* app) {
  PC_ASSIGN_OR_RETURN(store::Volume v, reg->GetVolume(id));
  if (app && v.app != *app) return NotFound("app \"" + *app + "\" has no volume " + id + " (privcast volumes list -a " + *app + ")");
  return v;
}

}  // namespace

void HandleVolumes(store::Registry* reg, const http::Request& req, Exchange& ex, const std::vector<std::string>& s,
                   const std::string* app) {
  const size_t base = app ? 4 : 2;  // parts before the volume id
  if (s.size() == base) {
    if (!Allowed(req, ex, app ? std::initializer_list<const char*>{"GET", "POST"} : std::initializer_list<const char*>{"GET"}))
      return;
    if (req.method == "GET") {
      auto l = reg->ListVolumes(app ? std::optional<std::string>(*app) : std::nullopt);
      if (!l.ok()) return Fail(ex, l.status());
      json a = json::array();
      for (const auto& v : *l) a.push_back(ToJson(v));
      return Reply(ex, 200, a);
    }
    auto q = DecodeVolume(req.body);
    if (!q.ok()) return Fail(ex, q.status());
    auto v = reg->CreateVolume(*app, q->name, q->region, q->size_gb);
    if (!v.ok()) return Fail(ex, v.status());
    return Reply(ex, 201, ToJson(*v));
  }
  if (s.size() == base + 1) {
    if (!Allowed(req, ex, {"GET", "DELETE"})) return;
    auto v = Lookup(reg, s[base], app);
    if (!v.ok()) return Fail(ex, v.status());
    if (req.method == "GET") return Reply(ex, 200, ToJson(*v));
    if (Status st = reg->DestroyVolume(v->id); !st.ok()) return Fail(ex, st);
    json j = ToJson(*v);
    j["state"] = "destroyed";
    return Reply(ex, 200, j);
  }
  ex.Respond(404, "application/json", ErrorBody("no such route: " + req.method + " " + req.path + " (see docs/api.md)"));
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
    return FailedPrecondition("every volume named \"" + name_or_id + "\" of app \"" + app + "\" is attached: " + attached +
                              "; create another (privcast volumes create " + name_or_id + " -a " + app + ")");
  return NotFound("app \"" + app + "\" has no volume named \"" + name_or_id + "\" (privcast volumes create " + name_or_id +
                  " -a " + app + ")");
}

}  // namespace privcast::api
