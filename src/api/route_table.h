// The API's route table: every route as (method, path pattern, handler) in one declarative
// list (ApiRoutes, routes.cc), and the one matcher that turns a request into a handler, a 404
// or a 405 with Allow. So routing lives in one place and tests can enumerate the routes.
//
// Patterns are paths of literal segments and {params} ("/v1/apps/{app}/machines/{id}"); a
// {param} matches any one segment (decoded), and the handler gets them in order. A path
// belongs to the first pattern in the table that matches it: a literal route listed before a
// {param} one shadows it ("/machines/run" before "/machines/{id}"), so a wrong method on a
// path is a 405 listing its pattern's methods, never a fall-through to another pattern.
//
// Thread-safety: the table is immutable once built; handlers may run on many connection
// threads at once (they hold no state of their own).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/backend.h"
#include "api/http.h"
#include "api/routes.h"
#include "api/server.h"
#include "store/registry.h"

namespace privcast::api {

// What a handler gets for one request.
struct RouteCall {
  store::Registry* registry;
  Backend* backend;
  const ServerOptions* opts;
  const http::Request& req;
  Exchange& ex;
  std::vector<std::string> params;  // the pattern's {params}, in order
};

using RouteHandler = void (*)(RouteCall& call);

struct Route {
  const char* method;   // "GET", "POST", "DELETE"
  const char* pattern;  // "/v1/apps/{app}/machines/{id}"
  RouteHandler handler;
};

struct RouteMatch {
  enum Kind { kFound, kNotFound, kMethodNotAllowed };
  Kind kind = kNotFound;
  const Route* route = nullptr;     // kFound
  std::vector<std::string> params;  // kFound
  std::string allow;                // kMethodNotAllowed: the pattern's methods, "GET, POST"
};

// `parts`: the request path split and decoded (http::SplitPath).
RouteMatch MatchRoute(const std::vector<Route>& table, std::string_view method, const std::vector<std::string>& parts);

// Every route of privcastd's API, in matching order (routes.cc). docs/api.md describes them.
const std::vector<Route>& ApiRoutes();

// Handlers of machine_routes.cc.
void ListMachinesRoute(RouteCall& c);    // GET    /v1/apps/{app}/machines
void CreateMachineRoute(RouteCall& c);   // POST   /v1/apps/{app}/machines
void RunMachineRoute(RouteCall& c);      // POST   /v1/apps/{app}/machines/run
void GetMachineRoute(RouteCall& c);      // GET    /v1/apps/{app}/machines/{id}
void DestroyMachineRoute(RouteCall& c);  // DELETE /v1/apps/{app}/machines/{id}
void StartMachineRoute(RouteCall& c);    // POST   /v1/apps/{app}/machines/{id}/start
void StopMachineRoute(RouteCall& c);     // POST   /v1/apps/{app}/machines/{id}/stop
void SuspendMachineRoute(RouteCall& c);  // POST   /v1/apps/{app}/machines/{id}/suspend
void WaitMachineRoute(RouteCall& c);     // GET    /v1/apps/{app}/machines/{id}/wait

// Handlers of routes_more.cc (releases, config, regions, org details, ssh console, secrets).
void RegionsRoute(RouteCall& c);          // GET  /v1/regions
void PlatformRegionsRoute(RouteCall& c);  // GET  /v1/platform/regions
void OrgRoute(RouteCall& c);              // GET  /v1/orgs/{org}
void ReleasesRoute(RouteCall& c);         // GET  /v1/apps/{app}/releases
void ConfigRoute(RouteCall& c);           // GET  /v1/apps/{app}/config
void ConsoleRoute(RouteCall& c);          // POST /v1/apps/{app}/machines/{id}/console
void ListSecretsRoute(RouteCall& c);      // GET  /v1/apps/{app}/secrets
void SetSecretsRoute(RouteCall& c);       // POST /v1/apps/{app}/secrets
void UnsetSecretsRoute(RouteCall& c);     // POST /v1/apps/{app}/secrets/unset

}  // namespace privcast::api
