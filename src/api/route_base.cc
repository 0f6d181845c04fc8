#include "api/route_base.h"

namespace privcast::api {

using nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void Reply(Exchange& ex, int status, const json& j) { ex.Respond(status, kJson, Dump(j)); }
void Fail(Exchange& ex, const Status& st) { ex.Respond(HttpStatusFor(st.code()), kJson, ErrorBody(st.message())); }
void Fail(Exchange& ex, int status, std::string_view msg) { ex.Respond(status, kJson, ErrorBody(msg)); }

bool Truthy(const std::string* v) { return v && (*v == "1" || *v == "true" || *v == "yes"); }

// The app, or a 404 response already sent.
std::optional<store::App> RouteBase::App(const std::string& name) {
  auto r = reg_->GetApp(name);
  if (!r.ok()) {
    Fail(ex_, r.status());
    return std::nullopt;
  }
  return *r;
}

// Machine `id` of app `app`, or a 404 naming the app's machines (already sent).
std::optional<store::Machine> RouteBase::MachineOf(const std::string& app, const std::string& id) {
  auto m = reg_->GetMachine(id);
  if (m.ok() && m->app == app) return *m;
  if (!m.ok() && m.status().code() != Code::kNotFound) {
    Fail(ex_, m.status());
    return std::nullopt;
  }
  auto all = reg_->ListMachines(app);
  std::string names;
  if (all.ok())
    for (auto& x : *all) names += (names.empty() ? "" : ", ") + x.id;
  Fail(ex_, 404,
       "unknown machine '" + id + "' in app '" + app + "' (machines: " + (names.empty() ? "none" : names) + ")");
  return std::nullopt;
}

}  // namespace privcast::api
