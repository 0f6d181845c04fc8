// `privcast orgs`, `networks` and `apps`: the records everything else lives in (an org, its
// private networks, the apps on them). Each command is one API call and a table.
#include <memory>

#include "cli/extend.h"
#include "cli/groups.h"
#include "cli/json_fields.h"
#include "cli/json_shapes.h"
#include "cli/table.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

struct State {
  std::string name, org, network;
  bool json_out = false, yes = false;
};

int OrgsCreate(Context& ctx, const std::string& slug) {
  json o = CallJson(ctx, "POST", "/v1/orgs", {{"slug", slug}});
  ctx.out << "Created org " << S(o, "slug") << " (default network " << S(o, "default_network") << ")\n";
  return 0;
}

int OrgsList(Context& ctx, bool as_json) {
  json a = CallJson(ctx, "GET", "/v1/orgs");
  if (as_json) return PrintJson(ctx, a), 0;
  std::vector<Row> rows;
  for (auto& o : AsArray(a)) rows.push_back({S(o, "slug"), Dash(S(o, "default_network")), Dash(S(o, "created_at"))});
  ctx.out << FormatTable({"SLUG", "DEFAULT NETWORK", "CREATED AT"}, rows);
  return 0;
}

int NetworksCreate(Context& ctx, const std::string& name, const std::string& org) {
  json n = CallJson(ctx, "POST", "/v1/networks", {{"name", name}, {"org", org}});
  ctx.out << "Created network " << S(n, "name") << " in org " << S(n, "org") << " (" << S(n, "prefix") << ")\n";
  return 0;
}

int NetworksList(Context& ctx, const std::string& org, bool as_json) {
  json a = CallJson(ctx, "GET", "/v1/networks" + (org.empty() ? "" : "?org=" + UrlEnc(org)));
  if (as_json) return PrintJson(ctx, a), 0;
  std::vector<Row> rows;
  for (auto& n : AsArray(a))
    rows.push_back({S(n, "name"), S(n, "org"), Dash(S(n, "prefix")), S(n, "default") == "true" ? "yes" : "no",
                    Dash(S(n, "created_at"))});
  ctx.out << FormatTable({"NAME", "ORG", "PREFIX", "DEFAULT", "CREATED AT"}, rows);
  return 0;
}

int AppsCreate(Context& ctx, const std::string& name, const std::string& org, const std::string& network) {
  json body = {{"app_name", name}};
  if (!org.empty()) body["org"] = org;
  if (!network.empty()) body["network"] = network;
  json a = CallJson(ctx, "POST", "/v1/apps", body);
  ctx.out << "New app created: " << S(a, "name") << " (org " << S(a, "org") << ", network " << S(a, "network") << ")\n";
  return 0;
}

int AppsList(Context& ctx, const std::string& org, bool as_json) {
  json a = CallJson(ctx, "GET", "/v1/apps" + (org.empty() ? "" : "?org=" + UrlEnc(org)));
  if (as_json) return PrintJson(ctx, MapArray(a, FlyApp)), 0;
  std::vector<Row> rows;
  for (auto& x : AsArray(a)) {
    int64_t v = I(x, "current_release");
    rows.push_back({S(x, "name"), S(x, "org"), Dash(S(x, "network")), Dash(S(x, "status")),
                    v > 0 ? "v" + std::to_string(v) : "-", Dash(S(x, "created_at"))});
  }
  ctx.out << FormatTable({"NAME", "ORG", "NETWORK", "STATUS", "RELEASE", "CREATED AT"}, rows);
  return 0;
}

int AppsDestroy(Context& ctx, const std::string& name) {
  CallJson(ctx, "DELETE", "/v1/apps/" + UrlEnc(name));
  ctx.out << "Destroyed app " << name << "\n";
  return 0;
}

}  // namespace

void RegisterOrgs(CLI::App& root, Context& ctx) {
  auto* orgs = root.add_subcommand("orgs", "Manage orgs")->require_subcommand(1);
  auto cr = std::make_shared<State>();
  AddCommand(ctx, orgs, "create", "Create an org (with its default network)",
             [&ctx, cr] { return OrgsCreate(ctx, cr->name); })
      ->add_option("slug", cr->name, "Org slug (a DNS label)")
      ->required();
  auto ls = std::make_shared<State>();
  AddCommand(ctx, orgs, "list", "List orgs", [&ctx, ls] {
    return OrgsList(ctx, ls->json_out);
  })->add_flag("--json", ls->json_out, "JSON output");
}

void RegisterNetworks(CLI::App& root, Context& ctx) {
  auto* nets = root.add_subcommand("networks", "Manage custom private networks")->require_subcommand(1);
  auto cr = std::make_shared<State>();
  auto* nc = AddCommand(ctx, nets, "create", "Create a custom network in an org",
                        [&ctx, cr] { return NetworksCreate(ctx, cr->name, cr->org); });
  nc->add_option("name", cr->name, "Network name (a DNS label)")->required();
  nc->add_option("--org", cr->org, "Org that owns the network")->required();
  auto ls = std::make_shared<State>();
  auto* nl = AddCommand(ctx, nets, "list", "List networks",
                        [&ctx, ls] { return NetworksList(ctx, ls->org, ls->json_out); });
  nl->add_option("--org", ls->org, "Only this org's networks");
  nl->add_flag("--json", ls->json_out, "JSON output");
}

void RegisterApps(CLI::App& root, Context& ctx) {
  auto* apps = root.add_subcommand("apps", "Manage apps")->require_subcommand(1);
  auto cr = std::make_shared<State>();
  auto* ac = AddCommand(ctx, apps, "create", "Create an app",
                        [&ctx, cr] { return AppsCreate(ctx, cr->name, cr->org, cr->network); });
  ac->add_option("name", cr->name, "App name (a DNS label)")->required();
  ac->add_option("--org", cr->org, "Org (default: personal)");
  ac->add_option("--network", cr->network, "Network of the org (default: the org's default network)");
  auto ls = std::make_shared<State>();
  auto* al = AddCommand(ctx, apps, "list", "List apps", [&ctx, ls] { return AppsList(ctx, ls->org, ls->json_out); });
  al->add_option("--org", ls->org, "Only this org's apps");
  al->add_flag("-j,--json", ls->json_out,
               "JSON output (flyctl's fields: ID, Name, Status, Organization.Slug, ...; plus privcast's)");
  auto de = std::make_shared<State>();
  auto* ad = AddCommand(ctx, apps, "destroy", "Destroy an app, its machines and addresses",
                        [&ctx, de] { return AppsDestroy(ctx, de->name); });
  ad->add_option("name", de->name, "App name")->required();
  ad->add_flag("-y,--yes", de->yes, "Accepted for flyctl compatibility (privcast does not prompt)");
}

}  // namespace privcast::cli
