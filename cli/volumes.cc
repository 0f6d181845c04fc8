#include "cli/volumes.h"

#include <memory>
#include <stdexcept>
#include <vector>

#include "cli/extend.h"
#include "cli/groups.h"
#include "cli/json_fields.h"
#include "cli/table.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

std::string Size(const json& v) { return S(v, "size_gb") + "GB"; }

struct State {
  std::string app, config, name, region, show_id;
  int size = 1;
  bool yes = false, json_out = false, list_json = false, show_json = false;
  std::vector<std::string> ids;
};

std::vector<std::pair<std::string, std::string>> Details(const json& v) {
  return {{"ID", S(v, "id")},
          {"Name", S(v, "name")},
          {"App", S(v, "app")},
          {"Region", S(v, "region")},
          {"Zone", Dash(S(v, "zone"))},
          {"Size GB", S(v, "size_gb")},
          {"Encrypted", S(v, "encrypted")},
          {"Attached machine", Dash(S(v, "attached_machine_id"))},
          {"Mounted at", Dash(S(v, "path"))},
          {"Created at", S(v, "created_at")}};
}

}  // namespace

json VolumeMountArg(const std::string& spec) {
  auto colon = spec.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= spec.size() || spec[colon + 1] != '/')
    throw std::runtime_error("--volume '" + spec + "': expected NAME_OR_ID:/path, e.g. data:/data or vol_…:/data");
  return json::array({json{{"volume", spec.substr(0, colon)}, {"path", spec.substr(colon + 1)}}});
}

void RegisterVolumes(CLI::App& root, Context& ctx) {
  auto st = std::make_shared<State>();
  auto* vols = root.add_subcommand("volumes", "Manage an app's volumes (persistent storage)")->require_subcommand(1);
  vols->alias("volume");
  vols->alias("vol");

  auto* cr = AddCommand(ctx, vols, "create", "Create a volume for an app", [&ctx, st] {
    std::string app = AppName(st->app, st->config);
    json body = {{"name", st->name}, {"size_gb", st->size}};
    if (!st->region.empty()) body["region"] = st->region;
    json v = CallJson(ctx, "POST", "/v1/apps/" + UrlEnc(app) + "/volumes", body);
    if (st->json_out) {
      ctx.out << v.dump(2) << "\n";
    } else {
      ctx.out << FormatKeyValues(Details(v));
    }
    return 0;
  });
  cr->add_option("name", st->name, "Volume name (1-30 lowercase letters, digits and '_')")->required();
  cr->add_option("-s,--size", st->size, "Size in GB (recorded; see docs/volumes.md)")->check(CLI::Range(1, 500));
  cr->add_option("-r,--region", st->region, "Region (default: the host's)");
  cr->add_flag("-y,--yes", st->yes, "Accepted for flyctl compatibility (privcast does not prompt)");
  cr->add_flag("--json", st->json_out, "JSON output");
  AddAppFlags(cr, &st->app, &st->config);

  auto* ls = AddCommand(ctx, vols, "list", "List an app's volumes", [&ctx, st] {
    std::string app = AppName(st->app, st->config);
    json a = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app) + "/volumes");
    if (st->list_json) {
      ctx.out << a.dump(2) << "\n";
      return 0;
    }
    std::vector<Row> rows;
    for (const auto& v : a.is_array() ? a : json::array())
      rows.push_back({S(v, "id"), S(v, "state"), S(v, "name"), Size(v), S(v, "region"), Dash(S(v, "zone")),
                      S(v, "encrypted"), Dash(S(v, "attached_machine_id")), S(v, "created_at")});
    ctx.out << FormatTable({"ID", "STATE", "NAME", "SIZE", "REGION", "ZONE", "ENCRYPTED", "ATTACHED VM", "CREATED AT"},
                           rows);
    return 0;
  });
  ls->alias("ls");
  ls->add_flag("--json", st->list_json, "JSON output");
  AddAppFlags(ls, &st->app, &st->config);

  auto* sh = AddCommand(ctx, vols, "show", "Show a volume", [&ctx, st] {
    json v = CallJson(ctx, "GET", "/v1/volumes/" + UrlEnc(st->show_id));
    if (st->show_json) ctx.out << v.dump(2) << "\n";
    else ctx.out << FormatKeyValues(Details(v));
    return 0;
  });
  sh->add_option("id", st->show_id, "Volume ID (vol_…)")->required();
  sh->add_flag("--json", st->show_json, "JSON output");

  auto* de = AddCommand(ctx, vols, "destroy",
                        "Destroy volumes (refused while attached to a machine: destroy the machine first)", [&ctx, st] {
                          for (const auto& id : st->ids) {
                            std::string target = "/v1/volumes/" + UrlEnc(id);
                            if (!st->app.empty()) target = "/v1/apps/" + UrlEnc(st->app) + "/volumes/" + UrlEnc(id);
                            json v = CallJson(ctx, "DELETE", target);
                            ctx.out << "Destroyed volume ID: " << id << " name: " << S(v, "name") << "\n";
                          }
                          return 0;
                        });
  de->alias("delete");
  de->alias("rm");
  de->add_option("id", st->ids, "Volume IDs (vol_…)")->required();
  de->add_flag("-y,--yes", st->yes, "Accepted for flyctl compatibility (privcast does not prompt)");
  de->add_option("-a,--app", st->app, "Only this app's volumes");
}

}  // namespace privcast::cli
