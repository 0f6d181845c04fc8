#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <gtest/gtest.h>

#include "config/json.h"
#include "config/load.h"
#include "config/services.h"
#include "parse_util.h"

namespace privcast::config {
namespace {

TEST(ConfigDefaults, EmptyFileHasFlyDefaults) {
  AppConfig c = MustParse("");
  EXPECT_EQ(c.app, "");
  EXPECT_EQ(c.kill_signal.number(), SIGINT);
  EXPECT_EQ(c.kill_timeout_ms, 5000);
  EXPECT_FALSE(c.http_service.has_value());
  EXPECT_TRUE(c.services.empty());
  EXPECT_TRUE(c.processes.empty());
}

TEST(ConfigDefaults, HttpService) {
  AppConfig c = MustParse("[http_service]\n");
  ASSERT_TRUE(c.http_service);
  const auto& hs = *c.http_service;
  EXPECT_EQ(hs.common.internal_port, 8080);
  EXPECT_FALSE(hs.force_https);
  EXPECT_EQ(hs.common.auto_stop, AutoStop::kOff);
  EXPECT_TRUE(hs.common.auto_start);
  EXPECT_EQ(hs.common.min_machines_running, 0u);
  EXPECT_EQ(hs.common.concurrency.type, ConcurrencyType::kConnections);
  EXPECT_EQ(hs.common.concurrency.soft_limit, 20u);
  EXPECT_FALSE(hs.common.concurrency.hard_limit.has_value());
}

TEST(ConfigDefaults, ServicesAndChecks) {
  AppConfig c = MustParse(
      "[[services]]\n[[services.ports]]\nport = 5432\n[[services.tcp_checks]]\n"
      "[[services.http_checks]]\n");
  ASSERT_EQ(c.services.size(), 1u);
  const auto& s = c.services[0];
  EXPECT_EQ(s.protocol, "tcp");
  EXPECT_EQ(s.common.internal_port, 8080);
  EXPECT_EQ(s.common.concurrency.soft_limit, 20u);
  ASSERT_EQ(s.ports.size(), 1u);
  EXPECT_EQ(s.ports[0].start_port, 5432);
  EXPECT_EQ(s.ports[0].end_port, 5432);
  EXPECT_TRUE(s.ports[0].handlers.empty());
  EXPECT_EQ(s.ports[0].proxy_proto_version, 1);
  ASSERT_EQ(s.tcp_checks.size(), 1u);
  EXPECT_EQ(s.tcp_checks[0].interval_ms, 15000);
  EXPECT_EQ(s.tcp_checks[0].timeout_ms, 2000);
  ASSERT_EQ(s.http_checks.size(), 1u);
  EXPECT_EQ(s.http_checks[0].method, "GET");
  EXPECT_EQ(s.http_checks[0].path, "/");
}

TEST(ConfigValues, KillSignalNames) {
  EXPECT_EQ(MustParse("kill_signal = \"SIGTERM\"").kill_signal.number(), SIGTERM);
  EXPECT_EQ(MustParse("kill_signal = \"SIGQUIT\"").kill_signal.number(), SIGQUIT);
  EXPECT_EQ(MustParse("kill_signal = \"SIGUSR1\"").kill_signal.number(), SIGUSR1);
  EXPECT_EQ(MustParse("kill_signal = \"sigusr2\"").kill_signal.number(), SIGUSR2);
  EXPECT_EQ(MustParse("kill_signal = \"KILL\"").kill_signal.number(), SIGKILL);
}

TEST(ConfigValues, KillTimeoutForms) {
  EXPECT_EQ(MustParse("kill_timeout = 7").kill_timeout_ms, 7000);
  EXPECT_EQ(MustParse("kill_timeout = \"5s\"").kill_timeout_ms, 5000);
  EXPECT_EQ(MustParse("kill_timeout = \"1m\"").kill_timeout_ms, 60000);
  EXPECT_EQ(MustParse("kill_timeout = \"300s\"").kill_timeout_ms, 300000);
  EXPECT_EQ(MustParse("kill_timeout = 0").kill_timeout_ms, 0);
  EXPECT_EQ(ErrorOf("kill_timeout = 301"), "fly.toml:1:16: kill_timeout: expected at most 300s, got 5m1s");
}

TEST(ConfigValues, AutoStopSpellings) {
  auto stop = [](const std::string& v) {
    return MustParse("[http_service]\nauto_stop_machines = " + v).http_service->common.auto_stop;
  };
  EXPECT_EQ(stop("true"), AutoStop::kStop);
  EXPECT_EQ(stop("false"), AutoStop::kOff);
  EXPECT_EQ(stop("\"off\""), AutoStop::kOff);
  EXPECT_EQ(stop("\"stop\""), AutoStop::kStop);
  EXPECT_EQ(stop("\"suspend\""), AutoStop::kSuspend);
}

TEST(ConfigValues, MemoryForms) {
  auto mem = [](const std::string& v) { return MustParse("[[vm]]\nmemory = " + v).vm.at(0).memory_mb.value_or(0); };
  EXPECT_EQ(mem("\"256mb\""), 256u);
  EXPECT_EQ(mem("\"1gb\""), 1024u);
  EXPECT_EQ(mem("\"2GB\""), 2048u);
  EXPECT_EQ(mem("\"512MiB\""), 512u);
  EXPECT_EQ(mem("1024"), 1024u);
  EXPECT_EQ(MustParse("[[vm]]\nmemory_mb = 768").vm.at(0).memory_mb.value_or(0), 768u);
}

TEST(ConfigValues, EnvScalarsBecomeStrings) {
  AppConfig c = MustParse("[env]\nA = 1\nB = true\nC = \"x\"\n");
  std::vector<std::pair<std::string, std::string>> want = {{"A", "1"}, {"B", "true"}, {"C", "x"}};
  EXPECT_EQ(c.env, want);
}

TEST(ConfigErrors, FilenameAndPositionInEveryMessage) {
  auto r = ParseFlyToml("app = \"ok\"\n[http_service]\n    internal_port = -1\n", "apps/web/fly.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "apps/web/fly.toml:3:21: http_service.internal_port: expected a port number "
            "(1-65535), got -1");
  EXPECT_EQ(ParseFlyToml("x = [", "").status().message().rfind("fly.toml:1:", 0), 0u);
}

TEST(ConfigErrors, EveryErrorInFileOrder) {
  // Every error, one line each, in file order, whatever order the loader found them in; a
  // model-level error that follows from a loader error (the refused start_port reads as
  // port 0) is not repeated.
  EXPECT_EQ(ErrorOf("app = 5\nkill_timeout = \"x\"\n[[services]]\n[[services.ports]]\n"
                    "start_port = 0\nend_port = 1\n[processes]\napp = \"\"\n"),
            "fly.toml:1:7: app: expected a string, got 5\n"
            "fly.toml:2:16: kill_timeout: expected a duration like \"10s\" or an integer number "
            "of seconds, got \"x\"\n"
            "fly.toml:5:14: services[0].ports[0].start_port: expected a port number (1-65535), "
            "got 0\n"
            "fly.toml:8:7: processes.app: expected a non-empty command string, got \"\"");
  // Errors of the model (here a process group that does not exist) come with the others.
  EXPECT_EQ(ErrorOf("kill_signal = 1\n[http_service]\nprocesses = [\"web\"]\n"),
            "fly.toml:1:15: kill_signal: expected a signal name (SIGINT, SIGTERM, SIGQUIT, "
            "SIGUSR1, SIGUSR2, SIGKILL, SIGSTOP or SIGHUP), got 1\n"
            "fly.toml:3:14: http_service.processes[0]: process group \"web\" does not exist: "
            "without [processes] the only group is \"app\"");
}

TEST(ConfigErrors, SyntaxErrorComesWithTheErrorsBeforeIt) {
  // The errors of the lines before a syntax error are reported too; a key missing there
  // (a port whose number would come after the cut) is not.
  EXPECT_EQ(ErrorOf("app = \"broken\"\n[http_service]\ninternal_port = \"eighty\"\n"
                    "[[services]]\n[[services.ports]]\n[[services\n"),
            "fly.toml:3:17: http_service.internal_port: expected a port number (1-65535), got "
            "\"eighty\"\n"
            "fly.toml:6:11: syntax error: Error while parsing table header: expected ']', saw "
            "'\\n'");
  // Before a syntax error inside a multi-line array, the cut text does not parse: only the
  // syntax error.
  EXPECT_EQ(ErrorOf("app = 5\nx = [\n1,\n=\n]\n").rfind("fly.toml:4:", 0), 0u);
}

TEST(ConfigValues, PortsAsFlyctlCoercesThem) {
  // [[services]] port and internal_port: integers, decimal strings (Go's strconv.Atoi) and
  // floats truncated toward zero, as flyctl's castToInt.
  AppConfig c = MustParse(
      "[[services]]\ninternal_port = \"+8080\"\n[[services.ports]]\nport = \"80\"\n"
      "[[services.ports]]\nport = 443.9\n");
  EXPECT_EQ(c.services.at(0).common.internal_port, 8080);
  EXPECT_EQ(c.services.at(0).ports.at(0).start_port, 80);
  EXPECT_EQ(c.services.at(0).ports.at(1).start_port, 443);
  EXPECT_EQ(ErrorOf("[[services]]\n[[services.ports]]\nport = \"0x50\"\n"),
            "fly.toml:3:8: services[0].ports[0].port: expected a port number (1-65535), got "
            "\"0x50\"");
  // flyctl coerces neither start_port/end_port nor [http_service]'s internal_port.
  EXPECT_FALSE(ParseFlyToml("[[services]]\n[[services.ports]]\nstart_port = \"1\"\nend_port = 2\n", "fly.toml").ok());
  EXPECT_FALSE(ParseFlyToml("[http_service]\ninternal_port = \"8080\"\n", "fly.toml").ok());
}

TEST(ConfigValues, LegacyShapesFlyctlPatches) {
  // [[services]] concurrency = "soft,hard" (requests), check headers = [] (none).
  AppConfig c = MustParse(
      "[[services]]\nconcurrency = \"20,25\"\n[[services.ports]]\nport = 80\n"
      "[[services.http_checks]]\nheaders = []\n");
  const ConcurrencyConfig& cc = c.services.at(0).common.concurrency;
  EXPECT_EQ(cc.type, ConcurrencyType::kRequests);
  EXPECT_EQ(cc.soft_limit, 20u);
  EXPECT_EQ(cc.hard_limit.value_or(0), 25u);
  EXPECT_TRUE(c.services[0].http_checks.at(0).headers.empty());
  EXPECT_EQ(ErrorOf("[[services]]\nconcurrency = \"20\"\n"),
            "fly.toml:2:15: services[0].concurrency: expected a table, or limits \"soft,hard\" "
            "like \"20,25\", got \"20\"");
  // Not patched in [http_service] (flyctl decodes it as it is).
  EXPECT_FALSE(ParseFlyToml("[http_service]\nconcurrency = \"20,25\"\n", "fly.toml").ok());
}

TEST(ConfigValues, ProcessesArrayIsNoGroups) {
  EXPECT_TRUE(MustParse("processes = []\n[http_service]\nprocesses = [\"app\"]\n").processes.empty());
  auto r = ParseFlyToml("processes = [\"web\"]\n", "fly.toml");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0].ToString(),
            "fly.toml:1:13: processes: accepted and ignored: an array defines no process groups "
            "(flyctl drops it too): use a [processes] table");
  EXPECT_EQ(ErrorOf("processes = \"web\"\n"), "fly.toml:1:13: processes: expected a table ([processes]), got \"web\"");
}

TEST(ConfigLoad, H2BackendIsActedOnWithoutAWarning) {
  auto on = ParseFlyToml("[http_service.http_options]\nh2_backend = true\n", "fly.toml");
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on->warnings.empty());
  ASSERT_TRUE(on->config.http_service.has_value());
  EXPECT_TRUE(on->config.http_service->http_options.h2_backend);
  auto off = ParseFlyToml("[http_service.http_options]\nh2_backend = false\n", "fly.toml");
  ASSERT_TRUE(off.ok());
  EXPECT_TRUE(off->warnings.empty());
}

TEST(ConfigErrors, TooLarge) {
  std::string big(kMaxFlyTomlBytes + 1, '#');
  EXPECT_EQ(ErrorOf(big), "fly.toml: file is too large (1048577 bytes; the limit is 1048576)");
}

TEST(ConfigErrors, NeverCrashOnBinaryJunk) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 131 + 7) % 256);
  auto r = ParseFlyToml(junk, "fly.toml");
  EXPECT_FALSE(r.ok());
  std::string deep(5000, '[');
  EXPECT_FALSE(ParseFlyToml("a = " + deep, "fly.toml").ok());
}

TEST(ConfigLoad, MissingFile) {
  auto r = LoadFlyToml("/nonexistent-privcast-dir/fly.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent-privcast-dir/fly.toml"), std::string::npos);
}

TEST(ConfigLoad, ReadsFileAndNamesItInMessages) {
  auto dir = std::filesystem::temp_directory_path() / ("privcast-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "fly.toml").string();
  { std::ofstream(path) << "app = \"web\"\n[http_service]\ninternal_port = 99999\n"; }
  auto r = LoadFlyToml(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), path +
                                      ":3:17: http_service.internal_port: expected a port "
                                      "number (1-65535), got 99999");
  { std::ofstream(path) << "app = \"web\"\n"; }
  auto dir_err = LoadFlyToml(dir.string());
  ASSERT_FALSE(dir_err.ok());
  EXPECT_EQ(dir_err.status().message(), dir.string() + ": is a directory, not a fly.toml (use -c FILE)");
  auto ok = LoadFlyToml(path);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->config.app, "web");
  std::filesystem::remove_all(dir);
}

TEST(ConfigImages, BuildImageAndPersistRootfs) {
  AppConfig c = MustParse(
      "[build]\n  image = \"registry.local:5000/team/app:v1\"\n  dockerfile = \"Dockerfile\"\n"
      "[processes]\n  app = \"srv\"\n  worker = \"w\"\n"
      "[[vm]]\n  persist_rootfs = true\n  processes = [\"app\"]\n");
  EXPECT_EQ(c.image, "registry.local:5000/team/app:v1");
  EXPECT_TRUE(PersistRootfsFor(c, "app"));
  EXPECT_FALSE(PersistRootfsFor(c, "worker"));
  auto back = FromJson(ToJson(c));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->image, c.image);
  EXPECT_TRUE(PersistRootfsFor(*back, "app"));
  EXPECT_FALSE(ParseFlyToml("[[vm]]\npersist_rootfs = 1\n", "fly.toml").ok());
  EXPECT_FALSE(ParseFlyToml("[build]\nimage = 3\n", "fly.toml").ok());
}

TEST(ConfigWarnings, UnknownKeysOnlyForTrulyUnknown) {
  auto r = ParseFlyToml("app = \"a\"\n[deploy]\nstrategy = \"x\"\nfoo = 1\n[build.args]\nbar = 2\n", "fly.toml");
  ASSERT_TRUE(r.ok());
  // [deploy] is accepted and ignored as a whole (one warning, none for `foo` inside); of
  // [build] only `image` is used, so [build.args] gets its own warning.
  ASSERT_EQ(r->warnings.size(), 2u);
  EXPECT_EQ(r->warnings[0].ToString(),
            "fly.toml:2:2: deploy: accepted and ignored: privcast has no release_command or "
            "deploy strategies");
  EXPECT_EQ(r->warnings[1].path, "build.args");
  auto w = ParseFlyToml("[http_service]\nforce_http = true\n", "fly.toml");
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->warnings.size(), 1u);
  EXPECT_EQ(w->warnings[0].ToString(), "fly.toml:2:1: http_service.force_http: unknown key, ignored");
}

TEST(ConfigWarnings, AutoStopWithoutAutoStartOnServices) {
  auto r = ParseFlyToml(
      "[[services]]\nauto_stop_machines = true\nauto_start_machines = false\n"
      "[[services.ports]]\nport = 1\n",
      "fly.toml");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_EQ(r->warnings[0].path, "services[0].auto_start_machines");
  EXPECT_EQ(r->warnings[0].pos.line, 3);
  // auto_stop off + auto_start false is fine.
  auto quiet = ParseFlyToml("[http_service]\nauto_start_machines = false\n", "fly.toml");
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet->warnings.empty());
}

TEST(ConfigDeployWarnings, ForceHttpsOnPrivateOnlyApp) {
  AppConfig c = MustParse("app = \"a\"\n[http_service]\n  force_https = true\n");
  auto w = DeployWarnings(c, /*has_public_ips=*/false);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].ToString(),
            "fly.toml:3:17: http_service.force_https: force_https = true on an app whose only "
            "addresses are private: private clients will get a 301 to an https URL with no "
            "certificate; set force_https = false");
  EXPECT_TRUE(DeployWarnings(c, /*has_public_ips=*/true).empty());
  AppConfig off = MustParse("app = \"a\"\n[http_service]\n  force_https = false\n");
  EXPECT_TRUE(DeployWarnings(off, false).empty());
}

TEST(ConfigDeployWarnings, ForceHttpsOnServicePort) {
  AppConfig c = MustParse("[[services]]\n[[services.ports]]\nport = 80\nhandlers = [\"http\"]\nforce_https = true\n");
  auto w = DeployWarnings(c, false);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].path, "services[0].ports[0].force_https");
  EXPECT_EQ(w[0].pos.line, 5);
}

TEST(ConfigValidate, ProcessesReferencedMustExist) {
  EXPECT_EQ(ErrorOf("[processes]\napp = \"x\"\n[[vm]]\nprocesses = [\"web\"]\n"),
            "fly.toml:4:14: vm[0].processes[0]: process group \"web\" is not defined in "
            "[processes] (groups: app)");
  MustParse("[http_service]\nprocesses = [\"app\"]\n");  // implicit group "app"
}

TEST(ConfigValidate, SamePortDifferentProtocolIsFine) {
  MustParse(
      "[[services]]\nprotocol = \"udp\"\n[[services.ports]]\nport = 53\n"
      "[[services]]\n[[services.ports]]\nport = 53\n");
}

TEST(ConfigValidate, HttpServiceTakesPorts80And443) {
  EXPECT_EQ(ErrorOf("[http_service]\n[[services]]\n[[services.ports]]\nstart_port = 70\nend_port = 90\n"),
            "fly.toml:4:14: services[0].ports[0].start_port: external port 80/tcp is already used "
            "by [http_service]");
}

}  // namespace
}  // namespace privcast::config
