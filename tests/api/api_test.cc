// The API server end to end on a temp Unix socket: a real SQLite Registry, the fake Backend
// and a fake supervisor (tests/api/fake_backend.h). Every route, its errors and the server's
// lifecycle.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "api/client.h"
#include "fake_backend.h"

namespace privcast {
namespace {

using nlohmann::json;

constexpr const char* kToml = R"(app = "web"
primary_region = "ams"

[http_service]
  internal_port = 8080
  force_https = true
)";

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() : client_(h_.socket()) {}

  std::pair<int, json> Do(const std::string& method, const std::string& target, const std::string& body = "") {
    auto r = client_.Call(method, target, body);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {0, json()};
    json j = json::parse(r->body, nullptr, false);
    return {r->status, j};
  }
  std::pair<int, json> Post(const std::string& target, const json& body) { return Do("POST", target, body.dump()); }
  std::string Err(const json& j) { return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : ""; }

  // Raw bytes on a fresh connection; returns everything until the server closes.
  std::string RawExchange(const std::string& bytes) { return h_.RawExchange(bytes); }

  void Deploy(const std::string& app, bool flycast = false) {
    ASSERT_EQ(Post("/v1/apps", {{"app_name", app}}).first, 201);
    auto [st, j] = Post("/v1/apps/" + app + "/releases", {{"source", kToml}, {"flycast", flycast}});
    ASSERT_EQ(st, 201) << j.dump();
  }

  testing::ApiHarness h_;
  api::Client client_;
};

TEST_F(ApiTest, ImagesAreEnsuredBeforeAnythingIsStored) {
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "img"}}).first, 201);
  // A machine from an image records the canonical reference and the id.
  auto [st, m] = Post("/v1/apps/img/machines", {{"image", "good/hello"}, {"cmd", {"sleep", "1"}}});
  ASSERT_EQ(st, 201) << m.dump();
  EXPECT_EQ(m["image"], "docker.io/good/hello:latest");
  EXPECT_EQ(m["image_id"], "sha256:" + std::string(64, 'a'));
  // An image that cannot be pulled creates nothing: 503 with the pull's one line.
  auto [st2, e] = Post("/v1/apps/img/machines", {{"image", "bad/x"}});
  EXPECT_EQ(st2, 503);
  EXPECT_EQ(Err(e), "pull bad/x: manifest unknown");
  auto [st3, list] = Do("GET", "/v1/apps/img/machines");
  EXPECT_EQ(st3, 200);
  EXPECT_EQ(list.size(), 1u);
  // deploy --image replaces [build] image and is ensured before the release is stored.
  auto [st4, r] = Post("/v1/apps/img/releases",
                       {{"source", std::string(kToml) + "[build]\n  image = \"good/a\"\n"}, {"image", "bad/b"}});
  EXPECT_EQ(st4, 503) << r.dump();
  auto [st5, app] = Do("GET", "/v1/apps/img");
  EXPECT_EQ(app["current_release"], 0) << "a release whose image cannot be pulled is not stored";
  auto [st6, r2] = Post("/v1/apps/img/releases", {{"source", std::string(kToml) + "[build]\n  image = \"good/a\"\n"}});
  EXPECT_EQ(st6, 201) << r2.dump();
  EXPECT_EQ(h_.backend->ensured, (std::vector<std::string>{"good/hello", "bad/x", "bad/b", "good/a"}));
  // The release is pinned to the manifest the tag named at deploy time (as Fly's releases).
  auto rel = h_.reg->GetRelease("img", r2["release"]["version"].get<int64_t>());
  ASSERT_TRUE(rel.ok()) << rel.status().ToString();
  EXPECT_NE(rel->config_json.find("docker.io/good/a:latest@sha256:" + std::string(64, 'b')), std::string::npos)
      << rel->config_json;
}

TEST_F(ApiTest, SecretsAreSealedByTheBackendAndNeverEchoed) {
  Deploy("web");
  auto [st, j] = Post("/v1/apps/web/secrets", {{"secrets", {{"DB_PASSWORD", "hunter2"}, {"API_KEY", "k"}}}});
  ASSERT_EQ(st, 200) << j.dump();
  EXPECT_EQ(j.dump().find("hunter2"), std::string::npos);
  auto [gs, list] = Do("GET", "/v1/apps/web/secrets");
  ASSERT_EQ(gs, 200);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["name"], "API_KEY");
  EXPECT_EQ(list[1]["digest"], "digest-7");
  EXPECT_FALSE(list[1].contains("sealed"));
  auto stored = h_.reg->ListSecrets("web");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ((*stored)[1].sealed, "sealed-7") << "the store holds what the backend sealed";
  EXPECT_EQ(Post("/v1/apps/web/secrets", {{"secrets", {{"1BAD", "x"}}}}).first, 400);
  EXPECT_EQ(Post("/v1/apps/web/secrets", {{"secrets", {{"OK", 1}}}}).first, 400);
  EXPECT_EQ(Post("/v1/apps/web/secrets", {{"secrets", json::object()}}).first, 400);
  EXPECT_EQ(Post("/v1/apps/web/secrets", {{"values", {{"A", "b"}}}}).first, 400);
  EXPECT_EQ(Post("/v1/apps/nope/secrets", {{"secrets", {{"A", "b"}}}}).first, 404);
  auto [us, ue] = Post("/v1/apps/web/secrets/unset", {{"names", {"API_KEY", "NOPE"}}});
  EXPECT_EQ(us, 404);
  EXPECT_NE(Err(ue).find("NOPE"), std::string::npos);
  EXPECT_EQ(h_.reg->ListSecrets("web")->size(), 2u) << "nothing changes";
  EXPECT_EQ(Post("/v1/apps/web/secrets/unset", {{"names", {"API_KEY"}}}).first, 200);
  EXPECT_EQ(h_.reg->ListSecrets("web")->size(), 1u);
  EXPECT_EQ(Do("DELETE", "/v1/apps/web/secrets").first, 405);
}

TEST_F(ApiTest, ReleasesConfigRegionsOrgAndConsoleRoutes) {
  Deploy("web");
  auto [rs, rels] = Do("GET", "/v1/apps/web/releases");
  ASSERT_EQ(rs, 200);
  ASSERT_EQ(rels.size(), 1u);
  EXPECT_EQ(rels[0]["version"], 1);
  EXPECT_EQ(rels[0]["status"], "complete");
  EXPECT_EQ(rels[0]["description"], "Deploy");
  EXPECT_FALSE(rels[0]["user"].get<std::string>().empty());
  auto [cs, cfg] = Do("GET", "/v1/apps/web/config");
  ASSERT_EQ(cs, 200) << cfg.dump();
  EXPECT_EQ(cfg["version"], 1);
  EXPECT_EQ(cfg["config"]["app"], "web");
  EXPECT_EQ(cfg["config"]["http_service"]["internal_port"], 8080);
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "fresh"}}).first, 201);
  EXPECT_EQ(Do("GET", "/v1/apps/fresh/config").first, 404);
  auto [gs, regions] = Do("GET", "/v1/regions");
  ASSERT_EQ(gs, 200);
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(regions[0]["code"].get<std::string>().size(), 3u);
  // The region table in force (ADR 0018): Fly's until one is stored.
  auto [ps, table] = Do("GET", "/v1/platform/regions?from=ams");
  ASSERT_EQ(ps, 200) << table.dump();
  EXPECT_EQ(table["source"], "built-in");
  EXPECT_EQ(table["regions"][0]["code"], "ams");  // nearest first
  EXPECT_EQ(table["regions"][0]["km"], 0.0);
  EXPECT_EQ(Do("GET", "/v1/platform/regions?from=xyz").first, 400);
  bool changed = false;
  ASSERT_TRUE(
      h_.reg
          ->PutRegionTable(RegionTable({{"ams", "", 52.31, 4.76}, {"syd", "", -33.94, 151.18}}, {{"ams", "syd", 100}}),
                           &changed)
          .ok());
  auto [ps2, stored] = Do("GET", "/v1/platform/regions?from=ams");
  ASSERT_EQ(ps2, 200);
  EXPECT_EQ(stored["source"], "store");
  EXPECT_EQ(stored["regions"].size(), 2u);
  EXPECT_EQ(stored["regions"][1]["km"], 100.0);
  EXPECT_EQ(stored["distances"], json::parse(R"([{"from":"ams","to":"syd","km":100.0}])"));
  auto [os, org] = Do("GET", "/v1/orgs/personal");
  ASSERT_EQ(os, 200);
  EXPECT_EQ(org["default_network"], "default");
  EXPECT_EQ(org["apps"], json({"fresh", "web"}));
  EXPECT_EQ(Do("GET", "/v1/orgs/nope").first, 404);
  // ssh console without the caller's stdio is refused before anything runs.
  auto ms = h_.reg->ListMachines("web");
  ASSERT_TRUE(ms.ok() && !ms->empty());
  auto [ks, ke] = Post("/v1/apps/web/machines/" + (*ms)[0].id + "/console", {{"cmd", {"/bin/sh"}}});
  EXPECT_EQ(ks, 400);
  EXPECT_NE(Err(ke).find("stdin, stdout and stderr"), std::string::npos) << ke.dump();
  EXPECT_EQ(Post("/v1/apps/web/machines/" + (*ms)[0].id + "/console", {{"cmd", {"sh"}}}).first, 400);
}

TEST_F(ApiTest, SocketIsPrivate) {
  struct stat st {};
  ASSERT_EQ(::stat(h_.socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ApiTest, SecondServerOnLiveSocketIsRefused) {
  api::ServerOptions o;
  o.socket_path = h_.socket();
  api::Server other(h_.reg.get(), h_.backend.get(), o);
  Status s = other.Start();
  EXPECT_EQ(s.code(), Code::kAlreadyExists);
  EXPECT_NE(s.message().find("already serving"), std::string::npos);
  // The first server still answers.
  EXPECT_EQ(Do("GET", "/v1/orgs").first, 200);
}

TEST_F(ApiTest, Orgs) {
  auto [st, list] = Do("GET", "/v1/orgs");
  ASSERT_EQ(st, 200);
  ASSERT_TRUE(list.is_array());
  EXPECT_EQ(list[0]["slug"], "personal");
  auto [c, o] = Post("/v1/orgs", {{"slug", "acme"}});
  EXPECT_EQ(c, 201);
  EXPECT_EQ(o["slug"], "acme");
  EXPECT_EQ(o["default_network"], "default");
  auto [d, e] = Post("/v1/orgs", {{"slug", "acme"}});
  EXPECT_EQ(d, 409);
  EXPECT_NE(Err(e).find("acme"), std::string::npos);
  auto [b1, e1] = Post("/v1/orgs", json::object());
  EXPECT_EQ(b1, 400);
  EXPECT_EQ(Err(e1), "field 'slug' is required");
  auto [b2, e2] = Post("/v1/orgs", {{"slug", 5}});
  EXPECT_EQ(b2, 400);
  EXPECT_EQ(Err(e2), "field 'slug' must be a string");
  auto [b3, e3] = Post("/v1/orgs", {{"slug", "Bad_Slug"}});
  EXPECT_EQ(b3, 400);
  EXPECT_NE(Err(e3).find("field 'slug'"), std::string::npos);
  auto [b4, e4] = Post("/v1/orgs", {{"slug", "x"}, {"colour", "red"}});
  EXPECT_EQ(b4, 400);
  EXPECT_EQ(Err(e4), "unknown field 'colour'");
  auto [b5, e5] = Do("POST", "/v1/orgs", "{not json");
  EXPECT_EQ(b5, 400);
  EXPECT_NE(Err(e5).find("invalid JSON body"), std::string::npos);
  auto [b6, e6] = Do("POST", "/v1/orgs", "[1,2]");
  EXPECT_EQ(b6, 400);
  EXPECT_EQ(Err(e6), "invalid JSON body: expected an object");
}

TEST_F(ApiTest, Networks) {
  ASSERT_EQ(Post("/v1/orgs", {{"slug", "acme"}}).first, 201);
  auto [c, n] = Post("/v1/networks", {{"name", "blue"}, {"org", "acme"}});
  ASSERT_EQ(c, 201) << n.dump();
  EXPECT_EQ(n["name"], "blue");
  EXPECT_EQ(n["default"], false);
  EXPECT_EQ(n["prefix"].get<std::string>().rfind("fdaa:", 0), 0u);
  auto [l, list] = Do("GET", "/v1/networks?org=acme");
  ASSERT_EQ(l, 200);
  EXPECT_EQ(list.size(), 2u);  // default + blue
  for (auto& x : list) EXPECT_EQ(x["org"], "acme");
  auto [u, ue] = Post("/v1/networks", {{"name", "x"}, {"org", "nope"}});
  EXPECT_EQ(u, 404);
  EXPECT_NE(Err(ue).find("nope"), std::string::npos);
  auto [m, me] = Post("/v1/networks", {{"name", "x"}});
  EXPECT_EQ(m, 400);
  EXPECT_EQ(Err(me), "field 'org' is required");
  EXPECT_EQ(Post("/v1/networks", {{"name", "blue"}, {"org", "acme"}}).first, 409);
}

TEST_F(ApiTest, Apps) {
  auto [c, a] = Post("/v1/apps", {{"app_name", "web"}});
  ASSERT_EQ(c, 201) << a.dump();
  EXPECT_EQ(a["org"], "personal");
  EXPECT_EQ(a["network"], "default");
  EXPECT_EQ(a["status"], "pending");
  EXPECT_EQ(Post("/v1/apps", {{"app_name", "web"}}).first, 409);
  auto [g, ga] = Do("GET", "/v1/apps/web");
  EXPECT_EQ(g, 200);
  EXPECT_EQ(ga["name"], "web");
  auto [nf, e] = Do("GET", "/v1/apps/nope");
  EXPECT_EQ(nf, 404);
  EXPECT_NE(Err(e).find("nope"), std::string::npos);
  EXPECT_NE(Err(e).find("web"), std::string::npos) << "404 names what exists: " << Err(e);
  auto [l, list] = Do("GET", "/v1/apps");
  EXPECT_EQ(l, 200);
  EXPECT_EQ(list.size(), 1u);
  auto [bo, boe] = Post("/v1/apps", {{"app_name", "x"}, {"org", "nope"}});
  EXPECT_EQ(bo, 404);
  auto [bn, bne] = Post("/v1/apps", {{"app_name", "-bad"}});
  EXPECT_EQ(bn, 400);
  EXPECT_NE(Err(bne).find("app_name"), std::string::npos);
}

TEST_F(ApiTest, DeployStoresReleaseWarnsAndCallsBackend) {
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "web"}}).first, 201);
  auto [st, r] = Post("/v1/apps/web/releases", {{"source", kToml}, {"ha", false}});
  ASSERT_EQ(st, 201) << r.dump();
  EXPECT_EQ(r["release"]["version"], 1);
  EXPECT_EQ(h_.backend->deploys.load(), 1);
  EXPECT_FALSE(h_.backend->last_ha.load());
  EXPECT_EQ(r["machines"].size(), 1u);
  bool force_https_warning = false, backend_warning = false;
  for (auto& w : r["warnings"]) {
    std::string s = w.get<std::string>();
    if (s.find("force_https") != std::string::npos) force_https_warning = true;
    if (s == "backend says hi") backend_warning = true;
  }
  EXPECT_TRUE(force_https_warning) << r["warnings"].dump();
  EXPECT_TRUE(backend_warning);
  EXPECT_FALSE(r.contains("flycast"));
  auto [g, a] = Do("GET", "/v1/apps/web");
  EXPECT_EQ(a["current_release"], 1);
}

TEST_F(ApiTest, DeployWhoseMachinesCannotStartFailsWith422NamingTheReason) {
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "web"}}).first, 201);
  h_.backend->deploy_failed = 2;
  h_.backend->deploy_errors = {"machine setup: execve /opt/x: No such file or directory (machines a, b)"};
  auto [st, r] = Post("/v1/apps/web/releases", {{"source", kToml}});
  EXPECT_EQ(st, 422) << r.dump();
  EXPECT_EQ(Err(r),
            "release v1 of web did not start: 2 of 2 machines failed to start: machine setup: execve /opt/x: No such "
            "file or directory (machines a, b)");
  EXPECT_EQ(r["release"]["version"], 1);  // stored: a fixed config deployed again starts them
  EXPECT_EQ(r["machines"].size(), 2u);
}

TEST_F(ApiTest, BadFlyTomlIsRefusedWithPositionAndNothingChanges) {
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "web"}}).first, 201);
  std::string bad = "app = \"web\"\n[http_service]\n  internal_port = \"eighty\"\n";
  auto [st, r] = Post("/v1/apps/web/releases", {{"source", bad}, {"path", "conf/fly.toml"}, {"flycast", true}});
  EXPECT_EQ(st, 400);
  EXPECT_EQ(Err(r).rfind("conf/fly.toml:3:", 0), 0u) << Err(r);
  EXPECT_NE(Err(r).find("internal_port"), std::string::npos) << Err(r);
  EXPECT_EQ(h_.backend->deploys.load(), 0);
  EXPECT_EQ(Do("GET", "/v1/apps/web").second["current_release"], 0);
  EXPECT_EQ(Do("GET", "/v1/apps/web/ip_assignments").second.size(), 0u) << "no flycast address on a refused deploy";
  auto [m, me] = Post("/v1/apps/web/releases", {{"flycast", true}});
  EXPECT_EQ(m, 400);
  EXPECT_EQ(Err(me), "field 'source' is required");
  auto [t, te] = Post("/v1/apps/web/releases", {{"source", kToml}, {"ha", "no"}});
  EXPECT_EQ(t, 400);
  EXPECT_EQ(Err(te), "field 'ha' must be true or false");
  EXPECT_EQ(Post("/v1/apps/nope/releases", {{"source", kToml}}).first, 404);
}

TEST_F(ApiTest, DeployWithFlycastEnsuresOneAddressIdempotently) {
  Deploy("web", true);
  auto [st, r] = Post("/v1/apps/web/releases", {{"source", kToml}, {"flycast", true}});
  ASSERT_EQ(st, 201);
  EXPECT_EQ(r["release"]["version"], 2);
  ASSERT_TRUE(r["flycast"].is_object());
  auto [l, ips] = Do("GET", "/v1/apps/web/ip_assignments");
  ASSERT_EQ(ips.size(), 1u);
  EXPECT_EQ(ips[0]["ip"], r["flycast"]["ip"]);
  EXPECT_EQ(ips[0]["type"], "private_v6");
  EXPECT_EQ(ips[0]["region"], "global");
  EXPECT_EQ(ips[0]["version"], "v6");
}

TEST_F(ApiTest, IpAssignments) {
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "web"}}).first, 201);
  ASSERT_EQ(Post("/v1/orgs", {{"slug", "other"}}).first, 201);
  auto [a1, ip1] = Post("/v1/apps/web/ip_assignments", {{"type", "private_v6"}});
  ASSERT_EQ(a1, 201) << ip1.dump();
  EXPECT_EQ(ip1["org"], "personal");
  auto [a2, ip2] = Post("/v1/apps/web/ip_assignments", {{"org", "other"}});
  ASSERT_EQ(a2, 201) << ip2.dump();
  EXPECT_EQ(ip2["org"], "other");
  EXPECT_NE(ip1["ip"], ip2["ip"]);
  auto [a3, e3] = Post("/v1/apps/web/ip_assignments", {{"type", "public_v4"}});
  EXPECT_EQ(a3, 400);
  EXPECT_NE(Err(e3).find("field 'type'"), std::string::npos);
  auto [a4, e4] = Post("/v1/apps/web/ip_assignments", {{"org", "other"}, {"network", "default"}});
  EXPECT_EQ(a4, 400);
  EXPECT_NE(Err(e4).find("exclusive"), std::string::npos);
  auto [a5, e5] = Post("/v1/apps/web/ip_assignments", {{"network", "nope"}});
  EXPECT_EQ(a5, 404);
  EXPECT_EQ(Do("GET", "/v1/apps/web/ip_assignments").second.size(), 2u);
  std::string ip = ip2["ip"];
  auto [d, dj] = Do("DELETE", "/v1/apps/web/ip_assignments/" + ip);
  EXPECT_EQ(d, 200) << dj.dump();
  EXPECT_EQ(dj["released"], ip);
  EXPECT_EQ(Do("GET", "/v1/apps/web/ip_assignments").second.size(), 1u);
  EXPECT_EQ(Do("DELETE", "/v1/apps/web/ip_assignments/" + ip).first, 404);
  auto [bad, be] = Do("DELETE", "/v1/apps/web/ip_assignments/not-an-ip");
  EXPECT_EQ(bad, 400);
  EXPECT_EQ(Err(be), "'not-an-ip' is not an IPv6 address");
}

TEST_F(ApiTest, MachinesLifecycleRecordsIntentAndWaits) {
  Deploy("web");
  auto [l, ms] = Do("GET", "/v1/apps/web/machines");
  ASSERT_EQ(l, 200);
  ASSERT_EQ(ms.size(), 2u);
  std::string id = ms[0]["id"];
  EXPECT_EQ(ms[0]["private_ip"].get<std::string>().rfind("fdaa:", 0), 0u);
  auto [w, wm] = Do("GET", "/v1/apps/web/machines/" + id + "/wait?state=started&timeout=10");
  ASSERT_EQ(w, 200) << wm.dump();
  EXPECT_EQ(wm["state"], "started");

  auto [s, sm] = Post("/v1/apps/web/machines/" + id + "/stop", json::object());
  ASSERT_EQ(s, 200) << sm.dump();
  EXPECT_TRUE(sm["state"] == "stopping" || sm["state"] == "stopped") << sm.dump();
  EXPECT_EQ(Do("GET", "/v1/apps/web/machines/" + id + "/wait?state=stopped&timeout=10").second["state"], "stopped");
  // Suspending a stopped machine is a conflict that says how to fix it.
  auto [c, ce] = Post("/v1/apps/web/machines/" + id + "/suspend", json::object());
  EXPECT_EQ(c, 409);
  EXPECT_NE(Err(ce).find("start it first"), std::string::npos);
  EXPECT_EQ(Post("/v1/apps/web/machines/" + id + "/start", json::object()).first, 200);
  EXPECT_EQ(Do("GET", "/v1/apps/web/machines/" + id + "/wait?state=started&timeout=10").first, 200);
  EXPECT_EQ(Post("/v1/apps/web/machines/" + id + "/suspend", json::object()).first, 200);
  EXPECT_EQ(Do("GET", "/v1/apps/web/machines/" + id + "/wait?state=suspended&timeout=10").first, 200);
  EXPECT_EQ(Post("/v1/apps/web/machines/" + id + "/start", json::object()).first, 200);
  EXPECT_EQ(Do("GET", "/v1/apps/web/machines/" + id + "/wait?state=started&timeout=10").first, 200);

  // Destroying a started machine needs force.
  auto [d, de] = Do("DELETE", "/v1/apps/web/machines/" + id);
  EXPECT_EQ(d, 409);
  EXPECT_NE(Err(de).find("force"), std::string::npos);
  EXPECT_EQ(Do("DELETE", "/v1/apps/web/machines/" + id + "?force=true").first, 200);
  auto [g, gd] = Do("GET", "/v1/apps/web/machines/" + id + "/wait?state=destroyed&timeout=10");
  EXPECT_EQ(g, 200);
  EXPECT_EQ(gd["state"], "destroyed");
  auto [nf, nfe] = Do("GET", "/v1/apps/web/machines/" + id);
  EXPECT_EQ(nf, 404);
  std::string other = ms[1]["id"];
  EXPECT_NE(Err(nfe).find(other), std::string::npos) << "404 names the app's machines: " << Err(nfe);
}

TEST(ApiNoSupervisor, WaitTimesOutWith408) {
  testing::ApiHarness h(/*with_supervisor=*/false);
  api::Client c(h.socket());
  ASSERT_EQ(c.Call("POST", "/v1/apps", R"({"app_name":"web"})")->status, 201);
  auto m = c.Call("POST", "/v1/apps/web/machines", R"({"cmd":["sleep","1"]})");
  ASSERT_EQ(m->status, 201) << m->body;
  std::string id = json::parse(m->body)["id"];
  auto w = c.Call("GET", "/v1/apps/web/machines/" + id + "/wait?state=started&timeout=0");
  EXPECT_EQ(w->status, 408) << w->body;
  auto bad = c.Call("GET", "/v1/apps/web/machines/" + id + "/wait?state=flying");
  EXPECT_EQ(bad->status, 400);
  auto bt = c.Call("GET", "/v1/apps/web/machines/" + id + "/wait?timeout=soon");
  EXPECT_EQ(bt->status, 400);
}

TEST_F(ApiTest, MachineCreateAndRunValidation) {
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "web"}}).first, 201);
  auto [n, ne] = Post("/v1/apps/web/machines", json::object());
  EXPECT_EQ(n, 400);
  EXPECT_NE(Err(ne).find("deploy it first"), std::string::npos);
  auto [r, re] = Post("/v1/apps/web/machines/run", {{"cmd", {"echo", 1}}});
  EXPECT_EQ(r, 400);
  EXPECT_EQ(Err(re), "field 'cmd' must be an array of strings");
  auto [g, ge] = Post("/v1/apps/web/machines/run", {{"cmd", {"true"}}, {"region", "AMSTERDAM"}});
  EXPECT_EQ(g, 400);
  EXPECT_NE(Err(ge).find("field 'region'"), std::string::npos);
  auto [ok, m] = Post("/v1/apps/web/machines/run", {{"cmd", {"sleep", "100"}}, {"rm", true}, {"env", {{"A", "b"}}}});
  ASSERT_EQ(ok, 201) << m.dump();
  EXPECT_EQ(m["auto_destroy"], true);
  EXPECT_EQ(m["cmd"][0], "sleep");
  EXPECT_EQ(m["env"]["A"], "b");
  // Shell without the three fds.
  auto [s, se] = Post("/v1/apps/web/machines/run", {{"shell", true}});
  EXPECT_EQ(s, 400);
  EXPECT_NE(Err(se).find("3 file descriptors"), std::string::npos);
}

TEST_F(ApiTest, ShellRunPassesFdsAndReturnsExitCode) {
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "web"}}).first, 201);
  int in[2], out[2], err[2];
  ASSERT_EQ(::pipe(in), 0);
  ASSERT_EQ(::pipe(out), 0);
  ASSERT_EQ(::pipe(err), 0);
  (void)!::write(in[1], "abcde", 5);
  ::close(in[1]);
  std::string events;
  auto st = client_.Stream("POST", "/v1/apps/web/machines/run", R"({"shell":true,"cmd":["sh"]})",
                           [&](std::string_view d) {
                             events.append(d);
                             return true;
                           },
                           {in[0], out[1], err[1]});
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(*st, 200);
  EXPECT_NE(events.find("\"event\":\"started\""), std::string::npos) << events;
  EXPECT_NE(events.find("{\"event\":\"exit\",\"exit_code\":5}"), std::string::npos) << events;
  char buf[256];
  ssize_t n = ::read(out[0], buf, sizeof buf);
  ASSERT_GT(n, 0);
  std::string got(buf, static_cast<size_t>(n));
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  EXPECT_NE(got.find("hello from "), std::string::npos);
  EXPECT_NE(got.find("abcde"), std::string::npos);
  ::close(out[0]);
  ::close(err[0]);
  // The connection is still usable afterwards.
  EXPECT_EQ(Do("GET", "/v1/orgs").first, 200);
}

TEST_F(ApiTest, StatusScaleMetrics) {
  Deploy("web", true);
  auto [s, st] = Do("GET", "/v1/apps/web/status");
  ASSERT_EQ(s, 200);
  EXPECT_EQ(st["hostname"], "web.flycast");
  EXPECT_EQ(st["ips"].size(), 1u);
  ASSERT_EQ(st["machines"].size(), 2u);
  EXPECT_EQ(st["machines"][0]["load"], 3);
  EXPECT_EQ(st["machines"][0]["checks"], "1 total, 1 passing");
  auto [c, sc] = Post("/v1/apps/web/scale", {{"count", 3}});
  ASSERT_EQ(c, 200) << sc.dump();
  EXPECT_EQ(sc["machines"].size(), 3u);
  auto [bc, bce] = Post("/v1/apps/web/scale", {{"count", -1}});
  EXPECT_EQ(bc, 400);
  EXPECT_EQ(Err(bce), "field 'count' must be between 0 and 1000");
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "fresh"}}).first, 201);
  EXPECT_EQ(Post("/v1/apps/fresh/scale", {{"count", 1}}).first, 409);
  auto m = client_.Call("GET", "/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->status, 200);
  EXPECT_NE(m->body.find("privcast_up 1"), std::string::npos);
  EXPECT_EQ(Do("GET", "/v1/version").second["version"], "0.1.0");
}

TEST_F(ApiTest, LogsStreamAndFollowEndsWhenClientLeaves) {
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "web"}}).first, 201);
  auto r = client_.Call("GET", "/v1/apps/web/logs");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("web line 0\n"), std::string::npos);
  EXPECT_NE(r->body.find("web line 2\n"), std::string::npos);
  EXPECT_EQ(Do("GET", "/v1/apps/nope/logs").first, 404);
  EXPECT_EQ(Do("GET", "/v1/apps/web/logs?tail=x").first, 400);

  api::Client follower(h_.socket());
  int lines = 0;
  auto st = follower.Stream("GET", "/v1/apps/web/logs?follow=1", "", [&](std::string_view d) {
    for (char ch : d) lines += ch == '\n';
    return lines < 3;  // stop after the history: the client hangs up
  });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*st, 200);
  for (int i = 0; i < 2000 && h_.backend->follow_ended.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(h_.backend->follow_ended.load(), 1);
}

TEST_F(ApiTest, DestroyAppTearsDownMachines) {
  Deploy("web", true);
  auto [d, dj] = Do("DELETE", "/v1/apps/web");
  ASSERT_EQ(d, 200) << dj.dump();
  EXPECT_EQ(Do("GET", "/v1/apps/web").first, 404);
  EXPECT_EQ(Do("DELETE", "/v1/apps/web").first, 404);
}

TEST_F(ApiTest, RoutingErrors) {
  auto [m, me] = Do("PUT", "/v1/orgs");
  EXPECT_EQ(m, 405);
  EXPECT_NE(Err(me).find("allowed: GET, POST"), std::string::npos);
  auto [n, ne] = Do("GET", "/v2/whatever");
  EXPECT_EQ(n, 404);
  EXPECT_NE(Err(ne).find("no such route"), std::string::npos);
  EXPECT_EQ(Do("GET", "/v1/apps/web/machines/abc/explode").first, 404);
}

TEST_F(ApiTest, MalformedRequestsGet4xxAndServerKeepsServing) {
  std::string r1 = RawExchange("GARBAGE\r\n\r\n");
  EXPECT_EQ(r1.rfind("HTTP/1.1 400 ", 0), 0u) << r1;
  std::string r2 = RawExchange("GET /v1/orgs HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(r2.rfind("HTTP/1.1 431 ", 0), 0u) << r2.substr(0, 80);
  std::string r3 = RawExchange("POST /v1/orgs HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n");
  EXPECT_EQ(r3.rfind("HTTP/1.1 413 ", 0), 0u) << r3;
  std::string r4 = RawExchange("POST /v1/orgs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(r4.rfind("HTTP/1.1 501 ", 0), 0u) << r4;
  std::string r5 = RawExchange("GET /v1/orgs HTTP/2.0\r\n\r\n");
  EXPECT_EQ(r5.rfind("HTTP/1.1 505 ", 0), 0u) << r5;
  std::string r6 = RawExchange("GET /v1/apps/%zz HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(r6.rfind("HTTP/1.1 400 ", 0), 0u) << r6;
  // Keep-alive: two pipelined requests on one connection, then close.
  std::string r7 = RawExchange("GET /v1/version HTTP/1.1\r\n\r\nGET /v1/version HTTP/1.1\r\nConnection: close\r\n\r\n");
  size_t first = r7.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(r7.find("HTTP/1.1 200", first + 1), std::string::npos) << r7;
  EXPECT_EQ(Do("GET", "/v1/orgs").first, 200);
}

TEST_F(ApiTest, StopEndsIdleConnectionsAndStreams) {
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "web"}}).first, 201);  // client_ stays connected, idle
  std::thread t([&] {
    api::Client follower(h_.socket());
    auto st = follower.Stream("GET", "/v1/apps/web/logs?follow=1", "", [](std::string_view) { return true; });
    (void)st;
  });
  for (int i = 0; i < 2000 && !h_.backend->following.load(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(h_.backend->following.load());
  h_.server->Stop();
  t.join();
  EXPECT_EQ(h_.backend->follow_ended.load(), 1);
  struct stat st {};
  EXPECT_NE(::stat(h_.socket().c_str(), &st), 0) << "socket file removed";
  auto r = client_.Call("GET", "/v1/orgs");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace privcast

namespace privcast {
namespace {

// Per-service addresses (ADR 0013): checked against the current release, one per service and
// network, listed with their service; deploy --flycast adds one per group with a service.
constexpr const char* kShopToml = R"(app = "shop"
[processes]
web = "/bin/true"
api = "/bin/true"
worker = "/bin/true"
[[services]]
internal_port = 80
processes = ["web", "api"]
[[services.ports]]
port = 80
[[services]]
name = "metrics"
internal_port = 9100
processes = ["api"]
[[services.ports]]
port = 9100
)";

TEST_F(ApiTest, ServiceAddressesNeedAServiceOfTheCurrentRelease) {
  ASSERT_EQ(Post("/v1/apps", {{"app_name", "shop"}}).first, 201);
  auto [st0, e0] = Post("/v1/apps/shop/ip_assignments", {{"service", "api"}});
  EXPECT_EQ(st0, 400);
  EXPECT_NE(Err(e0).find("has no release yet"), std::string::npos) << e0.dump();
  auto [bad, be] = Post("/v1/apps/shop/ip_assignments", {{"service", "Not A Label"}});
  EXPECT_EQ(bad, 400);
  EXPECT_NE(Err(be).find("field 'service'"), std::string::npos) << be.dump();

  auto [st, r] = Post("/v1/apps/shop/releases", {{"source", kShopToml}, {"flycast", true}, {"ha", false}});
  ASSERT_EQ(st, 201) << r.dump();
  ASSERT_TRUE(r["flycast"].is_object());
  EXPECT_EQ(r["flycast"]["service"], "");
  ASSERT_EQ(r["flycast_services"].size(), 2u) << r.dump();  // api and web; worker has no service
  EXPECT_EQ(r["flycast_services"][0]["service"], "api");
  EXPECT_EQ(r["flycast_services"][1]["service"], "web");

  auto [st1, e1] = Post("/v1/apps/shop/ip_assignments", {{"service", "worker"}});
  EXPECT_EQ(st1, 400);
  EXPECT_EQ(Err(e1), "app 'shop' has no service 'worker' (services: api, metrics, web)");
  auto [st2, m1] = Post("/v1/apps/shop/ip_assignments", {{"service", "metrics"}});
  ASSERT_EQ(st2, 201) << m1.dump();
  EXPECT_EQ(m1["service"], "metrics");
  auto [st3, m2] = Post("/v1/apps/shop/ip_assignments", {{"service", "metrics"}});
  ASSERT_EQ(st3, 201);
  EXPECT_EQ(m1["ip"], m2["ip"]);  // one per service and network
  // A second deploy allocates nothing new; the app's own address is still the app's.
  ASSERT_EQ(Post("/v1/apps/shop/releases", {{"source", kShopToml}, {"flycast", true}, {"ha", false}}).first, 201);
  auto [l, ips] = Do("GET", "/v1/apps/shop/ip_assignments");
  ASSERT_EQ(ips.size(), 4u) << ips.dump();
  std::set<std::string> services;
  for (auto& ip : ips) services.insert(ip["service"].get<std::string>());
  EXPECT_EQ(services, (std::set<std::string>{"", "api", "metrics", "web"}));
  std::string addr = m1["ip"];
  EXPECT_EQ(Do("DELETE", "/v1/apps/shop/ip_assignments/" + addr).first, 200);
  EXPECT_EQ(Do("GET", "/v1/apps/shop/ip_assignments").second.size(), 3u);
}

}  // namespace
}  // namespace privcast
