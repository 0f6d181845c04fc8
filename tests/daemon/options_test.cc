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
  EXPECT_TRUE(o->proxy_batch_when_busy);
  o = Parse({"--no-proxy-io-uring"}, &code);
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->proxy_batch_writes);
  EXPECT_TRUE(o->proxy_batch_when_busy);
  o = Parse({"--no-proxy-batch-when-busy"}, &code);
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->proxy_batch_when_busy);
  EXPECT_TRUE(o->proxy_batch_writes);
  o = Parse({"--data-dir", "/tmp/x", "--region", "fra", "--api", "unix:/tmp/a.sock", "--autostop-idle", "2s",
             "--autostop-interval", "250ms"},
            &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->region, "fra");
  EXPECT_EQ(o->api_socket_path(), "/tmp/a.sock");
  EXPECT_EQ(o->autostop_idle.count(), 2000);
  EXPECT_EQ(o->autostop_interval.count(), 250);
  o = Parse({"--dns-forward-inflight", "32", "--dns-forward-qps", "0", "--dns-negative-cache-max-ttl", "1m",
             "--dns-servfail-cache-ttl", "0"},
            &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->dns_forward_inflight, 32u);
  EXPECT_EQ(o->dns_forward_qps, 0u);
  EXPECT_EQ(o->dns_negative_cache_max_ttl.count(), 60000);
  EXPECT_EQ(o->dns_servfail_cache_ttl.count(), 0);
  o = Parse({"--api-request-timeout", "3s", "--api-max-connections-per-uid", "4"}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->api_request_timeout.count(), 3000);
  EXPECT_EQ(o->api_max_connections_per_uid, 4);
  EXPECT_FALSE(Parse({"--api-request-timeout", "0"}, &code));
  EXPECT_EQ(code, 2);
}

TEST(OptionsTest, ProxyFairSharingFlagsAndDescriptorBudget) {
  int code = -1;
  auto o = Parse({}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->proxy_max_conns_per_network, 1024u);
  EXPECT_EQ(o->proxy_conn_rate_per_network, 50000);
  EXPECT_EQ(o->proxy_fd_budget, -1);
  EXPECT_EQ(o->proxy_header_timeout.count(), 10000);
  o = Parse({"--proxy-max-conns-per-network", "0", "--proxy-conn-rate-per-network", "50",
             "--proxy-conn-burst-per-network", "60", "--proxy-fd-budget", "5000", "--proxy-header-timeout", "3s",
             "--proxy-body-timeout", "2s", "--proxy-body-min-rate", "100"},
            &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->proxy_max_conns_per_network, 0u);
  EXPECT_EQ(o->proxy_conn_rate_per_network, 50);
  EXPECT_EQ(o->proxy_conn_burst_per_network, 60u);
  EXPECT_EQ(o->proxy_fd_budget, 5000);
  EXPECT_EQ(o->proxy_header_timeout.count(), 3000);
  EXPECT_EQ(o->proxy_body_timeout.count(), 2000);
  EXPECT_EQ(o->proxy_body_min_rate, 100u);
  EXPECT_FALSE(Parse({"--proxy-fd-budget", "-2"}, &code));
  EXPECT_EQ(code, 2);
  // The split: this VM's hard limit (20000) leaves 4000 to the rest of the daemon.
  EXPECT_EQ(DefaultProxyFdBudget(20000), 16000);
  EXPECT_EQ(DefaultProxyFdBudget(4096), 3072);        // reserve at least 1024
  EXPECT_EQ(DefaultProxyFdBudget(1048576), 1040384);  // at most 8192
  EXPECT_EQ(DefaultProxyFdBudget(1024), 512);
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

TEST(OptionsTest, MachineLogLimits) {
  int code = -1;
  auto o = Parse({}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->machine_log_max_bytes, 16ull << 20);
  EXPECT_EQ(o->machine_log_files, 2);
  o = Parse({"--machine-log-max-size", "512k", "--machine-log-files", "0"}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->machine_log_max_bytes, 512u * 1024);
  EXPECT_EQ(o->machine_log_files, 0);
  EXPECT_EQ(*ParseSize("0"), 0u);
  EXPECT_EQ(*ParseSize("1G"), 1ull << 30);
  EXPECT_FALSE(ParseSize("lots").ok());
  EXPECT_FALSE(ParseSize("5T").ok());
  EXPECT_FALSE(Parse({"--machine-log-max-size", "big"}, &code));
  EXPECT_EQ(code, 2);
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

TEST(OptionsTest, DnsListenIsAUsageErrorAtParseTimeEvenWithoutDns) {
  for (const char* bad : {":abc", ":70000", "127.0.0.1"}) {
    int code = -1;
    EXPECT_FALSE(Parse({"--no-dns", "--dns-listen", bad}, &code)) << bad;
    EXPECT_EQ(code, 2) << bad;
  }
  int code = -1;
  auto o = Parse({"--dns-listen", "127.0.0.1:5353"}, &code);
  ASSERT_TRUE(o);
  EXPECT_EQ(code, 0);
}

TEST(OptionsTest, HostPortWantsAWholePortThatFits) {
  auto v4 = ParseHostPort("--dns-listen", "127.0.0.1:5353");
  ASSERT_TRUE(v4.ok()) << v4.status().ToString();
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 5353);
  auto v6 = ParseHostPort("--dns-listen", "[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  auto any = ParseHostPort("--dns-listen", ":53");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "");
  // Used to mean "any port" (atoi → 0) and to wrap (70000 → 4464).
  auto abc = ParseHostPort("--dns-listen", ":abc");
  ASSERT_FALSE(abc.ok());
  EXPECT_EQ(abc.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(abc.status().message(), "--dns-listen \":abc\": the port must be a number from 0 to 65535, got \"abc\"");
  EXPECT_FALSE(ParseHostPort("--dns-listen", ":70000").ok());
  EXPECT_FALSE(ParseHostPort("--dns-listen", ":").ok());
  EXPECT_FALSE(ParseHostPort("--dns-listen", ":-1").ok());
  EXPECT_FALSE(ParseHostPort("--dns-listen", "127.0.0.1").ok());
}

}  // namespace
}  // namespace privcast::daemon
