// The route table (api/route_table.h): the matcher on a small table of its own, then the
// API's real table through the server — unknown paths are 404, a wrong method is a 405 with
// Allow, and every route in the table reaches its handler.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "api/client.h"
#include "api/route_table.h"
#include "fake_backend.h"

namespace privcast {
namespace {

using api::Route;
using api::RouteCall;
using api::RouteMatch;

void Nop(RouteCall&) {}

const std::vector<Route> kTable = {
    {"GET", "/v1/apps", Nop},
    {"POST", "/v1/apps", Nop},
    {"POST", "/v1/apps/{app}/machines/run", Nop},
    {"GET", "/v1/apps/{app}/machines/{id}", Nop},
    {"DELETE", "/v1/apps/{app}/machines/{id}", Nop},
};

TEST(RouteTableTest, LiteralsAndParams) {
  RouteMatch m = api::MatchRoute(kTable, "DELETE", {"v1", "apps", "web", "machines", "m1"});
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route, &kTable[4]);
  EXPECT_EQ(m.params, (std::vector<std::string>{"web", "m1"}));
  m = api::MatchRoute(kTable, "POST", {"v1", "apps"});
  ASSERT_EQ(m.kind, RouteMatch::kFound);
  EXPECT_EQ(m.route, &kTable[1]);
  EXPECT_TRUE(m.params.empty());
}

TEST(RouteTableTest, UnknownPathsAreNotFound) {
  for (const std::vector<std::string>& parts : std::vector<std::vector<std::string>>{
           {}, {"v1"}, {"v2", "apps"}, {"v1", "apps", "web", "machines"}, {"v1", "apps", "web", "machines", "m1", "x"}})
    EXPECT_EQ(api::MatchRoute(kTable, "GET", parts).kind, RouteMatch::kNotFound) << parts.size();
}

TEST(RouteTableTest, WrongMethodListsThePatternsMethods) {
  RouteMatch m = api::MatchRoute(kTable, "PUT", {"v1", "apps", "web", "machines", "m1"});
  EXPECT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, DELETE");
  // A literal listed first owns its path: GET .../machines/run is not machine "run".
  m = api::MatchRoute(kTable, "GET", {"v1", "apps", "web", "machines", "run"});
  EXPECT_EQ(m.kind, RouteMatch::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "POST");
}

TEST(RouteTableTest, ApiTableHasNoDuplicatesAndEveryPatternIsWellFormed) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const Route& r : api::ApiRoutes()) {
    EXPECT_TRUE(seen.emplace(r.method, r.pattern).second) << r.method << " " << r.pattern << " listed twice";
    EXPECT_EQ(r.pattern[0], '/') << r.pattern;
    EXPECT_NE(r.handler, nullptr) << r.pattern;
    // Each route is what the matcher finds for its own method and pattern.
    auto parts = api::http::SplitPath(r.pattern);
    ASSERT_TRUE(parts) << r.pattern;
    RouteMatch m = api::MatchRoute(api::ApiRoutes(), r.method, *parts);
    ASSERT_EQ(m.kind, RouteMatch::kFound) << r.method << " " << r.pattern;
    EXPECT_STREQ(m.route->pattern, r.pattern) << "shadowed by an earlier pattern";
  }
}

class ApiRoutingTest : public ::testing::Test {
 protected:
  ApiRoutingTest() : client_(h_.socket()) {}

  std::pair<int, std::string> Do(const std::string& method, const std::string& target, const std::string& body = "") {
    auto r = client_.Call(method, target, body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {0, ""};
    return {r->status, r->body};
  }

  // The raw response (head and body) to one request on a fresh connection.
  std::string Raw(const std::string& request) { return h_.RawExchange(request); }

  testing::ApiHarness h_;
  api::Client client_;
};

TEST_F(ApiRoutingTest, UnknownPathIs404) {
  for (const char* path : {"/", "/v1", "/v2/apps", "/v1/nothing", "/v1/apps/web/machines/m1/explode", "/metrics/x"}) {
    auto [st, body] = Do("GET", path);
    EXPECT_EQ(st, 404) << path;
    EXPECT_NE(body.find("no such route: GET " + std::string(path)), std::string::npos) << body;
  }
}

TEST_F(ApiRoutingTest, WrongMethodIs405WithAllow) {
  std::string r = Raw("PUT /v1/apps/web/machines/m1 HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r.rfind("HTTP/1.1 405 ", 0), 0u) << r;
  EXPECT_NE(r.find("\r\nAllow: GET, DELETE\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("(allowed: GET, DELETE)"), std::string::npos) << r;
  // Routes of the everyday verbs share the table: one path, all its methods.
  r = Raw("DELETE /v1/apps/web/releases HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_NE(r.find("\r\nAllow: GET, POST\r\n"), std::string::npos) << r;
}

// Every route of the table reaches its handler: whatever it answers (an unknown app's 404,
// a bad body's 400, ...), it is not the router's 404 or 405.
TEST_F(ApiRoutingTest, EveryRouteReachesItsHandler) {
  for (const Route& r : api::ApiRoutes()) {
    std::string path = r.pattern;
    for (auto [param, value] : std::vector<std::pair<std::string, std::string>>{
             {"{app}", "nope"}, {"{id}", "m1"}, {"{org}", "nope"}, {"{ip}", "fdaa::1"}})
      if (auto at = path.find(param); at != std::string::npos) path.replace(at, param.size(), value);
    ASSERT_EQ(path.find('{'), std::string::npos) << "a param the test does not fill: " << r.pattern;
    auto [st, body] = Do(r.method, path,
                         std::string(r.method) == "GET" || std::string(r.method) == "DELETE" ? "" : "{}");
    EXPECT_NE(st, 405) << r.method << " " << path << ": " << body;
    EXPECT_EQ(body.find("no such route"), std::string::npos) << r.method << " " << path << ": " << body;
    EXPECT_NE(st, 0) << r.method << " " << path;
  }
}

// apps destroy goes through api::Backend (the daemon does the waiting).
TEST_F(ApiRoutingTest, AppDestroyIsTheBackends) {
  ASSERT_EQ(Do("POST", "/v1/apps", R"({"app_name":"web"})").first, 201);
  auto [st, body] = Do("DELETE", "/v1/apps/web");
  EXPECT_EQ(st, 200) << body;
  EXPECT_EQ(h_.backend->destroy_app_calls.load(), 1);
  EXPECT_EQ(Do("GET", "/v1/apps/web").first, 404);
}

}  // namespace
}  // namespace privcast
