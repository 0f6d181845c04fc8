#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/json.h"
#include "config/load.h"

namespace privcast::config {
namespace {

AppConfig Rich() {
  AppConfig c;
  c.app = "rich";
  c.primary_region = "ams";
  c.kill_signal = KillSignal::Terminate();
  c.kill_timeout_ms = 12345;
  c.env = {{"A", "1"}, {"B", "two words \"quoted\"\n"}};
  c.processes = {{"app", "./srv --port 8080"}, {"worker", "./work"}};
  c.vm.push_back(VmConfig{"performance-2x", 4096, 2, "performance", {"app"}});
  c.vm.push_back(VmConfig{});
  c.restart.push_back(RestartConfig{RestartPolicy::kNever, 0, {"worker"}});
  HttpServiceConfig hs;
  hs.common.internal_port = 3000;
  hs.common.auto_stop = AutoStop::kSuspend;
  hs.common.auto_start = false;
  hs.common.min_machines_running = 2;
  hs.common.processes = {"app"};
  hs.common.concurrency = ConcurrencyConfig{ConcurrencyType::kRequests, 10, 15};
  hs.force_https = true;
  CheckConfig ck;
  ck.path = "/health";
  ck.headers = {{"Host", "x"}};
  ck.tls_skip_verify = true;
  ck.protocol = "https";
  hs.checks.push_back(ck);
  hs.http_options.h2_backend = true;
  hs.http_options.response_pristine = true;
  hs.http_options.response_headers = {{"X-A", "b"}};
  hs.tls_options.alpn = {"h2"};
  c.http_service = hs;
  ServiceConfig s;
  s.protocol = "tcp";
  s.common.internal_port = 5432;
  PortConfig p;
  p.start_port = 6000;
  p.end_port = 6010;
  p.handlers = {"proxy_proto"};
  p.proxy_proto_version = 2;
  s.ports.push_back(p);
  s.tcp_checks.push_back(CheckConfig{});
  c.services.push_back(s);
  ServiceConfig u;
  u.protocol = "udp";
  PortConfig up;
  up.start_port = up.end_port = 53;
  u.ports.push_back(up);
  c.services.push_back(u);
  NamedCheck nc;
  nc.name = "alive";
  nc.type = CheckType::kHttp;
  nc.port = 9000;
  c.checks.push_back(nc);
  return c;
}

TEST(ConfigJson, RoundTripIsExact) {
  AppConfig c = Rich();
  ASSERT_TRUE(ValidateAppConfig(c).empty()) << ValidateAppConfig(c)[0].ToString();
  std::string js = ToJson(c);
  auto back = FromJson(js);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(*back == c);
  EXPECT_EQ(ToJson(*back), js);
}

TEST(ConfigJson, DefaultConfigRoundTrips) {
  AppConfig c;
  auto back = FromJson(ToJson(c));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == c);
}

TEST(ConfigJson, EqualityIgnoresSourcePositions) {
  auto r = ParseFlyToml("app = \"x\"\n[http_service]\nforce_https = true\n", "fly.toml");
  ASSERT_TRUE(r.ok());
  auto back = FromJson(ToJson(r->config));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == r->config);
  EXPECT_TRUE(back->source.values.empty());
  EXPECT_FALSE(r->config.source.values.empty());
}

TEST(ConfigJson, EqualityNoticesRealDifferences) {
  AppConfig a = Rich(), b = Rich();
  b.services[0].ports[0].proxy_proto_version = 1;
  EXPECT_FALSE(a == b);
}

TEST(ConfigJson, MissingKeysTakeDefaults) {
  auto r = FromJson(R"({"app":"x","http_service":{}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->app, "x");
  ASSERT_TRUE(r->http_service);
  EXPECT_EQ(r->http_service->common.internal_port, 8080);
  EXPECT_EQ(r->kill_timeout_ms, 5000);
}

TEST(ConfigJson, BadInputIsAStatusNamingTheField) {
  EXPECT_EQ(FromJson("{").status().message(), "config: invalid JSON");
  EXPECT_EQ(FromJson("[]").status().message(), "config: expected a JSON object");
  EXPECT_EQ(FromJson(R"({"kill_signal":"SIGNOPE"})").status().message(),
            "kill_signal: expected a signal name like \"SIGINT\"");
  EXPECT_EQ(FromJson(R"({"services":[{"ports":[{"start_port":70000}]}]})").status().message(),
            "services[0].ports[0].start_port: expected an integer in 0..65535");
  EXPECT_EQ(FromJson(R"({"http_service":{"auto_stop_machines":"maybe"}})").status().message(),
            "http_service.auto_stop_machines: expected one of off, stop, suspend");
  EXPECT_EQ(FromJson(R"({"kill_timeout_ms":400000})").status().message(),
            "kill_timeout_ms: expected an integer in 0..300000");
  // Semantic validation applies to JSON too.
  EXPECT_EQ(FromJson(R"({"app":"Bad_Name"})").status().message(),
            "app: invalid app name \"Bad_Name\": app names are DNS labels (1-63 lowercase "
            "letters, digits and '-', not starting or ending with '-')");
  EXPECT_EQ(
      FromJson(R"({"services":[{"ports":[{"start_port":5,"end_port":5,"handlers":["h3"]}]}]})").status().message(),
      "services[0].ports[0].handlers[0]: unknown handler \"h3\"");
}

TEST(ConfigJson, NeverThrowsOnOddInput) {
  for (const char* s : {"", "null", "1", "\"x\"", "{\"env\":{\"A\":1}}", "{\"vm\":[1]}", "{\"checks\":[{\"port\":-1}]}",
                        "{\"services\":{}}", "{\"app\":\"\\ud800\"}", "\xff\xfe"}) {
    auto r = FromJson(s);
    EXPECT_FALSE(r.ok()) << s;
  }
}

}  // namespace
}  // namespace privcast::config
