// The privcast CLI: formatting, argument parsing and exit codes, app defaulting from
// fly.toml, the local forwarder, and every command driven in-process (RunCli) against a real
// API server (SQLite Registry, fake Backend/supervisor), plus the built binary for
// `machine run --shell` (fd passing, exit code propagation).
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../api/fake_backend.h"
#include "cli/cli.h"
#include "cli/extend.h"
#include "cli/flytoml.h"
#include "cli/forward.h"
#include "cli/table.h"

namespace privcast::cli {
namespace {

namespace fs = std::filesystem;

TEST(Table, AlignsColumnsWithoutTrailingBlanks) {
  std::string t = FormatTable({"VERSION", "IP", "TYPE"}, {{"v6", "fdaa:1:2:0:1::3", "private"}, {"v6", "fdaa::4", ""}});
  EXPECT_EQ(t,
            "VERSION   IP                TYPE\n"
            "v6        fdaa:1:2:0:1::3   private\n"
            "v6        fdaa::4\n");
  EXPECT_EQ(FormatKeyValues({{"Name", "web"}, {"Hostname", "web.flycast"}}),
            "  Name     = web\n  Hostname = web.flycast\n");
}

TEST(FlyToml, AppFromText) {
  EXPECT_EQ(AppFromFlyTomlText("# c\napp = \"web\"\n[env]\n"), "web");
  EXPECT_EQ(AppFromFlyTomlText("app='db' # comment\n"), "db");
  EXPECT_EQ(AppFromFlyTomlText("primary_region = \"ams\"\n[x]\napp = \"no\"\n"), std::nullopt);
  EXPECT_EQ(AppFromFlyTomlText("application = \"no\"\n"), std::nullopt);
  EXPECT_EQ(AppFromFlyTomlText("app = \"\"\n"), std::nullopt);
  EXPECT_EQ(AppFromFlyTomlText(""), std::nullopt);
}

TEST(FlyToml, SetTopLevelKey) {
  std::string t = "# c\napp = \"old\"  # was\n\n[http_service]\n  app = \"not this\"\n";
  EXPECT_EQ(SetTopLevelKey(t, "app", "new"), "# c\napp = \"new\"\n\n[http_service]\n  app = \"not this\"\n");
  EXPECT_EQ(SetTopLevelKey(t, "primary_region", "ams"),
            "# c\napp = \"old\"  # was\n\nprimary_region = \"ams\"\n[http_service]\n  app = \"not this\"\n");
  EXPECT_EQ(SetTopLevelKey("application = \"x\"\n", "app", "y"), "application = \"x\"\napp = \"y\"\n");
  EXPECT_EQ(SetTopLevelKey("", "app", "q\"b"), "app = \"q\\\"b\"\n");
}

TEST(Forward, ParsePortPair) {
  EXPECT_EQ(ParsePortPair("8080")->remote, 8080);
  auto p = ParsePortPair("5432:80");
  EXPECT_EQ(p->local, 5432);
  EXPECT_EQ(p->remote, 80);
  EXPECT_EQ(ParsePortPair("0:80")->local, 0);
  EXPECT_FALSE(ParsePortPair("x").ok());
  EXPECT_FALSE(ParsePortPair("80:").ok());
  EXPECT_FALSE(ParsePortPair("70000").ok());
  EXPECT_FALSE(ParsePortPair("0").ok());
}

TEST(Forward, RelaysBothWaysWithHalfClose) {
  // An upstream on loopback that answers "got:<data>" once the client half-closes.
  int up = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(up, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(up, 4), 0);
  socklen_t len = sizeof sa;
  ::getsockname(up, reinterpret_cast<sockaddr*>(&sa), &len);
  std::thread server([up] {
    int c = ::accept(up, nullptr, nullptr);
    std::string got;
    char buf[256];
    ssize_t n;
    while ((n = ::read(c, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
    std::string reply = "got:" + got;
    (void)!::write(c, reply.data(), reply.size());
    ::close(c);
  });
  Forwarder f;
  ASSERT_TRUE(f.Start("127.0.0.1", 0, "127.0.0.1", ntohs(sa.sin_port)).ok());
  ASSERT_NE(f.local_port(), 0);
  int c = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in la{};
  la.sin_family = AF_INET;
  la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  la.sin_port = htons(f.local_port());
  ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&la), sizeof la), 0);
  (void)!::write(c, "ping", 4);
  ::shutdown(c, SHUT_WR);
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = ::read(c, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(got, "got:ping");
  ::close(c);
  server.join();
  f.Stop();
  ::close(up);
}

struct CliRun {
  int rc;
  std::string out, err;
};

CliRun Cli(std::vector<std::string> args, const std::string& api_env = "") {
  std::vector<const char*> argv = {"privcast"};
  for (auto& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  std::ostringstream out, err;
  int rc = RunCli(static_cast<int>(argv.size() - 1), argv.data(), out, err, api_env);
  return {rc, out.str(), err.str()};
}

// Usage errors exit 1, like every flyctl error (docs/cli.md).
TEST(CliUsage, ExitCodes) {
  EXPECT_EQ(Cli({}).rc, 1);
  auto unknown = Cli({"frobnicate"});
  EXPECT_EQ(unknown.rc, 1);
  EXPECT_EQ(unknown.err.rfind("Error: unknown command \"frobnicate\" for \"privcast\"\n", 0), 0u) << unknown.err;
  EXPECT_EQ(Cli({"orgs"}).rc, 1);
  EXPECT_EQ(Cli({"orgs", "create"}).rc, 1);
  EXPECT_EQ(Cli({"networks", "create", "blue"}).rc, 1) << "--org is required";
  EXPECT_EQ(Cli({"apps", "list", "--bogus"}).rc, 1);
  EXPECT_EQ(Cli({"scale", "count", "many"}).rc, 1);
  EXPECT_EQ(Cli({"ips", "allocate-v6", "-a", "x"}).rc, 1) << "--private is required";
  EXPECT_EQ(Cli({"ips", "allocate-v6", "--private", "--org", "a", "--network", "b"}).rc, 1);
  auto dur = Cli({"machine", "stop", "x", "-w", "soon"});
  EXPECT_EQ(dur.rc, 1);
  EXPECT_NE(dur.err.find("expected a duration like 10s"), std::string::npos) << dur.err;
  EXPECT_EQ(Cli({"deploy", "--wait-timeout", "1y"}).rc, 1);
  auto help = Cli({"machine", "run", "--help"});
  EXPECT_EQ(help.rc, 0);
  EXPECT_NE(help.out.find("--shell"), std::string::npos);
  auto usage = Cli({"orgs", "create"});
  EXPECT_NE(usage.err.find("Usage: privcast orgs create"), std::string::npos) << usage.err;
  auto v = Cli({"version"});
  EXPECT_EQ(v.rc, 0);
  EXPECT_EQ(v.out, "privcast 0.1.0\n");
}

TEST(CliUsage, UnknownCommandsLikeCobra) {
  auto r = Cli({"secrts", "list"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err,
            "Error: unknown command \"secrts\" for \"privcast\"\n\nDid you mean this?\n\tsecrets\n\n"
            "Run 'privcast --help' for usage.\n");
  auto sub = Cli({"apps", "--api", "unix:/x", "restrt", "web"});
  EXPECT_EQ(sub.rc, 1);
  EXPECT_EQ(sub.err.rfind("Error: unknown command \"restrt\" for \"privcast apps\"\n\nDid you mean this?\n\trestart\n",
                          0),
            0u)
      << sub.err;
  auto prefix = Cli({"reg"});
  EXPECT_NE(prefix.err.find("\tregions\n"), std::string::npos) << prefix.err;
  auto far = Cli({"zzzzzz"});
  EXPECT_EQ(far.err.find("Did you mean"), std::string::npos);
  // Known commands, their arguments and help are not touched.
  EXPECT_EQ(Cli({"orgs", "create"}).rc, 1) << "a missing argument stays a usage error (exit 1, as flyctl)";
  EXPECT_EQ(Cli({"secrets", "--help"}).rc, 0);
  EXPECT_EQ(Levenshtein("secrets", "secrts"), 1u);
  EXPECT_EQ(Levenshtein("", "abc"), 3u);
  EXPECT_EQ(Levenshtein("kitten", "sitting"), 3u);
}

TEST(CliUsage, UnreachableDaemonMessage) {
  auto r = Cli({"apps", "list", "--api", "unix:/nonexistent/pc.sock"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err,
            "Error: cannot reach privcastd at unix:/nonexistent/pc.sock (is it running? set --api or PRIVCAST_API)\n");
  auto e = Cli({"orgs", "list"}, "unix:/nonexistent/env.sock");
  EXPECT_EQ(e.rc, 1);
  EXPECT_NE(e.err.find("unix:/nonexistent/env.sock"), std::string::npos);
  auto bad = Cli({"orgs", "list", "--api", "tcp://x"});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("not an API address"), std::string::npos);
}

// In a temp folder, against a live API.
class CliTest : public ::testing::Test {
 protected:
  CliTest() {
    old_cwd_ = fs::current_path();
    work_ = h_.dir + "/work";
    fs::create_directories(work_);
    fs::current_path(work_);
  }
  ~CliTest() override { fs::current_path(old_cwd_); }

  CliRun C(std::vector<std::string> args) { return Cli(std::move(args), "unix:" + h_.socket()); }

  testing::ApiHarness h_;
  fs::path old_cwd_, work_;
};

TEST_F(CliTest, OrgsNetworksApps) {
  auto r = C({"orgs", "create", "acme"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "Created org acme (default network default)\n");
  auto dup = C({"orgs", "create", "acme"});
  EXPECT_EQ(dup.rc, 1);
  EXPECT_EQ(dup.err.rfind("Error: ", 0), 0u);
  EXPECT_EQ(std::count(dup.err.begin(), dup.err.end(), '\n'), 1) << "one line: " << dup.err;
  auto list = C({"orgs", "list"});
  EXPECT_EQ(list.out.rfind("SLUG   ", 0), 0u) << list.out;
  EXPECT_NE(list.out.find("personal"), std::string::npos);
  auto js = C({"orgs", "list", "--json"});
  auto j = nlohmann::json::parse(js.out);
  EXPECT_EQ(j.size(), 2u);
  EXPECT_EQ(C({"networks", "create", "blue", "--org", "acme"}).rc, 0);
  auto nl = C({"networks", "list", "--org", "acme"});
  EXPECT_NE(nl.out.find("blue"), std::string::npos);
  EXPECT_EQ(C({"apps", "create", "web", "--org", "acme", "--network", "blue"}).out,
            "New app created: web (org acme, network blue)\n");
  auto al = C({"apps", "list"});
  EXPECT_EQ(al.out.rfind("NAME ", 0), 0u);
  EXPECT_NE(al.out.find("web"), std::string::npos);
  EXPECT_EQ(C({"apps", "list", "--json"}).rc, 0);
  EXPECT_EQ(C({"apps", "destroy", "web"}).out, "Destroyed app web\n");
  auto gone = C({"apps", "destroy", "web"});
  EXPECT_EQ(gone.rc, 1);
  EXPECT_NE(gone.err.find("web"), std::string::npos);
}

TEST_F(CliTest, Volumes) {
  ASSERT_EQ(C({"apps", "create", "notes"}).rc, 0);
  ASSERT_EQ(C({"apps", "create", "other"}).rc, 0);
  auto cr = C({"volumes", "create", "data", "-a", "notes", "--size", "3", "-y", "--json"});
  ASSERT_EQ(cr.rc, 0) << cr.err;
  auto v = nlohmann::json::parse(cr.out);
  std::string id = v["id"];
  EXPECT_EQ(id.rfind("vol_", 0), 0u);
  EXPECT_EQ(v["size_gb"], 3);
  EXPECT_TRUE(v["attached_machine_id"].is_null());
  auto human = C({"volumes", "create", "data", "-a", "notes"});
  EXPECT_NE(human.out.find("Size GB          = 1"), std::string::npos) << human.out;
  auto ls = C({"volumes", "list", "-a", "notes"});
  EXPECT_EQ(ls.out.rfind("ID  ", 0), 0u) << ls.out;
  EXPECT_NE(ls.out.find("ATTACHED VM"), std::string::npos);
  EXPECT_NE(ls.out.find("3GB"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(C({"volumes", "list", "-a", "notes", "--json"}).out).size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(C({"volumes", "ls", "-a", "other", "--json"}).out).size(), 0u);
  // machine run -v: by id, then the name picks the other (unattached) one.
  auto run = C({"machine", "run", "-a", "notes", "-v", id + ":/data", "--", "sleep", "1"});
  EXPECT_EQ(run.rc, 0) << run.err;
  auto shown = nlohmann::json::parse(C({"volumes", "show", id, "--json"}).out);
  EXPECT_FALSE(shown["attached_machine_id"].is_null());
  EXPECT_EQ(shown["path"], "/data");
  EXPECT_EQ(C({"machine", "run", "-a", "notes", "-v", "data:/srv", "--", "sleep", "1"}).rc, 0);
  auto none = C({"machine", "run", "-a", "notes", "-v", "data:/srv", "--", "sleep", "1"});
  EXPECT_EQ(none.rc, 1);
  EXPECT_NE(none.err.find("every volume named \"data\" of app \"notes\" is attached"), std::string::npos) << none.err;
  auto other = C({"machine", "run", "-a", "other", "-v", id + ":/data", "--", "sleep", "1"});
  EXPECT_NE(other.err.find("belongs to app \"notes\""), std::string::npos) << other.err;
  auto badpath = C({"machine", "run", "-a", "notes", "-v", "data:/proc/x", "--", "sleep", "1"});
  EXPECT_NE(badpath.err.find("under /proc"), std::string::npos) << badpath.err;
  auto busy = C({"volumes", "destroy", id, "-y"});
  EXPECT_EQ(busy.rc, 1);
  EXPECT_NE(busy.err.find("destroy that machine first"), std::string::npos) << busy.err;
  EXPECT_EQ(C({"volumes", "create", "Bad-Name", "-a", "notes"}).rc, 1);
  EXPECT_EQ(C({"volumes", "create", "x", "-a", "notes", "--size", "0"}).rc, 1)
      << "usage error (exit 1, as flyctl): size range";
  auto spare = nlohmann::json::parse(C({"volumes", "create", "spare", "-a", "notes", "--json"}).out);
  auto d = C({"volumes", "destroy", spare["id"].get<std::string>(), "-y"});
  EXPECT_EQ(d.rc, 0) << d.err;
  EXPECT_EQ(d.out, "Destroyed volume ID: " + spare["id"].get<std::string>() + " name: spare\n");
  EXPECT_EQ(C({"volumes", "show", spare["id"].get<std::string>()}).rc, 1);
}

TEST_F(CliTest, LaunchFlycastNoDeployThenDeployThenIps) {
  auto l = C({"launch", "--name", "flycast-demo", "--flycast", "--internal-port", "80", "--no-deploy", "--command",
              "nginx -g 'daemon off;'"});
  ASSERT_EQ(l.rc, 0) << l.err;
  std::string toml = ReadFlyToml("fly.toml").value();
  EXPECT_NE(toml.find("force_https = false"), std::string::npos) << toml;
  EXPECT_NE(toml.find("internal_port = 80"), std::string::npos) << toml;
  EXPECT_EQ(AppFromFlyTomlText(toml), "flycast-demo");
  EXPECT_EQ(h_.backend->deploys.load(), 0);
  auto again = C({"launch", "--name", "other", "--no-deploy"});
  EXPECT_EQ(again.rc, 1);
  EXPECT_NE(again.err.find("fly.toml already exists"), std::string::npos);

  auto d = C({"deploy"});  // app from ./fly.toml
  ASSERT_EQ(d.rc, 0) << d.err;
  EXPECT_EQ(h_.backend->deploys.load(), 1);
  EXPECT_NE(d.out.find("2 machines"), std::string::npos) << d.out;
  EXPECT_NE(d.err.find("Warning: backend says hi"), std::string::npos);

  auto ips = C({"ips", "list"});
  ASSERT_EQ(ips.rc, 0) << ips.err;
  std::istringstream lines(ips.out);
  std::string header, row, extra;
  std::getline(lines, header);
  std::getline(lines, row);
  EXPECT_FALSE(std::getline(lines, extra)) << "exactly one address: " << ips.out;
  std::istringstream hs(header);
  std::vector<std::string> hw((std::istream_iterator<std::string>(hs)), std::istream_iterator<std::string>());
  EXPECT_EQ(hw, (std::vector<std::string>{"VERSION", "IP", "TYPE", "NETWORK", "ORG", "REGION", "CREATED", "AT"}));
  std::istringstream rs(row);
  std::vector<std::string> rw((std::istream_iterator<std::string>(rs)), std::istream_iterator<std::string>());
  ASSERT_EQ(rw.size(), 8u) << row;  // CREATED AT is relative: "0s ago"; no SERVICE column without a per-service address
  EXPECT_EQ(rw[0], "v6");
  EXPECT_EQ(rw[1].rfind("fdaa:", 0), 0u);
  EXPECT_EQ(rw[2], "private");
  EXPECT_EQ(rw[3], "default");
  EXPECT_EQ(rw[4], "personal");
  EXPECT_EQ(rw[5], "global");
  EXPECT_EQ(rw[7], "ago") << row;
  // Column alignment: every field starts where its header does.
  EXPECT_EQ(header.find("TYPE"), row.find("private"));

  // --flycast on a later deploy is idempotent.
  EXPECT_EQ(C({"deploy", "--flycast", "--ha=false"}).rc, 0);
  EXPECT_FALSE(h_.backend->last_ha.load());
  EXPECT_EQ(nlohmann::json::parse(C({"ips", "list", "--json"}).out).size(), 1u);

  ASSERT_EQ(C({"orgs", "create", "other"}).rc, 0);
  auto a = C({"ips", "allocate-v6", "--private", "--org", "other"});
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_NE(a.out.find("other"), std::string::npos);
  auto all = nlohmann::json::parse(C({"ips", "list", "--json"}).out);
  ASSERT_EQ(all.size(), 2u);
  std::string other_ip;
  for (auto& ip : all)
    if (ip["org"] == "other") other_ip = ip["ip"];
  auto rel = C({"ips", "release", other_ip});
  EXPECT_EQ(rel.rc, 0) << rel.err;
  EXPECT_EQ(rel.out, "Released " + other_ip + " from flycast-demo\n");

  auto priv = C({"ips", "private"});
  EXPECT_EQ(priv.out.rfind("ID ", 0), 0u);
  EXPECT_EQ(std::count(priv.out.begin(), priv.out.end(), '\n'), 3) << priv.out;
}

TEST_F(CliTest, MachinesScaleStatusLogs) {
  {
    std::ofstream f("fly.toml");
    f << "app = \"web\"\n\n[http_service]\n  internal_port = 8080\n  force_https = false\n";
  }
  ASSERT_EQ(C({"apps", "create", "web"}).rc, 0);
  ASSERT_EQ(C({"deploy"}).rc, 0);
  auto ml = nlohmann::json::parse(C({"machine", "list", "--json"}).out);
  ASSERT_EQ(ml.size(), 2u);
  std::string id = ml[0]["id"];
  auto human = C({"machine", "list"});
  EXPECT_NE(human.out.find("ID   "), std::string::npos);
  EXPECT_NE(human.out.find(id), std::string::npos);

  auto stop = C({"machine", "stop", id});
  EXPECT_EQ(stop.rc, 0) << stop.err;
  EXPECT_NE(stop.out.find("Machine " + id + " is stopped"), std::string::npos) << stop.out;
  auto start = C({"machine", "start", id});
  EXPECT_NE(start.out.find("is started"), std::string::npos) << start.out;
  auto st = C({"machine", "status", id});
  EXPECT_NE(st.out.find("State"), std::string::npos);
  auto unknown = C({"machine", "status", "0123456789abcd"});
  EXPECT_EQ(unknown.rc, 1);
  EXPECT_NE(unknown.err.find(id), std::string::npos) << "names the app's machines: " << unknown.err;
  auto d = C({"machine", "destroy", id});
  EXPECT_EQ(d.rc, 1);
  EXPECT_NE(d.err.find("--force"), std::string::npos);
  auto df = C({"machine", "destroy", "--force", id});
  EXPECT_EQ(df.rc, 0) << df.err;
  EXPECT_EQ(df.out, "Machine " + id + " destroyed\n");

  auto sc = C({"scale", "count", "3"});
  EXPECT_EQ(sc.rc, 0) << sc.err;
  EXPECT_NE(sc.out.find("Scaled web to 3 machines"), std::string::npos);
  auto s = C({"status"});
  EXPECT_EQ(s.rc, 0) << s.err;
  EXPECT_NE(s.out.find("Hostname = web.flycast"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("LOAD"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(C({"status", "--json"}).out)["machines"].size(), 3u);
  auto lg = C({"logs", "-n"});  // -n/--no-tail: the history, then exit (logs follows by default)
  EXPECT_EQ(lg.rc, 0);
  EXPECT_NE(lg.out.find("web line 2\n"), std::string::npos);
  EXPECT_EQ(C({"logs", "-a", "nope", "--no-tail"}).rc, 1);
  auto lj = C({"logs", "--no-tail", "--json"});
  EXPECT_EQ(lj.rc, 0) << lj.err;
  std::istringstream lines(lj.out);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    auto e = nlohmann::json::parse(line);
    EXPECT_EQ(e["timestamp"], "2026-11-22T03:00:0" + std::to_string(n) + "Z");
    EXPECT_EQ(e["message"], "web line " + std::to_string(n));
    EXPECT_EQ(e["source"], "proxy");
  }
  EXPECT_EQ(n, 3);
  auto q = C({"machine", "list", "-q"});
  EXPECT_EQ(q.rc, 0);
  EXPECT_EQ(std::count(q.out.begin(), q.out.end(), '\n'), 3) << q.out;
  EXPECT_EQ(q.out.find("ID"), std::string::npos) << "ids only";
  auto run = C({"machine", "run", "--", "sleep", "5"});
  EXPECT_EQ(run.rc, 0) << run.err;
  EXPECT_NE(run.out.find("is started"), std::string::npos) << run.out;
}

TEST_F(CliTest, AppDefaulting) {
  auto none = C({"ips", "list"});
  EXPECT_EQ(none.rc, 1);
  EXPECT_EQ(none.err, "Error: no app given: pass -a APP, or run in a folder whose fly.toml sets app (or -c FILE)\n");
  {
    std::ofstream f("other.toml");
    f << "app = \"db\"\n";
  }
  ASSERT_EQ(C({"apps", "create", "db"}).rc, 0);
  EXPECT_EQ(C({"ips", "list", "-c", "other.toml"}).rc, 0);
  EXPECT_EQ(C({"ips", "list", "-a", "db"}).rc, 0);
  auto missing = C({"deploy", "-c", "missing.toml"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_NE(missing.err.find("missing.toml not found"), std::string::npos);
  {
    std::ofstream f("bad.toml");
    f << "app = \"db\"\n[http_service]\ninternal_port = \"x\"\n";
  }
  auto bad = C({"deploy", "-c", "bad.toml"});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_EQ(bad.err.rfind("Error: bad.toml:3:", 0), 0u) << bad.err;
}

// A broken fly.toml used to come back as `Error: unknown app "broken"` (the
// daemon looked the app up before it read the file). The file is validated first, in the
// CLI, and every error comes back with its position; the daemon is not asked.
TEST_F(CliTest, DeployReportsABrokenFileBeforeTheUnknownApp) {
  {
    std::ofstream f("fly.toml");
    f << "app = \"broken\"\n[http_service]\ninternal_port = \"eighty\"\n[[services\n";
  }
  auto d = C({"deploy"});
  EXPECT_EQ(d.rc, 1);
  EXPECT_EQ(d.err,
            "Error: fly.toml:3:17: http_service.internal_port: expected a port number (1-65535), got \"eighty\"\n"
            "Error: fly.toml:4:11: syntax error: Error while parsing table header: expected ']', saw '\\n'\n");
  EXPECT_EQ(d.out, "") << "nothing deployed, not even announced";
  EXPECT_EQ(h_.backend->deploys.load(), 0);
  // A valid file for an app that does not exist still says so.
  {
    std::ofstream f("fly.toml");
    f << "app = \"broken\"\n[http_service]\ninternal_port = 80\n";
  }
  auto unknown = C({"deploy"});
  EXPECT_EQ(unknown.rc, 1);
  EXPECT_NE(unknown.err.find("broken"), std::string::npos) << unknown.err;
}

// `-a APP` overrides a template's `app = "{APP_NAME}"`, in the CLI and in the
// daemon's own validation.
TEST_F(CliTest, DeployTemplatedAppNameWithDashA) {
  {
    std::ofstream f("fly.toml");
    f << "app = \"{APP_NAME}\"\n[http_service]\ninternal_port = 8080\nforce_https = false\n";
  }
  auto without = C({"deploy"});
  EXPECT_EQ(without.rc, 1);
  EXPECT_NE(without.err.find("fly.toml:1:7: app: invalid app name \"{APP_NAME}\""), std::string::npos) << without.err;
  EXPECT_NE(without.err.find("pass -a APP"), std::string::npos) << without.err;
  ASSERT_EQ(C({"apps", "create", "tmpl-web"}).rc, 0);
  auto with = C({"deploy", "-a", "tmpl-web"});
  EXPECT_EQ(with.rc, 0) << with.err;
  EXPECT_EQ(h_.backend->deploys.load(), 1);
}

// `config validate` runs offline: no daemon anywhere (the API address goes nowhere).
class ConfigValidateTest : public ::testing::Test {
 protected:
  ConfigValidateTest() {
    old_cwd_ = fs::current_path();
    dir_ = fs::temp_directory_path() / ("privcast-cfgval-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    fs::current_path(dir_);
  }
  ~ConfigValidateTest() override {
    fs::current_path(old_cwd_);
    fs::remove_all(dir_);
  }
  static void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
  static CliRun V(std::vector<std::string> args) {
    args.insert(args.begin(), {"config", "validate"});
    return Cli(std::move(args), "unix:/nonexistent/privcastd.sock");
  }
  fs::path old_cwd_, dir_;
};

TEST_F(ConfigValidateTest, ValidWithWarnings) {
  Write("fly.toml",
        "app = \"shop\"\nprocesses = []\n[http_service]\ninternal_port = 3000\nforce_https = false\n"
        "[[statics]]\nguest_path = \"/app/public\"\nurl_prefix = \"/static/\"\n"
        "[[services]]\ninternal_port = \"9000\"\n[[services.ports]]\nport = \"9000\"\n");
  auto r = V({});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "Configuration is valid (fly.toml)\n");
  EXPECT_EQ(r.err,
            "Warning: fly.toml:6:3: statics: accepted and ignored: privcast's proxy does not serve static "
            "files: the app must serve these paths itself\n");
}

TEST_F(ConfigValidateTest, EveryErrorWithItsPosition) {
  Write("other.toml", "app = \"x\"\nkill_timeout = 900\n[http_service]\ninternal_port = 0\n");
  auto r = V({"-c", "other.toml"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "Error: other.toml:2:16: kill_timeout: expected at most 300s, got 15m\n"
            "Error: other.toml:4:17: http_service.internal_port: expected a port number (1-65535), got 0\n");
  auto missing = V({"-c", "nope.toml"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err.rfind("Error: nope.toml: cannot open", 0), 0u) << missing.err;
}

TEST_F(ConfigValidateTest, DashAOverridesATemplatedName) {
  Write("fly.toml", "app = \"{APP_NAME}\"\n[http_service]\nforce_https = true\n");
  auto without = V({});
  EXPECT_EQ(without.rc, 1);
  EXPECT_NE(without.err.find("pass -a APP"), std::string::npos) << without.err;
  auto with = V({"-a", "web"});
  EXPECT_EQ(with.rc, 0) << with.err;
  // What deploy would warn about, too: every privcast address is private.
  EXPECT_NE(with.err.find("Warning: fly.toml:3:15: http_service.force_https: force_https = true"), std::string::npos)
      << with.err;
}

#ifdef PRIVCAST_BIN
TEST_F(CliTest, ShellPassesStdioAndPropagatesExitCode) {
  ASSERT_EQ(C({"apps", "create", "web"}).rc, 0);
  int in[2], out[2];
  ASSERT_EQ(::pipe(in), 0);
  ASSERT_EQ(::pipe(out), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::close(in[1]);
    ::close(out[0]);
    std::string api = "unix:" + h_.socket();
    ::execl(PRIVCAST_BIN, "privcast", "--api", api.c_str(), "machine", "run", "--shell", "-a", "web", "--", "sh",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  (void)!::write(in[1], "1234567", 7);
  ::close(in[1]);
  std::string got;
  char buf[256];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7) << "the fake machine exits with the byte count of its stdin";
  EXPECT_NE(got.find("hello from "), std::string::npos) << got;
  EXPECT_NE(got.find("1234567"), std::string::npos) << got;
}
#endif

}  // namespace
}  // namespace privcast::cli
