// flyctl's everyday verbs that privcast lacked: config show, releases, regions
// list, orgs show, scale show, machine restart, apps restart. Each is a few API calls and
// some formatting; docs/cli.md sets them beside their flyctl counterparts.
#include <map>
#include <memory>

#include "cli/extend.h"
#include "cli/groups.h"
#include "cli/json_fields.h"
#include "cli/restart.h"
#include "cli/table.h"
#include "common/strings.h"
#include "config/app_config.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

std::string Or(const std::string& s, const char* dash = "-") { return s.empty() ? dash : s; }

// The [[vm]] section that applies to a process group (flyctl: the first whose `processes`
// is empty or names it), with Fly's defaults: shared, 1 CPU, 256 MB.
struct Vm {
  std::string kind = "shared";
  int64_t cpus = 1;
  int64_t memory_mb = 256;
};
Vm VmFor(const json& cfg, const std::string& group) {
  Vm vm;
  if (!cfg.is_object() || !cfg.contains("vm") || !cfg["vm"].is_array()) return vm;
  for (const json& v : cfg["vm"]) {
    if (!v.is_object()) continue;
    bool applies = !v.contains("processes") || !v["processes"].is_array() || v["processes"].empty();
    if (!applies)
      for (const json& p : v["processes"]) applies = applies || (p.is_string() && p.get<std::string>() == group);
    if (!applies) continue;
    if (v.contains("cpu_kind") && v["cpu_kind"].is_string()) vm.kind = v["cpu_kind"].get<std::string>();
    if (v.contains("cpus") && v["cpus"].is_number_integer()) vm.cpus = v["cpus"].get<int64_t>();
    if (v.contains("size") && v["size"].is_string()) {
      // performance-Nx / shared-cpu-Nx presets: the kind and the count.
      std::string size = v["size"].get<std::string>();
      if (size.rfind("performance-", 0) == 0) vm.kind = "performance";
      auto dash = size.rfind('-');
      if (dash != std::string::npos && size.size() > dash + 2 && size.back() == 'x')
        if (auto n = ParseDecimal<int>(std::string_view(size).substr(dash + 1, size.size() - dash - 2))) vm.cpus = *n;
    }
    for (const char* k : {"memory", "memory_mb"}) {
      if (!v.contains(k)) continue;
      if (v[k].is_number_integer()) vm.memory_mb = v[k].get<int64_t>();
      else if (v[k].is_string())
        if (auto mb = config::ParseMemoryMb(v[k].get<std::string>())) vm.memory_mb = static_cast<int64_t>(*mb);
    }
    break;
  }
  return vm;
}

struct State {
  std::string app, config, id;
  std::vector<std::string> ids;
  bool json_out = false;
  int wait = 60;
};

void AddJson(CLI::App* c, bool* flag) { c->add_flag("--json", *flag, "JSON output"); }

// config show, releases, regions list.
void RegisterConfigAndReleases(CLI::App& root, Context& ctx) {
  // config show
  if (CLI::App* cfg = FindSubcommand(&root, "config")) {
    auto st = std::make_shared<State>();
    auto* c = AddCommand(ctx, cfg, "show", "Show the app's current config (its release) as JSON", [&ctx, st] {
      std::string app = AppName(st->app, st->config);
      json r = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app) + "/config");
      PrintJson(ctx, r.value("config", json::object()));
      return 0;
    });
    AddAppFlags(c, &st->app, &st->config);
  }

  // releases
  {
    auto st = std::make_shared<State>();
    auto* c = AddCommand(ctx, &root, "releases", "List the app's releases (deploys), newest first", [&ctx, st] {
      std::string app = AppName(st->app, st->config);
      json a = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app) + "/releases");
      if (st->json_out) {
        // flyctl's field names (its Release object), so jq scripts written for it work.
        json out = json::array();
        for (auto& r : a)
          out.push_back({{"Version", r.value("version", 0)},
                         {"Status", S(r, "status")},
                         {"Description", S(r, "description")},
                         {"User", {{"Email", S(r, "user")}}},
                         {"CreatedAt", S(r, "created_at")}});
        PrintJson(ctx, out);
        return 0;
      }
      std::vector<Row> rows;
      for (auto& r : a)
        rows.push_back({"v" + std::to_string(r.value("version", 0)), Or(S(r, "status")), Or(S(r, "description")),
                        Or(S(r, "user")), Or(S(r, "created_at"))});
      ctx.out << FormatTable({"VERSION", "STATUS", "DESCRIPTION", "USER", "DATE"}, rows);
      return 0;
    });
    AddAppFlags(c, &st->app, &st->config);
    AddJson(c, &st->json_out);
  }

  // regions list
  {
    auto* regions = root.add_subcommand("regions", "The regions this privcast's hosts are in");
    regions->require_subcommand(1);
    auto st = std::make_shared<State>();
    auto* c = AddCommand(ctx, regions, "list", "List the regions the hosts report", [&ctx, st] {
      json a = CallJson(ctx, "GET", "/v1/regions");
      if (st->json_out) return PrintJson(ctx, a), 0;
      std::vector<Row> rows;
      for (auto& r : a) {
        std::string hosts;
        for (auto& h : r.value("hosts", json::array())) hosts += (hosts.empty() ? "" : ", ") + h.get<std::string>();
        rows.push_back({S(r, "code"), Or(hosts), std::to_string(r.value("machines", 0))});
      }
      ctx.out << FormatTable({"CODE", "HOSTS", "MACHINES"}, rows);
      return 0;
    });
    c->alias("ls");
    AddJson(c, &st->json_out);
  }
}

// orgs show, scale show.
void RegisterOrgsAndScale(CLI::App& root, Context& ctx) {
  // orgs show
  if (CLI::App* orgs = FindSubcommand(&root, "orgs")) {
    auto st = std::make_shared<State>();
    auto* c = AddCommand(ctx, orgs, "show", "Show an org: its networks and apps", [&ctx, st] {
      json o = CallJson(ctx, "GET", "/v1/orgs/" + UrlEnc(st->id));
      if (st->json_out) return PrintJson(ctx, o), 0;
      std::string apps;
      for (auto& a : o.value("apps", json::array())) apps += (apps.empty() ? "" : ", ") + a.get<std::string>();
      ctx.out << "Organization\n"
              << FormatKeyValues({{"Name", S(o, "name")},
                                  {"Slug", S(o, "slug")},
                                  {"Default Network", Or(S(o, "default_network"))},
                                  {"Created At", Or(S(o, "created_at"))},
                                  {"Apps", Or(apps)}})
              << "\nNetworks\n";
      std::vector<Row> rows;
      for (auto& n : o.value("networks", json::array()))
        rows.push_back(
            {S(n, "name"), Or(S(n, "prefix")), S(n, "default") == "true" ? "yes" : "no", Or(S(n, "created_at"))});
      ctx.out << FormatTable({"NAME", "PREFIX", "DEFAULT", "CREATED AT"}, rows);
      return 0;
    });
    c->add_option("slug", st->id, "Org slug")->required();
    AddJson(c, &st->json_out);
  }

  // scale show
  if (CLI::App* scale = FindSubcommand(&root, "scale")) {
    auto st = std::make_shared<State>();
    auto* c =
        AddCommand(ctx, scale, "show", "Show the app's machines per process group: count, size, regions", [&ctx, st] {
          std::string app = AppName(st->app, st->config);
          json ms = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app) + "/machines");
          json cfg = json::object();
          auto r = ctx.client().Call("GET", "/v1/apps/" + UrlEnc(app) + "/config");
          if (r.ok() && r->status == 200) cfg = json::parse(r->body, nullptr, false).value("config", json::object());
          // The machines deploy and scale manage (those carrying services), per process group.
          std::map<std::string, std::map<std::string, int>> groups;
          for (auto& m : ms) {
            if (!m.value("services", false) || S(m, "state") == "destroyed" || S(m, "state") == "destroying") continue;
            groups[Or(S(m, "process_group"), "app")][Or(S(m, "region"), "")]++;
          }
          json out = json::array();
          std::vector<Row> rows;
          for (auto& [g, regions] : groups) {
            int count = 0;
            std::string rtext;
            json rj = json::object();
            for (auto& [reg, n] : regions) {
              count += n;
              rtext += (rtext.empty() ? "" : ",") + reg + "(" + std::to_string(n) + ")";
              rj[reg] = n;
            }
            Vm vm = VmFor(cfg, g);
            out.push_back({{"Process", g},
                           {"Count", count},
                           {"CPUKind", vm.kind},
                           {"CPUs", vm.cpus},
                           {"Memory", vm.memory_mb},
                           {"Regions", rj}});
            rows.push_back({g, std::to_string(count), vm.kind, std::to_string(vm.cpus),
                            std::to_string(vm.memory_mb) + " MB", rtext});
          }
          if (st->json_out) return PrintJson(ctx, out), 0;
          ctx.out << "VM Resources for app: " << app << "\n\nGroups\n"
                  << FormatTable({"PROCESS", "COUNT", "KIND", "CPUS", "MEMORY", "REGIONS"}, rows);
          return 0;
        });
    AddAppFlags(c, &st->app, &st->config);
    AddJson(c, &st->json_out);
  }
}

// machine restart, apps restart.
void RegisterRestarts(CLI::App& root, Context& ctx) {
  // machine restart ID...
  if (CLI::App* mach = FindSubcommand(&root, "machine")) {
    auto st = std::make_shared<State>();
    auto* c = AddCommand(ctx, mach, "restart", "Restart machines (stop, then start)", [&ctx, st] {
      std::string app = AppName(st->app, st->config);
      for (auto& id : st->ids) RestartMachine(ctx, app, id, st->wait);
      return 0;
    });
    AddAppFlags(c, &st->app, &st->config);
    c->add_option("id", st->ids, "Machine IDs")->required();
    c->add_option("--wait-timeout", st->wait, "Seconds to wait for each state (default 60)")
        ->check(CLI::Range(1, 3600));
  }

  // apps restart APP
  if (CLI::App* apps = FindSubcommand(&root, "apps")) {
    auto st = std::make_shared<State>();
    auto* c = AddCommand(ctx, apps, "restart", "Restart the app's started machines", [&ctx, st] {
      RestartApp(ctx, st->id, st->wait);
      return 0;
    });
    c->add_option("app", st->id, "App name")->required();
    c->add_option("--wait-timeout", st->wait, "Seconds to wait for each state (default 60)")
        ->check(CLI::Range(1, 3600));
  }
}

}  // namespace

void RegisterEveryday(CLI::App& root, Context& ctx) {
  RegisterConfigAndReleases(root, ctx);
  RegisterOrgsAndScale(root, ctx);
  RegisterRestarts(root, ctx);
}

}  // namespace privcast::cli
