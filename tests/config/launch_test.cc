#include <string>

#include <gtest/gtest.h>

#include "config/launch.h"
#include "config/load.h"
#include "config/services.h"

namespace privcast::config {
namespace {

TEST(ConfigLaunch, FlycastTemplateParsesBackWithoutWarnings) {
  LaunchOptions o;
  o.app = "admin";
  o.primary_region = "ams";
  o.internal_port = 9000;
  o.flycast = true;
  o.command = "python3 -m http.server 9000 --bind 0.0.0.0";
  std::string text = RenderLaunchToml(o);
  auto r = ParseFlyToml(text, "fly.toml");
  ASSERT_TRUE(r.ok()) << r.status().message() << "\n" << text;
  EXPECT_TRUE(r->warnings.empty()) << r->warnings[0].ToString();
  const AppConfig& c = r->config;
  EXPECT_EQ(c.app, "admin");
  EXPECT_EQ(c.primary_region, "ams");
  EXPECT_EQ(CommandFor(c, "app"), o.command);
  ASSERT_TRUE(c.http_service);
  EXPECT_EQ(c.http_service->common.internal_port, 9000);
  EXPECT_FALSE(c.http_service->force_https);
  EXPECT_EQ(c.http_service->common.auto_stop, AutoStop::kStop);
  EXPECT_TRUE(c.http_service->common.auto_start);
  EXPECT_EQ(c.http_service->common.min_machines_running, 0u);
  EXPECT_EQ(c.http_service->common.processes, std::vector<std::string>{"app"});
  EXPECT_TRUE(DeployWarnings(c, false).empty());
  EXPECT_NE(text.find("force_https = false"), std::string::npos);
  EXPECT_NE(text.find("auto_stop_machines = \"stop\""), std::string::npos);
}

TEST(ConfigLaunch, PublicTemplateForcesHttps) {
  LaunchOptions o;
  o.app = "site";
  auto r = ParseFlyToml(RenderLaunchToml(o), "fly.toml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->warnings.empty());
  EXPECT_TRUE(r->config.http_service->force_https);
  EXPECT_EQ(r->config.http_service->common.internal_port, 8080);
  EXPECT_TRUE(r->config.processes.empty());
  EXPECT_EQ(DeployWarnings(r->config, false).size(), 1u);
}

TEST(ConfigLaunch, CommandWithQuotesAndControlCharsSurvives) {
  LaunchOptions o;
  o.app = "q";
  o.flycast = true;
  o.command = "sh -c \"echo 'hi' \\\\ there\"\tand\x01 more";
  auto r = ParseFlyToml(RenderLaunchToml(o), "fly.toml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(CommandFor(r->config, "app"), o.command);
}

TEST(ConfigLaunch, ImageGoesToBuild) {
  LaunchOptions o;
  o.app = "img";
  o.flycast = true;
  o.image = "nginxdemos/hello";
  auto r = ParseFlyToml(RenderLaunchToml(o), "fly.toml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->config.image, "nginxdemos/hello");
  EXPECT_TRUE(r->warnings.empty());
}

}  // namespace
}  // namespace privcast::config
