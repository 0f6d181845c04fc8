// What the API's route handlers share (routes.cc, machine_routes.cc, volume_routes.cc):
// JSON answers and errors on an Exchange, and RouteBase, a handler's view of one request with
// the lookups that answer their own 404. Internal to src/api.
//
// Thread-safety: a RouteBase lives for one request on one connection thread.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/codec.h"
#include "api/route_table.h"

namespace privcast::api {

inline constexpr std::string_view kJson = "application/json";

std::string Dump(const nlohmann::json& j);  // compact; invalid UTF-8 replaced, never thrown
void Reply(Exchange& ex, int status, const nlohmann::json& j);
void Fail(Exchange& ex, const Status& st);  // HttpStatusFor(code), {"error": message}
void Fail(Exchange& ex, int status, std::string_view msg);

template <typename T>
nlohmann::json List(const std::vector<T>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (auto& x : v) a.push_back(ToJson(x));
  return a;
}

// A query flag: "1", "true" or "yes".
bool Truthy(const std::string* v);

class RouteBase {
 public:
  explicit RouteBase(RouteCall& c) : reg_(c.registry), backend_(c.backend), opts_(c.opts), req_(c.req), ex_(c.ex) {}

  // The app, or a 404 response already sent.
  std::optional<store::App> App(const std::string& name);
  // Machine `id` of app `app`, or a 404 naming the app's machines (already sent).
  std::optional<store::Machine> MachineOf(const std::string& app, const std::string& id);

 protected:
  store::Registry* reg_;
  Backend* backend_;
  const ServerOptions* opts_;
  const http::Request& req_;
  Exchange& ex_;
};

}  // namespace privcast::api
