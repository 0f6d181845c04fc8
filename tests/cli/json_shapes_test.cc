// Golden tests of flyctl's JSON shapes (cli/json_shapes.h), checked against Fly's documented
// objects (sources in docs/cli.md "JSON shapes"): fly-go's IPAddress as `fly ips list --json`
// prints it, the Machines API's Machine (`fly machine list --json`), flyctl's app and log entry.
// Also privcast's own fields staying beside them, durations and relative times.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/json_shapes.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

TEST(JsonShapes, IpAddressIsFlyGosPlusPrivcasts) {
  json api = {{"ip", "fdaa:a03:5d10:0:1::2"},
              {"app", "web"},
              {"type", "private_v6"},
              {"version", "v6"},
              {"org", "personal"},
              {"network", "default"},
              {"region", "global"},
              {"created_at", "2026-11-22T03:41:02Z"}};
  json golden = api;
  golden.update({{"ID", "fdaa:a03:5d10:0:1::2"},
                 {"Address", "fdaa:a03:5d10:0:1::2"},
                 {"Type", "private_v6"},
                 {"Region", "global"},
                 {"CreatedAt", "2026-11-22T03:41:02Z"},
                 {"Network", {{"Name", "default"}, {"Organization", {{"Slug", "personal"}}}}},
                 {"ServiceName", ""}});
  EXPECT_EQ(FlyIp(api), golden) << FlyIp(api).dump(2);
}

TEST(JsonShapes, MachineIsTheMachinesApisPlusPrivcasts) {
  json api = {{"id", "3d8e0c5f2a1b7c"},
              {"app", "web"},
              {"state", "started"},
              {"region", "ams"},
              {"process_group", "app"},
              {"private_ip", "fdaa:a03:5d10:0:2:4f1a::2"},
              {"release_version", 2},
              {"cmd", json::array({"nginx", "-g", "daemon off;"})},
              {"env", {{"K", "V"}}},
              {"image", "docker.io/library/nginx:1.25"},
              {"auto_destroy", false},
              {"services", true},
              {"created_at", "2026-11-22T03:41:05Z"},
              {"updated_at", "2026-11-22T03:47:05Z"}};
  json golden = api;
  golden.update(
      {{"name", "3d8e0c5f2a1b7c"},
       {"instance_id", "3d8e0c5f2a1b7c-v2"},
       {"image_ref", {{"registry", "docker.io"}, {"repository", "library/nginx"}, {"tag", "1.25"}, {"digest", ""}}},
       {"config",
        {{"image", "docker.io/library/nginx:1.25"},
         {"env", {{"K", "V"}}},
         {"init", {{"cmd", json::array({"nginx", "-g", "daemon off;"})}}},
         {"auto_destroy", false},
         {"metadata", {{"fly_process_group", "app"}, {"fly_release_version", "2"}, {"fly_platform_version", "v2"}}}}}});
  EXPECT_EQ(FlyMachine(api), golden) << FlyMachine(api).dump(2);
  // Check results (status) become flyctl's `checks`; a digest reference keeps its digest.
  json st = api;
  st["check_results"] = json::array({{{"name", "servicecheck-00-http-8080"}, {"status", "passing"}}});
  st["image"] = "127.0.0.1:5000/test/hello@sha256:abcd";
  json m = FlyMachine(st);
  EXPECT_EQ(m["checks"][0]["status"], "passing");
  EXPECT_EQ(
      m["image_ref"],
      json({{"registry", "127.0.0.1:5000"}, {"repository", "test/hello"}, {"tag", ""}, {"digest", "sha256:abcd"}}));
  // A host-/usr machine (no image) still has the shape, empty.
  EXPECT_EQ(FlyMachine(json{{"id", "x"}})["image_ref"]["repository"], "");
}

TEST(JsonShapes, AppAndStatus) {
  json api = {{"name", "web"},        {"org", "acme"},        {"network", "blue"},
              {"current_release", 3}, {"status", "deployed"}, {"created_at", "2026-11-22T03:40:44Z"}};
  json a = FlyApp(api);
  for (auto& [k, v] : api.items()) EXPECT_EQ(a[k], v) << k << ": privcast's fields stay";
  EXPECT_EQ(a["ID"], "web");
  EXPECT_EQ(a["Name"], "web");
  EXPECT_EQ(a["Status"], "deployed");
  EXPECT_EQ(a["Deployed"], true);
  EXPECT_EQ(a["Version"], 3);
  EXPECT_EQ(a["Hostname"], "web.flycast");
  EXPECT_EQ(a["Organization"]["Slug"], "acme");
  json pending = FlyApp({{"name", "new"}, {"current_release", 0}, {"status", "pending"}});
  EXPECT_EQ(pending["Deployed"], false);
  json status = api;
  status["hostname"] = "web.flycast";
  status["machines"] = json::array({{{"id", "m1"}, {"process_group", "app"}}});
  status["ips"] = json::array({{{"ip", "fdaa::2"}, {"network", "blue"}, {"org", "acme"}}});
  json s = FlyStatus(status);
  EXPECT_EQ(s["Machines"][0]["config"]["metadata"]["fly_process_group"], "app");
  EXPECT_EQ(s["machines"][0].count("config"), 0u) << "privcast's list is left as it was";
  EXPECT_EQ(s["ips"][0]["Network"]["Name"], "blue");
  EXPECT_EQ(s["ips"][0]["ip"], "fdaa::2");
}

TEST(JsonShapes, LogEntries) {
  json m = FlyLogEntry("2026-11-22T03:48:00.120Z app[3d8e0c5f2a1b7c] ams [info] GET / 200");
  EXPECT_EQ(m, json({{"timestamp", "2026-11-22T03:48:00.120Z"},
                     {"message", "GET / 200"},
                     {"level", "info"},
                     {"instance", "3d8e0c5f2a1b7c"},
                     {"region", "ams"},
                     {"source", "app"},
                     {"meta", {{"instance", "3d8e0c5f2a1b7c"}, {"region", "ams"}, {"event", {{"provider", "app"}}}}}}));
  json e = FlyLogEntry("2026-11-22T03:48:00.001Z proxy Starting machine 3d8e0c5f2a1b7c");
  EXPECT_EQ(e["message"], "Starting machine 3d8e0c5f2a1b7c");
  EXPECT_EQ(e["source"], "proxy");
  EXPECT_EQ(e["instance"], "");
  // A machine line without a level keeps all its text.
  EXPECT_EQ(FlyLogEntry("2026-11-22T03:48:00Z app[x] ams  two  spaces")["message"], " two  spaces");
}

TEST(Durations, FlyctlForms) {
  EXPECT_EQ(ParseDurationSeconds("10s"), 10);
  EXPECT_EQ(ParseDurationSeconds("1m"), 60);
  EXPECT_EQ(ParseDurationSeconds("1m30s"), 90);
  EXPECT_EQ(ParseDurationSeconds("2h"), 7200);
  EXPECT_EQ(ParseDurationSeconds("500ms"), 1) << "a wait of 500ms still waits";
  EXPECT_EQ(ParseDurationSeconds("0s"), 0);
  EXPECT_EQ(ParseDurationSeconds("45"), 45) << "bare seconds, as before";
  EXPECT_EQ(ParseDurationSeconds("0"), 0);
  for (const char* bad : {"", "s", "-5s", "1y", "ten", "10 s", "1m30", "99999999999s"})
    EXPECT_EQ(ParseDurationSeconds(bad), std::nullopt) << bad;
}

TEST(RelativeTimes, LikeFlyctlsTables) {
  int64_t now = *ParseIsoTime("2026-11-22T03:41:02Z");
  EXPECT_EQ(RelativeTime("2026-11-22T03:41:02Z", now), "0s ago");
  EXPECT_EQ(RelativeTime("2026-11-22T03:41:05Z", now), "0s ago") << "a clock ahead of ours";
  EXPECT_EQ(RelativeTime("2026-11-22T03:40:20Z", now), "42s ago");
  EXPECT_EQ(RelativeTime("2026-11-22T03:39:02Z", now), "2m ago");
  EXPECT_EQ(RelativeTime("2026-11-22T00:36:00Z", now), "3h5m ago");
  EXPECT_EQ(RelativeTime("2026-11-22T01:41:02Z", now), "2h ago");
  EXPECT_EQ(RelativeTime("2026-11-18T03:41:02Z", now), "4d ago");
  EXPECT_EQ(RelativeTime("2026-11-22T03:39:02.500Z", now), "2m ago");
  EXPECT_EQ(RelativeTime("", now), "");
  EXPECT_EQ(RelativeTime("yesterday", now), "yesterday");
}

}  // namespace
}  // namespace privcast::cli
