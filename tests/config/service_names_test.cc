// [[services]] name = "…" (privcast addition, ADR 0013): parsing, validation with
// file:line:col, JSON round trip, and the service names an app has.
#include <string>

#include <gtest/gtest.h>

#include "common/service_scope.h"
#include "config/json.h"
#include "config/load.h"
#include "config/services.h"
#include "parse_util.h"

namespace privcast::config {
namespace {

const char* kTwoGroups =
    "[processes]\nweb = \"w\"\napi = \"a\"\nworker = \"k\"\n"
    "[[services]]\ninternal_port = 80\nprocesses = [\"web\", \"api\"]\n"
    "[[services.ports]]\nport = 80\n";

TEST(ServiceNames, NamedServiceParsesAndRoundTrips) {
  auto r = ParseFlyToml(std::string(kTwoGroups) +
                            "[[services]]\nname = \"metrics\"\ninternal_port = 9100\nprocesses = [\"api\"]\n"
                            "[[services.ports]]\nport = 9100\n",
                        "fly.toml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->config.services.size(), 2u);
  EXPECT_EQ(r->config.services[0].name, "");
  EXPECT_EQ(r->config.services[1].name, "metrics");
  auto back = FromJson(ToJson(r->config));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->services[1].name, "metrics");
  EXPECT_EQ(ToJson(r->config).find("\"name\":\"\""), std::string::npos);  // unnamed: no key
  auto specs = ToServiceSpecs(r->config);
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[1].name, "metrics");
  // Service names: the named one plus every group some service serves (not `worker`).
  EXPECT_EQ(ServiceNames(specs, ProcessGroups(r->config)), (std::vector<std::string>{"api", "metrics", "web"}));
}

TEST(ServiceNames, InvalidNameIsReportedAtItsPosition) {
  EXPECT_EQ(ErrorOf("[[services]]\nname = \"Bad_Name\"\n"),
            "fly.toml:2:8: services[0].name: invalid service name \"Bad_Name\": service names are DNS labels "
            "(1-63 lowercase letters, digits and '-', not starting or ending with '-')");
  EXPECT_EQ(ErrorOf("[[services]]\nname = \"\"\n").rfind("fly.toml:2:8: services[0].name: invalid service name", 0),
            0u);
  EXPECT_EQ(ErrorOf("[[services]]\nname = \"svc\"\n"),
            "fly.toml:2:8: services[0].name: service name \"svc\" is reserved (it is the label of "
            "<service>.svc.<app>.flycast)");
  EXPECT_EQ(ErrorOf("[[services]]\nname = 5\n"), "fly.toml:2:8: services[0].name: expected a string, got 5");
}

TEST(ServiceNames, DuplicateAndAmbiguousNames) {
  EXPECT_EQ(ErrorOf("[[services]]\nname = \"a\"\n[[services.ports]]\nport = 1\n"
                    "[[services]]\nname = \"a\"\n[[services.ports]]\nport = 2\n"),
            "fly.toml:6:8: services[1].name: service name \"a\" is already used by services[0]");
  // A name that is also a process group must serve exactly that group.
  EXPECT_EQ(ErrorOf(std::string(kTwoGroups) + "[[services]]\nname = \"api\"\nprocesses = [\"web\"]\n"
                                              "[[services.ports]]\nport = 81\n"),
            "fly.toml:11:8: services[1].name: service name \"api\" is also a process group: give this service "
            "processes = [\"api\"] or another name (<name>.svc.<app>.flycast must mean one set of machines)");
  auto ok = ParseFlyToml(std::string(kTwoGroups) +
                             "[[services]]\nname = \"api\"\nprocesses = [\"api\"]\n"
                             "[[services.ports]]\nport = 81\n",
                         "fly.toml");
  EXPECT_TRUE(ok.ok()) << ok.status().message();
}

TEST(ServiceScope, GroupScopeNarrowsEveryServingServiceToThatGroup) {
  ServiceSpec all;  // serves every group
  all.ports.push_back(PortSpec{80, 80});
  ServiceSpec named;
  named.name = "metrics";
  named.processes = {"api"};
  named.ports.push_back(PortSpec{9100, 9100});
  const std::vector<ServiceSpec> svcs{all, named};
  const std::vector<std::string> groups{"api", "web"};

  auto api = ServiceScope(svcs, groups, "api");
  ASSERT_TRUE(api.has_value());
  ASSERT_EQ(api->size(), 2u);  // both services serve api
  EXPECT_EQ((*api)[0].processes, std::vector<std::string>{"api"});
  auto web = ServiceScope(svcs, groups, "web");
  ASSERT_TRUE(web.has_value());
  ASSERT_EQ(web->size(), 1u);
  EXPECT_EQ((*web)[0].ports[0].start_port, 80);
  EXPECT_EQ((*web)[0].processes, std::vector<std::string>{"web"});
  auto m = ServiceScope(svcs, groups, "metrics");
  ASSERT_TRUE(m.has_value());
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].ports[0].start_port, 9100);
  EXPECT_FALSE(ServiceScope(svcs, groups, "nope").has_value());
  EXPECT_FALSE(ServiceScope(svcs, groups, "").has_value());
  EXPECT_FALSE(ServiceScope({named}, groups, "web").has_value());  // no service serves web

  MachineView mw, ma, runner;
  mw.process_group = "web";
  ma.process_group = "api";
  runner.process_group = "api";
  runner.carries_services = false;  // machine run: never a service's machine
  EXPECT_TRUE(InScope(mw, *web));
  EXPECT_FALSE(InScope(ma, *web));
  EXPECT_TRUE(InScope(ma, *m));
  EXPECT_FALSE(InScope(mw, *m));
  EXPECT_FALSE(InScope(runner, *api));
}

}  // namespace
}  // namespace privcast::config
