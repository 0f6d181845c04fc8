#include "daemon/options.h"

#include <gtest/gtest.h>

namespace privcast::daemon {
namespace {

std::optional<DaemonOptions> Parse(std::vector<std::string> args, int* code) {
  args.insert(args.begin(), "privcastd");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseDaemonArgs(static_cast<int>(argv.size()), argv.data(), code);
}

TEST(OptionsTest, DefaultsAndFlags) {
  int code = -1;
  auto o = Parse({}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->data_dir, "/var/lib/privcast");
  EXPECT_EQ(o->api_socket_path(), "/run/privcast/privcastd.sock");
  EXPECT_TRUE(o->proxy_batch_writes);
  o = Parse({"--no-proxy-io-uring"}, &code);
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->proxy_batch_writes);
  o = Parse({"--data-dir", "/tmp/x", "--region", "fra", "--api", "unix:/tmp/a.sock", "--autostop-idle", "2s",
             "--autostop-interval", "250ms"},
            &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->region, "fra");
  EXPECT_EQ(o->api_socket_path(), "/tmp/a.sock");
  EXPECT_EQ(o->autostop_idle.count(), 2000);
  EXPECT_EQ(o->autostop_interval.count(), 250);
}

TEST(OptionsTest, SandboxIdBaseAndInit) {
  int code = -1;
  auto o = Parse({}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->id_base, 524288u) << "systemd's container range";
  EXPECT_TRUE(o->init_path.empty()) << "default: next to privcastd";
  o = Parse({"--id-base", "1048576", "--init", "/opt/privcast/privcast-init"}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->id_base, 1048576u);
  EXPECT_EQ(o->init_path, "/opt/privcast/privcast-init");
  for (const char* bad : {"-5", "1000", "4000000000"}) {
    code = -1;
    EXPECT_FALSE(Parse({"--id-base", bad}, &code)) << bad;
    EXPECT_EQ(code, 2) << bad;
  }
}

TEST(OptionsTest, ImageTransport) {
  int code = -1;
  auto o = Parse({}, &code);
  ASSERT_TRUE(o);
  EXPECT_TRUE(o->insecure_registries.empty()) << "only loopback registries over plain HTTP by default";
  EXPECT_EQ(o->skopeo, "skopeo");
  o = Parse({"--insecure-registry", "registry.local:5000", "--insecure-registry", "10.0.0.5", "--skopeo",
             "/opt/bin/skopeo"},
            &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->insecure_registries, (std::vector<std::string>{"registry.local:5000", "10.0.0.5"}));
  EXPECT_EQ(o->skopeo, "/opt/bin/skopeo");
}

TEST(OptionsTest, UsageErrorsExit2) {
  int code = 0;
  EXPECT_FALSE(Parse({"--region", "AMSTERDAM"}, &code));
  EXPECT_EQ(code, 2);
  EXPECT_FALSE(Parse({"--api", "tcp:1.2.3.4"}, &code));
  EXPECT_EQ(code, 2);
  EXPECT_FALSE(Parse({"--autostop-idle", "soon"}, &code));
  EXPECT_EQ(code, 2);
  EXPECT_FALSE(Parse({"--no-such-flag"}, &code));
  EXPECT_EQ(code, 2);
}

TEST(OptionsTest, Durations) {
  EXPECT_EQ(ParseDuration("90s")->count(), 90000);
  EXPECT_EQ(ParseDuration("5m")->count(), 300000);
  EXPECT_EQ(ParseDuration("7")->count(), 7000);
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("1d").ok());
  EXPECT_FALSE(ParseDuration("99999999999999s").ok());
}

}  // namespace
}  // namespace privcast::daemon
