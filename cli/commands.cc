// The privcast commands: argument parsing (CLI11) and one function per command, each a few
// API calls and some formatting. See cli/cli.h for the exit-code contract.
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>
#include <chrono>
#include <map>
#include <vector>

#include "api/client.h"
#include "api/endpoint.h"
#include "api/http.h"
#include "cli/attach.h"
#include "cli/cli.h"
#include "cli/extend.h"
#include "cli/flytoml.h"
#include "cli/forward.h"
#include "cli/internal_names.h"
#include "cli/json_shapes.h"
#include "cli/table.h"
#include "cli/volumes.h"
#include "common/addr.h"
#include "common/ids.h"
#include "config/launch.h"
#include "config/load.h"

namespace privcast::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string Enc(const std::string& s) { return api::http::PercentEncode(s); }

// Usage errors exit like every other error: 1, as flyctl's do (docs/cli.md).
constexpr int kUsageExit = 1;

// A duration flag as flyctl takes it ("10s", "1m", "1m30s"; a bare number is seconds).
CLI::Validator DurationCheck(int64_t max_s) {
  return CLI::Validator(
      [max_s](std::string& v) -> std::string {
        auto d = ParseDurationSeconds(v);
        if (!d) return "expected a duration like 10s, 1m or 1m30s (or a number of seconds), got '" + v + "'";
        if (*d > max_s) return "expected at most " + std::to_string(max_s) + "s, got " + v;
        return "";
      },
      "DURATION");
}

// A failed command: its message becomes "Error: <message>" and exit code 1.
struct Failure {
  std::string message;
};

class Api {
 public:
  explicit Api(std::string path) : client_(std::move(path)) {}

  json Get(const std::string& target) { return Call("GET", target, ""); }
  json Post(const std::string& target, const json& body) { return Call("POST", target, Dump(body)); }
  json Delete(const std::string& target) { return Call("DELETE", target, ""); }

  // Status code and parsed body (null when the body is not JSON); transport errors throw Failure.
  std::pair<int, json> Raw(const std::string& method, const std::string& target, const std::string& body) {
    auto r = client_.Call(method, target, body);
    if (!r.ok()) throw Failure{r.status().message()};
    json j = json::parse(r->body, nullptr, false);
    if (j.is_discarded()) j = nullptr;
    return {r->status, j};
  }

  json Call(const std::string& method, const std::string& target, const std::string& body) {
    auto [status, j] = Raw(method, target, body);
    if (status >= 200 && status < 300) return j;
    throw Failure{ErrorOf(status, j)};
  }

  static std::string ErrorOf(int status, const json& j) {
    if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
    return "privcastd answered HTTP " + std::to_string(status);
  }

  static std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

  api::Client& client() { return client_; }

 private:
  api::Client client_;
};

// Accessors tolerant of missing fields (the CLI must not crash on an older/newer daemon).
std::string S(const json& j, const char* k) {
  if (!j.is_object()) return "";
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "true" : "false";
  return it->dump();
}
int64_t I(const json& j, const char* k) {
  if (!j.is_object()) return 0;
  auto it = j.find(k);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}
const json& Arr(const json& j, const char* k) {
  static const json kEmpty = json::array();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(k);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}
const json& AsArray(const json& j) {
  static const json kEmpty = json::array();
  return j.is_array() ? j : kEmpty;
}
json MapArray(const json& a, json (*f)(const json&)) {
  json out = json::array();
  for (auto& x : AsArray(a)) out.push_back(f(x));
  return out;
}
std::string Dash(std::string s) { return s.empty() ? "-" : s; }
std::string TypeName(const std::string& t) { return t == "private_v6" ? "private" : t; }

// CREATED AT relative like flyctl's table ("2m ago"); --json keeps the absolute time.
Row IpRow(const json& ip) {
  return {Dash(S(ip, "version")), S(ip, "ip"), TypeName(S(ip, "type")), Dash(S(ip, "network")),
          Dash(S(ip, "org")), Dash(S(ip, "region")), Dash(RelativeTime(S(ip, "created_at"), std::time(nullptr))),
          Dash(S(ip, "service"))};
}
const Row kIpHeader = {"VERSION", "IP", "TYPE", "NETWORK", "ORG", "REGION", "CREATED AT", "SERVICE"};
// The ips table: flyctl's columns, plus SERVICE (the service of a per-service address,
// <service>.svc.<app>.flycast; "-" = the app's) only when some row has one, so the table of an
// app without per-service addresses stays exactly flyctl's.
std::string IpTable(const std::vector<json>& ips) {
  bool any_service = false;
  for (const json& ip : ips) any_service |= !S(ip, "service").empty();
  Row header = kIpHeader;
  std::vector<Row> rows;
  for (const json& ip : ips) {
    rows.push_back(IpRow(ip));
    if (!any_service) rows.back().pop_back();
  }
  if (!any_service) header.pop_back();
  return FormatTable(header, rows);
}

const Row kMachineHeader = {"ID", "STATE", "REGION", "HOST", "PROCESS GROUP", "IP ADDRESS", "RELEASE", "CREATED",
                            "LAST UPDATED"};
// The host a machine is placed on (its host32, as in /hosts/ and the 6PN address): with several
// hosts (docs/cluster.md) this says where it runs.
std::string HostOf(const json& m) {
  int64_t h = I(m, "host_id");
  if (h <= 0) return "-";
  char buf[32];
  snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(h));
  return buf;
}
Row MachineRow(const json& m) {
  int64_t v = I(m, "release_version");
  return {S(m, "id"), S(m, "state"), Dash(S(m, "region")), HostOf(m), Dash(S(m, "process_group")),
          Dash(S(m, "private_ip")), v > 0 ? "v" + std::to_string(v) : "-", Dash(S(m, "created_at")),
          Dash(S(m, "updated_at"))};
}

struct Globals {
  std::string api;
};

struct AppOpts {
  std::string app;
  std::string config;
  std::string Resolve() const {
    auto r = ResolveApp(app, config);
    if (!r.ok()) throw Failure{r.status().message()};
    return *r;
  }
};

class Cli {
 public:
  Cli(std::ostream& out, std::ostream& err, std::string api_env)
      : out_(out), err_(err), api_env_(std::move(api_env)) {}

  int Run(int argc, const char* const* argv);

 private:
  Api& api() {
    if (!api_) {
      std::string spec = !g_.api.empty() ? g_.api : !api_env_.empty() ? api_env_ : std::string("unix:") + api::kDefaultSocketPath;
      auto path = api::ParseApiEndpoint(spec);
      if (!path)
        throw Failure{"'" + spec + "' is not an API address: use unix:/path/to/privcastd.sock (--api or PRIVCAST_API)"};
      api_ = std::make_unique<Api>(*path);
    }
    return *api_;
  }

  void PrintJson(const json& j) { out_ << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n"; }

  void AddApp(CLI::App* c, AppOpts* o) {
    c->add_option("-a,--app", o->app, "App name (default: app in ./fly.toml)");
    c->add_option("-c,--config", o->config, "Path to fly.toml (for the app name)");
  }
  CLI::App* Sub(CLI::App* parent, const std::string& name, const std::string& desc,
                std::function<int()> action) {
    auto* c = parent->add_subcommand(name, desc);
    c->callback([this, action] { action_ = action; });
    return c;
  }

  // ---- images ----
  static std::string HumanSize(uint64_t b) {
    char buf[32];
    if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(b) / 1e6);
    else std::snprintf(buf, sizeof buf, "%.1f kB", static_cast<double>(b) / 1e3);
    return buf;
  }
  static std::string ShortImageId(const std::string& id) {
    auto c = id.find(':');
    return id.substr(c == std::string::npos ? 0 : c + 1, 12);
  }
  std::vector<Row> ImageRows(const json& a) {
    std::vector<Row> rows;
    for (auto& i : AsArray(a)) {
      std::string refs;
      if (i.contains("refs"))
        for (auto& r : i["refs"]) refs += (refs.empty() ? "" : ", ") + r.get<std::string>();
      rows.push_back({ShortImageId(S(i, "id")), Dash(refs), HumanSize(i.value("size", uint64_t{0})),
                      std::to_string(i.value("layers", 0)), i.value("in_use", false) ? "yes" : "no",
                      Dash(S(i, "created_at"))});
    }
    return rows;
  }
  int ImagesList(bool as_json) {
    json a = api().Get("/v1/images");
    if (as_json) return PrintJson(a), 0;
    out_ << FormatTable({"ID", "REFERENCES", "SIZE", "LAYERS", "IN USE", "PULLED AT"}, ImageRows(a));
    return 0;
  }
  int ImagesPull(const std::string& ref) {
    json i = api().Post("/v1/images", {{"ref", AbsoluteImageRef(ref)}});
    out_ << "Pulled " << ShortImageId(S(i, "id")) << " (" << HumanSize(i.value("size", uint64_t{0})) << ")\n";
    return 0;
  }
  int ImagesRm(const std::string& ref) {
    api().Post("/v1/images/remove", {{"ref", AbsoluteImageRef(ref)}});
    out_ << "Removed " << ref << "\n";
    return 0;
  }
  int ImagesPrune(bool as_json) {
    json a = api().Post("/v1/images/prune", json::object());
    if (as_json) return PrintJson(a), 0;
    out_ << "Removed " << AsArray(a).size() << " image(s)\n";
    return 0;
  }

  // ---- orgs / networks / apps ----
  int OrgsCreate(const std::string& slug) {
    json o = api().Post("/v1/orgs", {{"slug", slug}});
    out_ << "Created org " << S(o, "slug") << " (default network " << S(o, "default_network") << ")\n";
    return 0;
  }
  int OrgsList(bool as_json) {
    json a = api().Get("/v1/orgs");
    if (as_json) return PrintJson(a), 0;
    std::vector<Row> rows;
    for (auto& o : AsArray(a)) rows.push_back({S(o, "slug"), Dash(S(o, "default_network")), Dash(S(o, "created_at"))});
    out_ << FormatTable({"SLUG", "DEFAULT NETWORK", "CREATED AT"}, rows);
    return 0;
  }
  int NetworksCreate(const std::string& name, const std::string& org) {
    json n = api().Post("/v1/networks", {{"name", name}, {"org", org}});
    out_ << "Created network " << S(n, "name") << " in org " << S(n, "org") << " (" << S(n, "prefix") << ")\n";
    return 0;
  }
  int NetworksList(const std::string& org, bool as_json) {
    json a = api().Get("/v1/networks" + (org.empty() ? "" : "?org=" + Enc(org)));
    if (as_json) return PrintJson(a), 0;
    std::vector<Row> rows;
    for (auto& n : AsArray(a))
      rows.push_back({S(n, "name"), S(n, "org"), Dash(S(n, "prefix")), S(n, "default") == "true" ? "yes" : "no",
                      Dash(S(n, "created_at"))});
    out_ << FormatTable({"NAME", "ORG", "PREFIX", "DEFAULT", "CREATED AT"}, rows);
    return 0;
  }
  int AppsCreate(const std::string& name, const std::string& org, const std::string& network) {
    json body = {{"app_name", name}};
    if (!org.empty()) body["org"] = org;
    if (!network.empty()) body["network"] = network;
    json a = api().Post("/v1/apps", body);
    out_ << "New app created: " << S(a, "name") << " (org " << S(a, "org") << ", network " << S(a, "network") << ")\n";
    return 0;
  }
  int AppsList(const std::string& org, bool as_json) {
    json a = api().Get("/v1/apps" + (org.empty() ? "" : "?org=" + Enc(org)));
    if (as_json) return PrintJson(MapArray(a, FlyApp)), 0;
    std::vector<Row> rows;
    for (auto& x : AsArray(a)) {
      int64_t v = I(x, "current_release");
      rows.push_back({S(x, "name"), S(x, "org"), Dash(S(x, "network")), Dash(S(x, "status")),
                      v > 0 ? "v" + std::to_string(v) : "-", Dash(S(x, "created_at"))});
    }
    out_ << FormatTable({"NAME", "ORG", "NETWORK", "STATUS", "RELEASE", "CREATED AT"}, rows);
    return 0;
  }
  int AppsDestroy(const std::string& name) {
    api().Delete("/v1/apps/" + Enc(name));
    out_ << "Destroyed app " << name << "\n";
    return 0;
  }

  // ---- launch / deploy ----
  struct LaunchArgs {
    std::string name, org, region, command, image;
    bool flycast = false, no_deploy = false, ha = true, yes = false, copy_config = false, no_public_ips = false;
    int internal_port = 8080;
    const CLI::Option* internal_port_opt = nullptr;  // given explicitly?
  };
  // launch --copy-config with a fly.toml here: reuse it as flyctl does (its app, or --name
  // written into it), create the app and deploy the file.
  // flyctl writes primary_region on every launch (the nearest region). Here: the region the
  // hosts report when there is exactly one; with several, the user says which (--region).
  std::string HostRegion() {
    json regions = api().Get("/v1/regions");
    const json& list = AsArray(regions);
    return list.size() == 1 ? S(list[0], "code") : std::string();
  }

  // Both launch paths end alike: the flycast address now (so a later plain `privcast deploy`
  // finds it), then a deploy of fly.toml unless --no-deploy. `image`: deploy --image's value.
  int FinishLaunch(const LaunchArgs& a, const std::string& name, const std::string& image) {
    if (a.flycast) {
      json ip = api().Post("/v1/apps/" + Enc(name) + "/ip_assignments", {{"type", "private_v6"}});
      out_ << "Allocated flycast address " << S(ip, "ip") << " (" << name << ".flycast)\n";
    }
    if (a.no_deploy) {
      out_ << "Your app is ready! Deploy with `privcast deploy`\n";
      return 0;
    }
    DeployArgs d;
    d.app.app = name;
    d.app.config = "fly.toml";
    d.flycast = a.flycast;
    d.ha = a.ha;
    d.image = image;
    d.region = a.region;  // the first machines go to the region given (flyctl: the primary)
    return Deploy(d);
  }

  int LaunchFromExisting(const LaunchArgs& a) {
    auto text = ReadFlyToml("fly.toml");
    if (!text.ok()) throw Failure{text.status().message()};
    std::string toml = *text;
    std::string name = a.name.empty() ? AppFromFlyTomlText(toml).value_or("") : a.name;
    if (name.empty()) throw Failure{"fly.toml does not set app = \"...\": pass --name NAME"};
    if (!ids::IsDnsLabel(name))
      throw Failure{"'" + name + "' is not a valid app name (lowercase letters, digits and '-', at most 63): pass another --name"};
    if (AppFromFlyTomlText(toml).value_or("") != name) {
      toml = SetTopLevelKey(toml, "app", name);
      if (!WriteFlyToml(toml)) throw Failure{"cannot write fly.toml in " + fs::current_path().string() + ": check permissions"};
    }
    if (!a.region.empty() && !ids::IsRegionCode(a.region))
      throw Failure{"'" + a.region + "' is not a region code (3 lowercase letters, e.g. ams): fix --region"};
    if (!a.region.empty()) {
      toml = SetTopLevelKey(toml, "primary_region", a.region);
      if (!WriteFlyToml(toml)) throw Failure{"cannot write fly.toml in " + fs::current_path().string() + ": check permissions"};
    }
    out_ << "An existing fly.toml file was found for app " << name << "; copying its configuration\n";
    // The file first, offline: a broken one creates nothing.
    auto loaded = config::ParseFlyToml(toml, "fly.toml", config::LoadOptions{name});
    if (!loaded.ok()) return PrintConfigErrors(loaded.status());
    json body = {{"app_name", name}};
    if (!a.org.empty()) body["org"] = a.org;
    json app = api().Post("/v1/apps", body);
    out_ << "Created app " << name << " in org " << S(app, "org") << "\n";
    return FinishLaunch(a, name, a.image);
  }
  static bool WriteFlyToml(const std::string& toml) {
    std::ofstream f("fly.toml", std::ios::binary | std::ios::trunc);
    f << toml;
    return static_cast<bool>(f);
  }

  int Launch(const LaunchArgs& a) {
    if (a.no_public_ips)
      out_ << "Note: --no-public-ips has nothing to do here: every privcast address is private\n";
    if (fs::exists("fly.toml") && a.copy_config) return LaunchFromExisting(a);
    std::string name = a.name;
    if (name.empty()) {
      // Like flyctl: default to the folder's name, made into a DNS label.
      std::string base = fs::current_path().filename().string();
      for (char& c : base) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '-';
      }
      while (!base.empty() && base.front() == '-') base.erase(base.begin());
      while (!base.empty() && base.back() == '-') base.pop_back();
      name = base.substr(0, 63);
      if (!ids::IsDnsLabel(name)) throw Failure{"cannot derive an app name from this folder: pass --name NAME"};
    }
    if (!ids::IsDnsLabel(name))
      throw Failure{"'" + name + "' is not a valid app name (lowercase letters, digits and '-', at most 63): pass another --name"};
    if (!a.region.empty() && !ids::IsRegionCode(a.region))
      throw Failure{"'" + a.region + "' is not a region code (3 lowercase letters, e.g. ams): fix --region"};
    if (fs::exists("fly.toml"))
      throw Failure{"fly.toml already exists in " + fs::current_path().string() +
                    ": reuse it with privcast launch --copy-config, deploy it with privcast deploy, or remove it to "
                    "launch a new app"};
    int internal_port = a.internal_port;
    if (!a.image.empty()) {
      // The image first (a bad reference changes nothing); its ExposedPorts suggest the
      // internal port when --internal-port is not given (the lowest TCP port).
      json img = api().Post("/v1/images", {{"ref", AbsoluteImageRef(a.image)}});
      auto ports = Arr(img, "exposed_tcp_ports");
      if ((!a.internal_port_opt || a.internal_port_opt->count() == 0) && !ports.empty() && ports[0].is_number()) {
        internal_port = ports[0].get<int>();
        out_ << "Using internal port " << internal_port << " (the image's ExposedPorts)\n";
      }
    }
    json body = {{"app_name", name}};
    if (!a.org.empty()) body["org"] = a.org;
    json app = api().Post("/v1/apps", body);
    out_ << "Created app " << name << " in org " << S(app, "org") << "\n";

    config::LaunchOptions lo;
    lo.app = name;
    lo.primary_region = a.region.empty() ? HostRegion() : a.region;
    lo.internal_port = static_cast<uint16_t>(internal_port);
    lo.flycast = a.flycast;
    lo.command = a.command;
    lo.image = AbsoluteImageRef(a.image);
    std::string toml = config::RenderLaunchToml(lo);
    {
      std::ofstream f("fly.toml", std::ios::binary | std::ios::trunc);
      f << toml;
      if (!f) throw Failure{"cannot write fly.toml in " + fs::current_path().string() + ": check permissions"};
    }
    out_ << "Wrote config file fly.toml\n";
    return FinishLaunch(a, name, "");
  }

  // A refused fly.toml: every error on a line of its own, each "Error: file:line:col: ...".
  int PrintConfigErrors(const Status& st) {
    out_.flush();
    std::istringstream lines(st.message());
    for (std::string line; std::getline(lines, line);) err_ << "Error: " << line << "\n";
    return 1;
  }

  struct DeployArgs {
    AppOpts app;
    bool flycast = false, ha = true, yes = false;
    std::string image, strategy = "rolling", wait_timeout = "5m";
    std::string region;  // --region ams,syd: machines per group in each (placement)
  };
  // --region ams,syd → ["ams", "syd"]; a code that is not one is refused here (exit 1).
  static json RegionList(const std::string& csv) {
    json out = json::array();
    std::string::size_type start = 0;
    while (start <= csv.size()) {
      auto comma = csv.find(',', start);
      std::string r = csv.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      while (!r.empty() && r.front() == ' ') r.erase(r.begin());
      while (!r.empty() && r.back() == ' ') r.pop_back();
      if (!ids::IsRegionCode(r))
        throw Failure{"--region " + csv + ": '" + r + "' is not a region code (3 lowercase letters, e.g. ams)"};
      out.push_back(r);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return out;
  }
  int Deploy(const DeployArgs& d) {
    const std::string& app_flag = d.app.app;
    bool flycast = d.flycast, ha = d.ha;
    const std::string& image = d.image;
    if (d.strategy != "rolling" && d.strategy != "immediate")
      throw Failure{"--strategy " + d.strategy + " is not supported by privcast: use rolling (the default: waits for "
                    "each machine's health checks) or immediate (does not wait)"};
    std::string path = d.app.config.empty() ? "fly.toml" : d.app.config;
    auto text = ReadFlyToml(path);
    if (!text.ok()) {
      if (text.status().code() == Code::kNotFound)
        throw Failure{path + " not found: run privcast launch first, or pass -c FILE"};
      throw Failure{text.status().message()};
    }
    // The file first, here and offline: a broken file is reported as what it is (every
    // error with its position), never as whatever the app it seems to name turns out to be.
    // The daemon validates it again.
    auto loaded = config::ParseFlyToml(*text, path, config::LoadOptions{app_flag});
    if (!loaded.ok()) return PrintConfigErrors(loaded.status());
    std::string app = loaded->config.app;
    if (app.empty()) throw Failure{path + " does not set app = \"...\": pass -a APP or add it to the file"};
    // An app that does not exist: say how to make one (the daemon would only say "unknown app").
    if (auto [code, j] = api().Raw("GET", "/v1/apps/" + Enc(app), ""); code == 404)
      throw Failure{"app " + app + " not found: create it with privcast apps create " + app +
                    ", or run privcast launch"};
    out_ << "==> Deploying " << app << " from " << path << "\n";
    json body = {{"source", *text}, {"path", path}, {"flycast", flycast}, {"ha", ha}};
    if (!d.region.empty()) body["regions"] = RegionList(d.region);
    if (!image.empty()) body["image"] = AbsoluteImageRef(image);
    json r = api().Post("/v1/apps/" + Enc(app) + "/releases", body);
    for (auto& w : Arr(r, "warnings"))
      if (w.is_string()) err_ << "Warning: " << w.get<std::string>() << "\n";
    if (r.contains("flycast") && r["flycast"].is_object())
      out_ << "Flycast address: " << S(r["flycast"], "ip") << " (" << app << ".flycast)\n";
    for (auto& ip : Arr(r, "flycast_services"))
      out_ << "Flycast address: " << S(ip, "ip") << " (" << S(ip, "service") << ".svc." << app << ".flycast)\n";
    const json& ms = Arr(r, "machines");
    out_ << "Release v" << I(r.value("release", json::object()), "version") << " of " << app << " deployed: "
         << ms.size() << (ms.size() == 1 ? " machine" : " machines") << "\n";
    for (auto& m : ms)
      out_ << "  Machine " << S(m, "id") << " [" << S(m, "process_group") << "] " << S(m, "state") << " "
           << S(m, "private_ip") << "\n";
    if (d.strategy == "rolling") return WaitHealthy(app, ms, *ParseDurationSeconds(d.wait_timeout), d.wait_timeout);
    return 0;
  }

  // deploy --strategy rolling: wait, machine by machine, until each deployed machine is
  // started with every health check passing (a machine without checks: once started).
  // Exit 1 naming the machines that did not get there within the wait timeout.
  int WaitHealthy(const std::string& app, const json& deployed, int64_t timeout_s, const std::string& shown) {
    std::vector<std::string> pending;
    for (auto& m : deployed) pending.push_back(S(m, "id"));
    if (pending.empty()) return 0;
    out_ << "Waiting for " << pending.size() << (pending.size() == 1 ? " machine" : " machines")
         << " to pass health checks (--wait-timeout " << shown << ")\n";
    out_.flush();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    std::map<std::string, std::string> last;  // id → "state: checks" when last seen
    while (true) {
      json s = api().Get("/v1/apps/" + Enc(app) + "/status");
      for (auto it = pending.begin(); it != pending.end();) {
        const json* found = nullptr;
        for (auto& m : Arr(s, "machines"))
          if (S(m, "id") == *it) found = &m;
        if (!found) {  // replaced or destroyed meanwhile: nothing to wait for
          it = pending.erase(it);
          continue;
        }
        std::string state = S(*found, "state"), checks = S(*found, "checks");
        bool passing = state == "started";
        for (auto& c : Arr(*found, "check_results")) passing = passing && S(c, "status") == "passing";
        if (state == "failed") {
          out_.flush();
          throw Failure{"machine " + *it + " " + Dash(S(*found, "last_event")) + " (privcast status -a " + app + ")"};
        }
        last[*it] = state + ", checks: " + Dash(checks);
        if (passing) {
          out_ << "  Machine " << *it << " is healthy (" << Dash(checks) << ")\n";
          out_.flush();
          it = pending.erase(it);
        } else {
          ++it;
        }
      }
      if (pending.empty()) return 0;
      if (std::chrono::steady_clock::now() >= deadline) {
        std::string list;
        for (auto& id : pending) list += (list.empty() ? "" : "; ") + id + " (" + last[id] + ")";
        out_.flush();
        throw Failure{"machines of " + app + " did not become healthy within " + shown + ": " + list +
                      " (privcast status -a " + app + ", privcast logs -n -a " + app + ")"};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    }
  }

  // `config validate`: what deploy would say about the file, without a daemon. Warnings go
  // to stderr; exit 1 with every error.
  int ConfigValidate(const AppOpts& o) {
    std::string path = o.config.empty() ? "fly.toml" : o.config;
    auto loaded = config::LoadFlyToml(path, config::LoadOptions{o.app});
    if (!loaded.ok()) return PrintConfigErrors(loaded.status());
    std::vector<config::Diagnostic> warnings = loaded->warnings;
    for (auto& w : config::DeployWarnings(loaded->config, /*has_public_ips=*/false)) warnings.push_back(w);
    for (auto& w : warnings) err_ << "Warning: " << w.ToString() << "\n";
    out_ << "Configuration is valid (" << path << ")\n";
    return 0;
  }

  // ---- ips ----
  int IpsAllocate(const AppOpts& o, const std::string& org, const std::string& network,
                  const std::string& service) {
    std::string app = o.Resolve();
    json body = {{"type", "private_v6"}};
    if (!org.empty()) body["org"] = org;
    if (!network.empty()) body["network"] = network;
    if (!service.empty()) body["service"] = service;
    json ip = api().Post("/v1/apps/" + Enc(app) + "/ip_assignments", body);
    out_ << IpTable({ip});
    return 0;
  }
  int IpsList(const AppOpts& o, bool as_json) {
    std::string app = o.Resolve();
    json a = api().Get("/v1/apps/" + Enc(app) + "/ip_assignments");
    if (as_json) return PrintJson(MapArray(a, FlyIp)), 0;
    std::vector<json> ips;
    for (auto& ip : AsArray(a)) ips.push_back(ip);
    out_ << IpTable(ips);
    return 0;
  }
  int IpsRelease(const AppOpts& o, const std::vector<std::string>& ips) {
    std::string app = o.Resolve();
    for (auto& ip : ips) {
      api().Delete("/v1/apps/" + Enc(app) + "/ip_assignments/" + Enc(ip));
      out_ << "Released " << ip << " from " << app << "\n";
    }
    return 0;
  }
  int IpsPrivate(const AppOpts& o, bool as_json) {
    std::string app = o.Resolve();
    json a = api().Get("/v1/apps/" + Enc(app) + "/machines");
    if (as_json) {
      json out = json::array();
      for (auto& m : AsArray(a))
        out.push_back({{"id", S(m, "id")}, {"region", S(m, "region")}, {"process_group", S(m, "process_group")},
                       {"state", S(m, "state")}, {"private_ip", S(m, "private_ip")}});
      return PrintJson(out), 0;
    }
    std::vector<Row> rows;
    for (auto& m : AsArray(a))
      rows.push_back({S(m, "id"), Dash(S(m, "region")), Dash(S(m, "process_group")), Dash(S(m, "private_ip"))});
    out_ << FormatTable({"ID", "REGION", "PROCESS GROUP", "IP"}, rows);
    return 0;
  }

  // ---- machines ----
  std::string MPath(const std::string& app, const std::string& id = "") {
    return "/v1/apps/" + Enc(app) + "/machines" + (id.empty() ? "" : "/" + Enc(id));
  }

  int MachineList(const AppOpts& o, bool as_json, bool quiet) {
    std::string app = o.Resolve();
    json a = api().Get(MPath(app));
    if (as_json) return PrintJson(MapArray(a, FlyMachine)), 0;
    if (quiet) {  // flyctl's -q: the ids, one a line
      for (auto& m : AsArray(a)) out_ << S(m, "id") << "\n";
      return 0;
    }
    std::vector<Row> rows;
    for (auto& m : AsArray(a)) rows.push_back(MachineRow(m));
    out_ << AsArray(a).size() << " machines have been retrieved from app " << app << ".\n";
    out_ << FormatTable(kMachineHeader, rows);
    return 0;
  }

  int MachineStatus(const AppOpts& o, const std::string& id, bool as_json) {
    std::string app = o.Resolve();
    json m = api().Get(MPath(app, id));
    if (as_json) return PrintJson(FlyMachine(m)), 0;
    std::string cmd;
    for (auto& c : Arr(m, "cmd")) cmd += (cmd.empty() ? "" : " ") + (c.is_string() ? c.get<std::string>() : c.dump());
    int64_t v = I(m, "release_version");
    out_ << "Machine " << S(m, "id") << "\n"
         << FormatKeyValues({{"App", S(m, "app")},
                             {"State", S(m, "state")},
                             {"Region", S(m, "region")},
                             {"Host", HostOf(m)},
                             {"Process Group", S(m, "process_group")},
                             {"Private IP", S(m, "private_ip")},
                             {"Org", S(m, "org")},
                             {"Network", S(m, "network")},
                             {"Release", v > 0 ? "v" + std::to_string(v) : "-"},
                             {"Image", S(m, "image").empty() ? "(release's image, or host /usr)" : S(m, "image")},
                             {"Command", cmd.empty() ? "(release's process command)" : cmd},
                             {"Auto Destroy", S(m, "auto_destroy")},
                             {"Created", S(m, "created_at")},
                             {"Updated", S(m, "updated_at")},
                             {"Last Event", S(m, "last_event")}});
    return 0;
  }

  // Waits (bounded) for a resting state; returns the state reached or "" on timeout.
  std::string WaitState(const std::string& app, const std::string& id, const std::string& state, int timeout_s) {
    if (timeout_s <= 0) return "";
    auto [status, j] = api().Raw("GET", MPath(app, id) + "/wait?state=" + state + "&timeout=" + std::to_string(timeout_s), "");
    if (status == 200) return S(j, "state");
    if (status == 408) return "";
    throw Failure{Api::ErrorOf(status, j)};
  }

  // A machine whose start failed: the error, with the reason its record gives.
  [[noreturn]] void ThrowFailedStart(const std::string& app, const std::string& id) {
    json m = api().Get(MPath(app, id));
    throw Failure{"machine " + id + " " + Dash(S(m, "last_event")) + " (privcast status -a " + app + ")"};
  }

  int MachineLifecycle(const AppOpts& o, const std::vector<std::string>& ids, const std::string& verb,
                       int wait_timeout) {
    std::string app = o.Resolve();
    static const std::map<std::string, std::pair<std::string, std::string>> kTarget = {
        {"start", {"started", "Starting"}}, {"stop", {"stopped", "Stopping"}}, {"suspend", {"suspended", "Suspending"}}};
    auto [target, gerund] = kTarget.at(verb);
    for (auto& id : ids) {
      json m = api().Post(MPath(app, id) + "/" + verb, json::object());
      out_ << gerund << " machine " << id << "\n";
      std::string got = S(m, "state") == target ? target : WaitState(app, id, target, wait_timeout);
      if (got == "failed") ThrowFailedStart(app, id);
      if (got == target)
        out_ << "Machine " << id << " is " << target << "\n";
      else
        out_ << "Machine " << id << " is " << (wait_timeout > 0 ? "still " : "") << S(m, "state")
             << " (requested " << verb << ")\n";
    }
    return 0;
  }

  int MachineDestroy(const AppOpts& o, const std::vector<std::string>& ids, bool force, int wait_timeout) {
    std::string app = o.Resolve();
    for (auto& id : ids) {
      api().Delete(MPath(app, id) + (force ? "?force=true" : ""));
      std::string got = WaitState(app, id, "destroyed", wait_timeout);
      out_ << "Machine " << id << (got == "destroyed" ? " destroyed" : " is being destroyed") << "\n";
    }
    return 0;
  }

  struct RunArgs {
    AppOpts app;
    std::string region, org, network, name, restart;
    bool shell = false, rm = false, services = false, detach = false;
    std::vector<std::string> cmd, env, ports;
    std::string image;
    std::string volume;  // -v NAME_OR_ID:/path
  };

  // oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE name paths of this shell: the daemon
  // gets them absolute.
  static std::string AbsoluteImageRef(const std::string& ref) {
    for (const char* p : {"oci:", "oci-archive:", "docker-archive:"}) {
      std::string prefix = p;
      if (ref.rfind(prefix, 0) != 0 || ref.size() == prefix.size() || ref[prefix.size()] == '/') continue;
      char* cwd = ::getcwd(nullptr, 0);
      std::string abs = std::string(cwd ? cwd : ".") + "/" + ref.substr(prefix.size());
      ::free(cwd);
      return prefix + std::filesystem::path(abs).lexically_normal().string();
    }
    return ref;
  }

  int MachineRun(RunArgs r) {
    // flyctl's shape: machine run IMAGE [CMD ARGS...]; what follows "--" joins the command
    // (a command with options of its own: machine run IMAGE -- ls -l).
    r.cmd.insert(r.cmd.end(), after_dashdash_.begin(), after_dashdash_.end());
    std::string app = r.app.Resolve();
    json env = json::object();
    for (auto& kv : r.env) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) throw Failure{"-e " + kv + ": expected NAME=VALUE"};
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (!r.restart.empty() && r.restart != "no")
      throw Failure{"--restart " + r.restart + ": machines from privcast machine run are never restarted (only \"no\"); "
                    "deploy a process group for restarts on failure"};
    if (!r.name.empty() && !ids::IsDnsLabel(r.name)) throw Failure{"--name " + r.name + ": expected a DNS label"};
    if (!r.ports.empty() && !r.services) {
      // flyctl's -p defines the machine's own services; privcast's services are the app's
      // (fly.toml), so -p means: carry them (docs/cli.md).
      err_ << "Note: -p/--port: privcast machines serve the app's services from fly.toml; this machine carries them (--services)\n";
      r.services = true;
    }
    if (!r.org.empty() && !r.network.empty())
      throw Failure{"--org and --network are exclusive: pass one (--org uses that org's default network)"};
    json body = json::object();
    if (!r.region.empty()) body["region"] = r.region;
    if (!r.org.empty()) body["org"] = r.org;
    if (!r.network.empty()) body["network"] = r.network;
    if (!r.cmd.empty()) body["cmd"] = r.cmd;
    if (!env.empty()) body["env"] = env;
    if (!r.image.empty()) body["image"] = AbsoluteImageRef(r.image);
    body["rm"] = r.rm;
    if (r.services) body["services"] = true;
    if (!r.volume.empty()) body["mounts"] = VolumeMountArg(r.volume);
    if (!r.shell) {
      if (r.cmd.empty() && r.image.empty()) throw Failure{"machine run needs a command: privcast machine run -- CMD ARGS... (or --shell)"};
      json m = api().Post("/v1/apps/" + Enc(app) + "/machines/run", body);
      std::string id = S(m, "id");
      out_ << "Machine " << id << " created in app " << app << " (" << S(m, "private_ip") << ")\n";
      if (!r.name.empty()) out_ << "Note: --name: privcast names machines by their id (" << id << ")\n";
      std::string got = S(m, "state") == "started" ? "started" : WaitState(app, id, "started", r.detach ? 0 : 30);
      if (S(m, "state") == "failed" || got == "failed") ThrowFailedStart(app, id);
      out_ << "Machine " << id << " is " << (got.empty() ? S(m, "state") : got) << "\n";
      return 0;
    }
    return Shell(app, body);
  }

  // machine run --shell: hand our stdio to the daemon (SCM_RIGHTS) and wait for the exit code
  // (cli/attach.h, shared with ssh console).
  int Shell(const std::string& app, json body) {
    body["shell"] = true;
    if (!body.contains("cmd")) body["cmd"] = json::array({"/bin/sh"});
    return RunAttachedStream(api().client(), "/v1/apps/" + Enc(app) + "/machines/run", std::move(body), app);
  }

  // ---- scale / status / logs ----
  int ScaleCount(const AppOpts& o, int count, const std::string& region) {
    std::string app = o.Resolve();
    json body = {{"count", count}};
    if (!region.empty()) body["regions"] = RegionList(region);
    json r = api().Post("/v1/apps/" + Enc(app) + "/scale", body);
    out_ << "Scaled " << app << " to " << count << (count == 1 ? " machine" : " machines")
         << (region.empty() ? std::string() : " in each of " + region) << "\n";
    std::vector<Row> rows;
    for (auto& m : Arr(r, "machines")) rows.push_back(MachineRow(m));
    if (!rows.empty()) out_ << FormatTable(kMachineHeader, rows);
    return 0;
  }

  int AppStatus(const AppOpts& o, bool as_json) {
    std::string app = o.Resolve();
    json s = api().Get("/v1/apps/" + Enc(app) + "/status");
    if (as_json) return PrintJson(FlyStatus(s)), 0;
    int64_t v = I(s, "current_release");
    out_ << "App\n"
         << FormatKeyValues({{"Name", S(s, "name")},
                             {"Org", S(s, "org")},
                             {"Network", S(s, "network")},
                             {"Hostname", S(s, "hostname")},
                             {"Release", v > 0 ? "v" + std::to_string(v) : "- (not deployed)"}})
         << "\nAddresses\n";
    std::vector<json> ips;
    for (auto& ip : Arr(s, "ips")) ips.push_back(ip);
    out_ << IpTable(ips) << "\nMachines\n";
    std::vector<Row> rows;
    for (auto& m : Arr(s, "machines")) {
      int64_t rv = I(m, "release_version");
      rows.push_back({Dash(S(m, "process_group")), S(m, "id"), rv > 0 ? "v" + std::to_string(rv) : "-",
                      Dash(S(m, "region")), HostOf(m), S(m, "state"), Dash(S(m, "checks")),
                      std::to_string(I(m, "load")), Dash(S(m, "private_ip")), Dash(S(m, "updated_at"))});
    }
    out_ << FormatTable(
        {"PROCESS", "ID", "VERSION", "REGION", "HOST", "STATE", "CHECKS", "LOAD", "IP ADDRESS", "LAST UPDATED"}, rows);
    // Why each failed machine failed (its last event): the reason a deploy reported.
    bool header = false;
    for (auto& m : Arr(s, "machines")) {
      if (S(m, "state") != "failed") continue;
      if (!header) out_ << "\nFailed machines\n";
      header = true;
      out_ << "  " << S(m, "id") << " " << Dash(S(m, "last_event")) << "\n";
    }
    return 0;
  }

  struct LogArgs {
    AppOpts app;
    bool no_tail = false, follow = false, json = false;
    std::string machine, region;
    int lines = 100;
  };
  // Text lines out as they come (or each as flyctl's JSON log entry with --json).
  void EmitLogText(std::string& pending, bool as_json, bool final) {
    if (!as_json) {
      out_ << pending;
      pending.clear();
    } else {
      size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        out_ << FlyLogEntry(pending.substr(0, nl)).dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
        pending.erase(0, nl + 1);
      }
      if (final && !pending.empty()) {
        out_ << FlyLogEntry(pending).dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
        pending.clear();
      }
    }
    out_.flush();
  }
  int Logs(const LogArgs& a) {
    std::string app = a.app.Resolve();
    bool follow = !a.no_tail;
    std::string target = "/v1/apps/" + Enc(app) + "/logs?follow=" + (follow ? "1" : "0") + "&tail=" + std::to_string(a.lines);
    if (!a.machine.empty()) target += "&machine=" + Enc(a.machine);
    if (!a.region.empty()) target += "&region=" + Enc(a.region);
    std::string body;
    bool text = false;
    auto st = api().client().Stream("GET", target, "", [&](std::string_view d) {
      body.append(d);
      // Text streams go straight out; keep only what could be an error body.
      if (!text && (body.size() > 4096 || body.front() != '{')) text = true;
      if (text) EmitLogText(body, a.json, false);
      return true;
    });
    if (!st.ok()) throw Failure{st.status().message()};
    if (*st != 200) {
      json j = json::parse(body, nullptr, false);
      throw Failure{Api::ErrorOf(*st, j.is_discarded() ? json() : j)};
    }
    EmitLogText(body, a.json, true);
    return 0;
  }

  // ---- proxy ----
  int Proxy(const AppOpts& o, const std::string& ports, const std::string& host_arg, const std::string& bind) {
    auto pp = ParsePortPair(ports);
    if (!pp.ok()) throw Failure{pp.status().message()};
    std::string host = host_arg;
    if (host.empty()) host = o.Resolve() + ".flycast";
    std::string target = ResolveHost(host);
    // Wait for a signal with sigwait: block them before the forwarder's threads start.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    Forwarder f;
    Status st = f.Start(bind, pp->local, target, pp->remote);
    if (!st.ok()) throw Failure{st.message()};
    out_ << "Proxying " << bind << ":" << f.local_port() << " to [" << target << "]:" << pp->remote << " (" << host
         << ")\n";
    out_.flush();
    int sig = 0;
    sigwait(&set, &sig);
    f.Stop();
    return 0;
  }

  // <app>.internal names (cli/internal_names.h) through the API; nullopt: not such a name.
  std::optional<std::string> ResolveInternal(const std::string& h) {
    auto name = ParseInternalName(h);
    if (!name.ok()) throw Failure{name.status().message()};
    if (!name->has_value()) return std::nullopt;
    auto ip = PickInternalAddress(**name, api().Get(MPath((*name)->app)), h);
    if (!ip.ok()) throw Failure{ip.status().message()};
    return *ip;
  }

  // HOST → numeric address: an IP literal as is; <app>.flycast through the API (the app's
  // flycast address on its own network); anything else through the system resolver.
  std::string ResolveHost(const std::string& host) {
    std::string h = host;
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (Ip6::Parse(h) || addr::ParseV4(h)) return h;
    if (auto internal = ResolveInternal(h)) return *internal;
    const std::string suffix = ".flycast";
    if (h.size() > suffix.size() && h.compare(h.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string app = h.substr(0, h.size() - suffix.size());
      std::string service;  // <service>.svc.<app>.flycast: that service's address (ADR 0013)
      if (auto dot = app.find(".svc."); dot != std::string::npos) {
        service = app.substr(0, dot);
        app = app.substr(dot + 5);
      }
      json a = api().Get("/v1/apps/" + Enc(app));
      json ips = api().Get("/v1/apps/" + Enc(app) + "/ip_assignments");
      std::string first;
      for (auto& ip : AsArray(ips)) {
        if (S(ip, "service") != service) continue;
        if (first.empty()) first = S(ip, "ip");
        if (S(ip, "org") == S(a, "org") && S(ip, "network") == S(a, "network")) return S(ip, "ip");
      }
      if (!first.empty()) return first;
      throw Failure{"app " + app + " has no flycast address: run privcast ips allocate-v6 --private -a " + app};
    }
    struct addrinfo hints {};
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo* res = nullptr;
    if (::getaddrinfo(h.c_str(), nullptr, &hints, &res) != 0 || !res)
      throw Failure{"cannot resolve " + h + ": give an IP address or <app>.flycast"};
    char buf[NI_MAXHOST];
    ::getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST);
    ::freeaddrinfo(res);
    return buf;
  }

  std::ostream& out_;
  std::ostream& err_;
  std::string api_env_;
  Globals g_;
  std::unique_ptr<Api> api_;
  std::function<int()> action_;
  std::vector<std::string> after_dashdash_;  // machine run [IMAGE] -- CMD: what came after "--"
  bool saw_dashdash_ = false;

};

int Cli::Run(int argc, const char* const* argv) {
  CLI::App app{"privcast: Fly-style private services (flycast) on your own host"};
  app.name("privcast");
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--api", g_.api, "privcastd API address, unix:PATH (env PRIVCAST_API; default unix:" +
                                      std::string(api::kDefaultSocketPath) + ")");
  app.set_version_flag("--version", std::string("privcast ") + kVersion);
  app.footer("Docs: docs/cli.md. Errors print `Error: ...` and exit 1 (usage errors too, like flyctl).");

  Sub(&app, "version", "Print the version", [this] {
    out_ << "privcast " << kVersion << "\n";
    return 0;
  });

  // orgs
  auto* orgs = app.add_subcommand("orgs", "Manage orgs")->require_subcommand(1);
  std::string slug;
  Sub(orgs, "create", "Create an org (with its default network)", [&] { return OrgsCreate(slug); })
      ->add_option("slug", slug, "Org slug (a DNS label)")
      ->required();
  bool orgs_json = false;
  Sub(orgs, "list", "List orgs", [&] { return OrgsList(orgs_json); })->add_flag("--json", orgs_json, "JSON output");

  // networks
  auto* nets = app.add_subcommand("networks", "Manage custom private networks")->require_subcommand(1);
  std::string net_name, net_org;
  auto* nc = Sub(nets, "create", "Create a custom network in an org", [&] { return NetworksCreate(net_name, net_org); });
  nc->add_option("name", net_name, "Network name (a DNS label)")->required();
  nc->add_option("--org", net_org, "Org that owns the network")->required();
  bool nets_json = false;
  std::string nets_org;
  auto* nl = Sub(nets, "list", "List networks", [&] { return NetworksList(nets_org, nets_json); });
  nl->add_option("--org", nets_org, "Only this org's networks");
  nl->add_flag("--json", nets_json, "JSON output");

  // apps
  auto* apps = app.add_subcommand("apps", "Manage apps")->require_subcommand(1);
  std::string app_name, app_org, app_net;
  auto* ac = Sub(apps, "create", "Create an app", [&] { return AppsCreate(app_name, app_org, app_net); });
  ac->add_option("name", app_name, "App name (a DNS label)")->required();
  ac->add_option("--org", app_org, "Org (default: personal)");
  ac->add_option("--network", app_net, "Network of the org (default: the org's default network)");
  bool apps_json = false;
  std::string apps_org;
  auto* al = Sub(apps, "list", "List apps", [&] { return AppsList(apps_org, apps_json); });
  al->add_option("--org", apps_org, "Only this org's apps");
  al->add_flag("-j,--json", apps_json, "JSON output (flyctl's fields: ID, Name, Status, Organization.Slug, ...; plus privcast's)");
  std::string destroy_name;
  bool destroy_yes = false;
  auto* ad = Sub(apps, "destroy", "Destroy an app, its machines and addresses", [&] { return AppsDestroy(destroy_name); });
  ad->add_option("name", destroy_name, "App name")->required();
  ad->add_flag("-y,--yes", destroy_yes, "Accepted for flyctl compatibility (privcast does not prompt)");

  // launch
  LaunchArgs la;
  auto* lc = Sub(&app, "launch", "Write fly.toml here, create the app and deploy it", [&] { return Launch(la); });
  lc->add_option("--name", la.name, "App name (default: this folder's name)");
  lc->add_option("--org", la.org, "Org (default: personal)");
  lc->add_option("--region", la.region, "Primary region; the first machines go there");
  lc->add_flag("--flycast", la.flycast, "Private app: force_https = false and a flycast address");
  la.internal_port_opt =
      lc->add_option("--internal-port", la.internal_port, "Port the app listens on (default: the image's lowest ExposedPorts TCP port, else 8080)")
          ->check(CLI::Range(1, 65535));
  lc->add_option("--command", la.command, "The app's command ([processes] app)");
  lc->add_option("--image", la.image, "The OCI image machines run ([build] image)");
  lc->add_flag("--no-deploy", la.no_deploy, "Only write fly.toml and create the app");
  lc->add_flag("--ha", la.ha, "2 machines per process group with services (--ha=false: 1)");
  lc->add_flag("-y,--yes", la.yes, "Accept the defaults (privcast never prompts)");
  lc->add_flag("--copy-config", la.copy_config, "Reuse the fly.toml found here (its app, or --name)");
  lc->add_flag("--no-public-ips", la.no_public_ips, "Accepted for flyctl compatibility (privcast has only private addresses)");

  // deploy
  DeployArgs dep;
  auto* dc = Sub(&app, "deploy", "Validate fly.toml and create or update the app's machines", [&] { return Deploy(dep); });
  AddApp(dc, &dep.app);
  dc->add_option("-i,--image", dep.image, "The OCI image to deploy (replaces [build] image)");
  dc->add_flag("--flycast", dep.flycast, "Make sure the app has a flycast address");
  dc->add_flag("--ha", dep.ha, "2 machines per process group with services (--ha=false: 1)");
  dc->add_option("--strategy", dep.strategy,
                 "rolling (default: wait for each machine's health checks) or immediate (don't wait)");
  dc->add_option("--wait-timeout", dep.wait_timeout, "How long rolling waits for health checks (default 5m)")
      ->check(DurationCheck(24 * 3600));
  dc->add_flag("-y,--yes", dep.yes, "Accepted for flyctl compatibility (privcast does not prompt)");
  dc->add_option("-r,--region,--regions", dep.region,
                 "Comma-separated regions: the machines per process group go to hosts of each (cluster)");

  // config
  auto* cfg = app.add_subcommand("config", "Check the app's fly.toml")->require_subcommand(1);
  AppOpts cv_app;
  auto* cv = Sub(cfg, "validate", "Validate fly.toml offline (no daemon): warnings, and every error",
                 [&] { return ConfigValidate(cv_app); });
  cv->add_option("-a,--app", cv_app.app, "App name (overrides app in the file, as deploy -a does)");
  cv->add_option("-c,--config", cv_app.config, "Path to fly.toml (default ./fly.toml)");

  // ips
  auto* ips = app.add_subcommand("ips", "Manage flycast addresses")->require_subcommand(1);
  AppOpts ipa_app;
  bool ipa_private = false;
  std::string ipa_org, ipa_net, ipa_service;
  auto* ia = Sub(ips, "allocate-v6", "Allocate a flycast (private IPv6) address",
                 [&] { return IpsAllocate(ipa_app, ipa_org, ipa_net, ipa_service); });
  ia->add_option("--service", ipa_service,
                 "For one service only (a process group with a service, or a named [[services]]): "
                 "<service>.svc.<app>.flycast");
  AddApp(ia, &ipa_app);
  ia->add_flag("--private", ipa_private, "A private (flycast) address: the only kind privcast has")->required();
  auto* ipa_org_opt = ia->add_option("--org", ipa_org, "On this org's default network");
  ia->add_option("--network", ipa_net, "On this named network of the app's org")->excludes(ipa_org_opt);
  AppOpts ipl_app;
  bool ipl_json = false;
  auto* il = Sub(ips, "list", "List the app's addresses", [&] { return IpsList(ipl_app, ipl_json); });
  AddApp(il, &ipl_app);
  il->add_flag("-j,--json", ipl_json, "JSON output (flyctl's fields: Address, Type, Network.Name, ...; plus privcast's)");
  AppOpts ipr_app;
  std::vector<std::string> ipr_ips;
  auto* ir = Sub(ips, "release", "Release addresses", [&] { return IpsRelease(ipr_app, ipr_ips); });
  AddApp(ir, &ipr_app);
  ir->add_option("ip", ipr_ips, "Addresses to release")->required();
  bool ipr_yes = false;
  ir->add_flag("-y,--yes", ipr_yes, "Accepted for flyctl compatibility (privcast does not prompt)");
  AppOpts ipp_app;
  bool ipp_json = false;
  auto* ip = Sub(ips, "private", "List each machine's 6PN address", [&] { return IpsPrivate(ipp_app, ipp_json); });
  AddApp(ip, &ipp_app);
  ip->add_flag("--json", ipp_json, "JSON output");

  // images
  auto* imgs = app.add_subcommand("images", "Manage the local image store")->require_subcommand(1);
  imgs->alias("image");
  bool il_json = false;
  auto* img_list = Sub(imgs, "list", "List images", [&] { return ImagesList(il_json); });
  img_list->alias("ls");
  img_list->add_flag("--json", il_json, "JSON output");
  std::string img_ref;
  Sub(imgs, "pull", "Fetch an image into the store (REF: registry reference, oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE)",
      [&] { return ImagesPull(img_ref); })
      ->add_option("ref", img_ref, "Image reference")
      ->required();
  std::string irm_ref;
  Sub(imgs, "rm", "Remove an image (a reference untags; an id removes it), never one a machine uses",
      [&] { return ImagesRm(irm_ref); })
      ->add_option("ref", irm_ref, "Image reference or id")
      ->required();
  bool ip_json = false;
  Sub(imgs, "prune", "Remove every image no machine uses", [&] { return ImagesPrune(ip_json); })
      ->add_flag("--json", ip_json, "JSON output");

  // volumes (cli/volumes.cc)
  RegisterVolumeCommands(&app, CommandContext{
      &out_, [this](const std::string& m, const std::string& t, const json& b) { return api().Call(m, t, b.is_null() ? "" : Api::Dump(b)); },
      [](const std::string& a, const std::string& c) { return AppOpts{a, c}.Resolve(); },
      [this](CLI::App* p, const std::string& n, const std::string& d, std::function<int()> f) { return Sub(p, n, d, std::move(f)); }});

  // machine
  auto* mach = app.add_subcommand("machine", "Manage machines")->require_subcommand(1);
  mach->alias("machines");
  RunArgs ra;
  auto* mr = Sub(mach, "run", "Run a machine (--shell: attached to this terminal)", [&] { return MachineRun(ra); });
  AddApp(mr, &ra.app);
  mr->add_option("--region", ra.region, "Region");
  auto* mr_org = mr->add_option("--org", ra.org, "On this org's default network");
  mr->add_option("--network", ra.network, "On this named network of the app's org")->excludes(mr_org);
  mr->add_flag("--shell", ra.shell, "Interactive shell (or CMD) in the network; exit code propagated");
  mr->add_flag("--rm", ra.rm, "Destroy the machine when it exits");
  mr->add_flag("--services", ra.services,
               "Carry the app's services (of its process group): take their traffic (default: none)");
  mr->add_option("image", ra.image, "Image reference (none: the host-/usr base)");
  mr->add_option("command", ra.cmd, "Command and arguments (replace the image's Cmd); after -- when they have options");
  mr->add_option("-e,--env", ra.env, "Environment variable NAME=VALUE (repeatable)");
  mr->add_option("-n,--name", ra.name, "Accepted for flyctl compatibility (privcast names machines by their id)");
  mr->add_flag("-d,--detach", ra.detach, "Return once created, without waiting for the machine to start");
  mr->add_option("-p,--port", ra.ports, "Carry the app's services (privcast's services come from fly.toml; see --services)");
  mr->add_option("--restart", ra.restart, "Restart policy: only \"no\" (machines from machine run are never restarted)");
  mr->add_option("-v,--volume", ra.volume, "Mount a volume of the app: NAME_OR_ID:/path (docs/volumes.md)");
  AppOpts ml_app;
  bool ml_json = false, ml_quiet = false;
  auto* ml = Sub(mach, "list", "List the app's machines", [&] { return MachineList(ml_app, ml_json, ml_quiet); });
  ml->alias("ls");
  AddApp(ml, &ml_app);
  ml->add_flag("-j,--json", ml_json, "JSON output (flyctl's machine fields, plus privcast's)");
  ml->add_flag("-q,--quiet", ml_quiet, "Only list machine ids");
  AppOpts ms_app;
  std::string ms_id;
  bool ms_json = false;
  auto* ms = Sub(mach, "status", "Show a machine", [&] { return MachineStatus(ms_app, ms_id, ms_json); });
  AddApp(ms, &ms_app);
  ms->add_option("id", ms_id, "Machine ID")->required();
  ms->add_flag("-j,--json", ms_json, "JSON output (flyctl's machine fields, plus privcast's)");
  struct LifeArgs {
    AppOpts app;
    std::vector<std::string> ids;
    std::string wait = "60s";
    bool force = false, yes = false;
  };
  static const char* kVerbs[] = {"start", "stop", "suspend", "destroy"};
  static const char* kDescs[] = {"Start machines", "Stop machines (kill_signal, then kill_timeout)",
                                 "Suspend machines (freeze)", "Destroy machines"};
  LifeArgs life[4];
  for (int i = 0; i < 4; ++i) {
    std::string verb = kVerbs[i];
    LifeArgs* la_i = &life[i];
    auto* c = Sub(mach, verb, kDescs[i], [this, la_i, verb] {
      int wait = static_cast<int>(*ParseDurationSeconds(la_i->wait));
      if (verb == "destroy") return MachineDestroy(la_i->app, la_i->ids, la_i->force, wait);
      return MachineLifecycle(la_i->app, la_i->ids, verb, wait);
    });
    AddApp(c, &la_i->app);
    c->add_option("id", la_i->ids, "Machine IDs")->required();
    c->add_option("-w,--wait-timeout", la_i->wait,
                  "How long to wait for the machine to get there: 10s, 1m, or seconds (0: don't wait; default 60s)")
        ->check(DurationCheck(3600));
    if (verb == "destroy") {
      c->add_flag("-f,--force", la_i->force, "Destroy even if it is running");
      c->add_flag("-y,--yes", la_i->yes, "Accepted for flyctl compatibility (privcast does not prompt)");
    }
  }

  // scale
  auto* scale = app.add_subcommand("scale", "Scale the app")->require_subcommand(1);
  AppOpts sc_app;
  int sc_count = 0;
  bool sc_yes = false;
  std::string sc_region;
  auto* sc = Sub(scale, "count", "Set the number of machines", [&] { return ScaleCount(sc_app, sc_count, sc_region); });
  sc->add_option("-r,--region", sc_region, "Comma-separated regions: COUNT machines in each, on hosts there");
  AddApp(sc, &sc_app);
  sc->add_flag("-y,--yes", sc_yes, "Accepted for flyctl compatibility (privcast does not prompt)");
  sc->add_option("count", sc_count, "Number of machines")->required()->check(CLI::Range(0, 1000));

  // status, logs, proxy
  AppOpts st_app;
  bool st_json = false;
  auto* stc = Sub(&app, "status", "Show the app: addresses, machines with state, region, load",
                  [&] { return AppStatus(st_app, st_json); });
  AddApp(stc, &st_app);
  stc->add_flag("-j,--json", st_json, "JSON output (flyctl's app fields and Machines, plus privcast's)");
  LogArgs lg;
  auto* lgc = Sub(&app, "logs", "Machine output and proxy events, in time order; follows until Ctrl-C (like flyctl)",
                  [&] { return Logs(lg); });
  AddApp(lgc, &lg.app);
  lgc->add_flag("-n,--no-tail", lg.no_tail, "Do not continually stream logs: print the history and exit");
  lgc->add_flag("-f,--follow", lg.follow, "Keep streaming new lines (the default; accepted for older scripts)");
  lgc->add_option("-i,--machine,--instance", lg.machine, "Only this machine");
  lgc->add_option("-r,--region", lg.region, "Only machines in this region");
  lgc->add_flag("-j,--json", lg.json, "One JSON object a line (flyctl's log entry fields)");
  lgc->add_option("--lines", lg.lines, "Lines of history (default 100)")->check(CLI::Range(0, 1000000));
  AppOpts px_app;
  std::string px_ports, px_host, px_bind = "127.0.0.1";
  auto* pxc = Sub(&app, "proxy", "Forward a local port into the private network (default HOST <app>.flycast)",
                  [&] { return Proxy(px_app, px_ports, px_host, px_bind); });
  AddApp(pxc, &px_app);
  pxc->add_option("ports", px_ports, "LOCAL[:REMOTE]")->required();
  pxc->add_option("host", px_host, "Target (default <app>.flycast, which wakes machines; an IP, <app>.flycast or <app>.internal)");
  pxc->add_option("-b,--bind-addr", px_bind, "Local address to listen on (default 127.0.0.1)");

  // Command groups in files of their own (cli/extend.h).
  Context ext{out_, err_, [this]() -> api::Client& { return api().client(); },
              [this](std::function<int()> a) { action_ = std::move(a); }};
  RegisterExtraCommands(app, ext);

  // What follows "--" is a command line of its own (machine run [IMAGE] -- CMD ARGS...):
  // kept aside, so CLI11 never mixes it with the positionals before it.
  int end = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--") {
      end = i;
      after_dashdash_.assign(argv + i + 1, argv + argc);
      saw_dashdash_ = true;
      break;
    }
  std::vector<std::string> args;
  for (int i = end - 1; i > 0; --i) args.emplace_back(argv[i]);
  if (auto rc = CheckUnknownCommand(app, std::vector<std::string>(argv + 1, argv + end), err_)) return *rc;
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out_, err_);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out_, err_);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, out_, err_);
  } catch (const CLI::ParseError& e) {
    // Usage error: say what, show the usage of the command that was being parsed, exit 1
    // (flyctl's code for every error; docs/cli.md).
    err_ << "Error: " << e.what() << "\n";
    std::string usage = app.help();  // the selected subcommand's, with its full path
    err_ << usage << (usage.empty() || usage.back() == '\n' ? "" : "\n");
    return kUsageExit;
  }
  if (!action_) {
    err_ << app.help();
    return kUsageExit;
  }
  try {
    return action_();
  } catch (const Failure& f) {
    out_.flush();
    err_ << "Error: " << f.message << "\n";
    return 1;
  } catch (const std::exception& e) {
    out_.flush();
    err_ << "Error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err, const std::string& api_env) {
  Cli cli(out, err, api_env);
  return cli.Run(argc, argv);
}

}  // namespace privcast::cli
