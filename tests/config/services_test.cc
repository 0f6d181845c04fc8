#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/load.h"
#include "config/services.h"
#include "parse_util.h"

namespace privcast::config {
namespace {

TEST(ConfigServiceSpecs, TlsOptionsReachTheTlsPorts) {
  AppConfig c = MustParse(R"(
[http_service]
  internal_port = 3000
  [http_service.tls_options]
    alpn = ["h2", "http/1.1"]
    versions = ["TLSv1.3"]

[[services]]
  internal_port = 5432
  [[services.ports]]
    port = 5433
    handlers = ["tls", "proxy_proto"]
    [services.ports.tls_options]
      alpn = ["postgresql"]
  [[services.ports]]
    port = 5434
    handlers = ["tls"]
)");
  auto specs = ToServiceSpecs(c);
  ASSERT_EQ(specs.size(), 2u);
  const PortSpec& p443 = specs[0].ports[1];
  EXPECT_EQ(p443.tls_alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(p443.tls_min_version, 0x0304);
  EXPECT_EQ(p443.tls_max_version, 0x0304);
  EXPECT_TRUE(specs[0].ports[0].tls_alpn.empty());  // port 80 has no TLS
  const PortSpec& pg = specs[1].ports[0];
  EXPECT_TRUE(pg.tls && pg.proxy_proto && !pg.http);
  EXPECT_EQ(pg.tls_alpn, (std::vector<std::string>{"postgresql"}));
  EXPECT_EQ(pg.tls_min_version, 0x0303);  // default: TLS 1.2 and 1.3
  EXPECT_EQ(pg.tls_max_version, 0x0304);
  EXPECT_TRUE(specs[1].ports[1].tls_alpn.empty());
}

TEST(ConfigServiceSpecs, HttpServiceExpandsTo80And443) {
  AppConfig c = MustParse(R"(
[http_service]
  internal_port = 3000
  force_https = true
  auto_stop_machines = "suspend"
  auto_start_machines = true
  min_machines_running = 1
  processes = ["app"]
  [http_service.concurrency]
    type = "requests"
    soft_limit = 30
    hard_limit = 40
  [[http_service.checks]]
    interval = "20s"
    timeout = "3s"
    grace_period = "4s"
    path = "/up"
    [http_service.checks.headers]
      Host = "example"
  [http_service.http_options.response]
    pristine = true
    headers = { X-Env = "prod" }
)");
  auto specs = ToServiceSpecs(c);
  ASSERT_EQ(specs.size(), 1u);
  const ServiceSpec& s = specs[0];
  EXPECT_EQ(s.protocol, "tcp");
  EXPECT_EQ(s.internal_port, 3000);
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_EQ(s.ports[0].start_port, 80);
  EXPECT_EQ(s.ports[0].end_port, 80);
  EXPECT_TRUE(s.ports[0].http);
  EXPECT_FALSE(s.ports[0].tls);
  EXPECT_TRUE(s.ports[0].force_https);
  EXPECT_EQ(s.ports[1].start_port, 443);
  EXPECT_TRUE(s.ports[1].http);
  EXPECT_TRUE(s.ports[1].tls);
  EXPECT_FALSE(s.ports[1].force_https);
  EXPECT_EQ(s.concurrency, ConcurrencyType::kRequests);
  EXPECT_EQ(s.soft_limit, 30u);
  EXPECT_EQ(s.hard_limit, 40u);
  EXPECT_EQ(s.auto_stop, AutoStop::kSuspend);
  EXPECT_TRUE(s.auto_start);
  EXPECT_EQ(s.min_machines_running, 1u);
  EXPECT_EQ(s.processes, std::vector<std::string>{"app"});
  ASSERT_EQ(s.http_checks.size(), 1u);
  EXPECT_EQ(s.http_checks[0].interval_ms, 20000);
  EXPECT_EQ(s.http_checks[0].timeout_ms, 3000);
  EXPECT_EQ(s.http_checks[0].grace_period_ms, 4000);
  EXPECT_EQ(s.http_checks[0].path, "/up");
  EXPECT_EQ(s.http_checks[0].headers.size(), 1u);
  EXPECT_TRUE(s.response_pristine);
  ASSERT_EQ(s.response_headers.size(), 1u);
  EXPECT_EQ(s.response_headers[0].first, "X-Env");
}

TEST(ConfigServiceSpecs, RawTcpAndProxyProto) {
  AppConfig c = MustParse(R"(
[[services]]
  internal_port = 5432
  [[services.ports]]
    port = 5432
  [[services.ports]]
    start_port = 7000
    end_port = 7002
    handlers = ["proxy_proto"]
    proxy_proto_options = { version = "v2" }
  [services.concurrency]
    soft_limit = 5
  [[services.tcp_checks]]
    interval = 1000
    timeout = 500
)");
  auto specs = ToServiceSpecs(c);
  ASSERT_EQ(specs.size(), 1u);
  const ServiceSpec& s = specs[0];
  EXPECT_EQ(s.hard_limit, 0u);  // none
  EXPECT_EQ(s.soft_limit, 5u);
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_FALSE(s.ports[0].http || s.ports[0].tls || s.ports[0].proxy_proto);
  EXPECT_TRUE(s.ports[1].proxy_proto);
  EXPECT_EQ(s.ports[1].proxy_proto_version, 2);
  EXPECT_EQ(s.ports[1].start_port, 7000);
  EXPECT_EQ(s.ports[1].end_port, 7002);
  ASSERT_EQ(s.tcp_checks.size(), 1u);
  EXPECT_EQ(s.tcp_checks[0].interval_ms, 1000);
  EXPECT_EQ(s.tcp_checks[0].timeout_ms, 500);
  EXPECT_EQ(s.auto_stop, AutoStop::kOff);
}

TEST(ConfigServiceSpecs, PerPortResponseOptions) {
  AppConfig c = MustParse(R"(
[[services]]
  [[services.ports]]
    port = 80
    handlers = ["http"]
    [services.ports.http_options.response]
      pristine = true
)");
  auto specs = ToServiceSpecs(c);
  ASSERT_EQ(specs.size(), 1u);
  EXPECT_TRUE(specs[0].response_pristine);
}

TEST(ConfigGroups, DefaultGroupIsApp) {
  AppConfig c = MustParse("[http_service]\n");
  EXPECT_EQ(ProcessGroups(c), std::vector<std::string>{"app"});
  EXPECT_EQ(CommandFor(c, "app"), "");
  EXPECT_TRUE(GroupHasServices(c, "app"));
  EXPECT_FALSE(GroupHasServices(MustParse(""), "app"));
}

TEST(ConfigGroups, ProcessesAndPerGroupSettings) {
  AppConfig c = MustParse(R"(
[processes]
  worker = "./work"
  web = "./serve --port 8080"
[http_service]
  processes = ["web"]
[[vm]]
  size = "shared-cpu-2x"
[[vm]]
  memory = "2gb"
  processes = ["worker"]
[[restart]]
  policy = "always"
  processes = ["worker"]
)");
  EXPECT_EQ(ProcessGroups(c), (std::vector<std::string>{"web", "worker"}));
  EXPECT_EQ(CommandFor(c, "web"), "./serve --port 8080");
  EXPECT_EQ(CommandFor(c, "nope"), "");
  EXPECT_TRUE(GroupHasServices(c, "web"));
  EXPECT_FALSE(GroupHasServices(c, "worker"));
  EXPECT_EQ(ServicesForGroup(c, "web").size(), 1u);
  EXPECT_TRUE(ServicesForGroup(c, "worker").empty());
  EXPECT_EQ(MemoryMbFor(c, "web"), 512u);  // shared-cpu-2x preset
  EXPECT_EQ(CpusFor(c, "web"), 2u);
  EXPECT_EQ(MemoryMbFor(c, "worker"), 2048u);  // the [[vm]] naming the group wins
  EXPECT_EQ(VmFor(c, "worker").cpu_kind, "shared");
  EXPECT_EQ(RestartFor(c, "worker").policy, RestartPolicy::kAlways);
  EXPECT_EQ(RestartFor(c, "web").policy, RestartPolicy::kOnFailure);
  EXPECT_EQ(RestartFor(c, "web").retries, 10u);
}

TEST(ConfigGroups, VmDefaults) {
  AppConfig c = MustParse("");
  EXPECT_EQ(MemoryMbFor(c, "app"), 256u);
  EXPECT_EQ(CpusFor(c, "app"), 1u);
}

}  // namespace
}  // namespace privcast::config
