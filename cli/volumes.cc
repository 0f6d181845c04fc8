#include "cli/volumes.h"

#include <memory>
#include <stdexcept>
#include <vector>

#include "api/http.h"
#include "cli/table.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* k) {
  if (!j.is_object() || !j.contains(k) || j[k].is_null()) return "";
  return j[k].is_string() ? j[k].get<std::string>() : j[k].dump();
}
std::string Dash(const std::string& s) { return s.empty() ? "-" : s; }
std::string Size(const json& v) { return Str(v, "size_gb") + "GB"; }

struct State {
  std::string app, config, name, region, show_id;
  int size = 1;
  bool yes = false, json_out = false, list_json = false, show_json = false;
  std::vector<std::string> ids;
};

std::vector<std::pair<std::string, std::string>> Details(const json& v) {
  return {{"ID", Str(v, "id")},
          {"Name", Str(v, "name")},
          {"App", Str(v, "app")},
          {"Region", Str(v, "region")},
          {"Zone", Dash(Str(v, "zone"))},
          {"Size GB", Str(v, "size_gb")},
          {"Encrypted", Str(v, "encrypted")},
          {"Attached machine", Dash(Str(v, "attached_machine_id"))},
          {"Mounted at", Dash(Str(v, "path"))},
          {"Created at", Str(v, "created_at")}};
}

}  // namespace

json VolumeMountArg(const std::string& spec) {
  auto colon = spec.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= spec.size() || spec[colon + 1] != '/')
    throw std::runtime_error("--volume '" + spec + "': expected NAME_OR_ID:/path, e.g. data:/data or vol_…:/data");
  return json::array({json{{"volume", spec.substr(0, colon)}, {"path", spec.substr(colon + 1)}}});
}

void RegisterVolumeCommands(CLI::App* root, const CommandContext& c) {
  auto st = std::make_shared<State>();
  auto* vols = root->add_subcommand("volumes", "Manage an app's volumes (persistent storage)")->require_subcommand(1);
  vols->alias("volume");
  vols->alias("vol");
  auto add_app = [st](CLI::App* cmd) {
    cmd->add_option("-a,--app", st->app, "App name (default: app in ./fly.toml)");
    cmd->add_option("-c,--config", st->config, "Path to fly.toml (for the app name)");
  };

  auto* cr = c.sub(vols, "create", "Create a volume for an app", [c, st] {
    std::string app = c.resolve_app(st->app, st->config);
    json body = {{"name", st->name}, {"size_gb", st->size}};
    if (!st->region.empty()) body["region"] = st->region;
    json v = c.call("POST", "/v1/apps/" + api::http::PercentEncode(app) + "/volumes", body);
    if (st->json_out) {
      *c.out << v.dump(2) << "\n";
    } else {
      *c.out << FormatKeyValues(Details(v));
    }
    return 0;
  });
  cr->add_option("name", st->name, "Volume name (1-30 lowercase letters, digits and '_')")->required();
  cr->add_option("-s,--size", st->size, "Size in GB (recorded; see docs/volumes.md)")->check(CLI::Range(1, 500));
  cr->add_option("-r,--region", st->region, "Region (default: the host's)");
  cr->add_flag("-y,--yes", st->yes, "Accepted for flyctl compatibility (privcast does not prompt)");
  cr->add_flag("--json", st->json_out, "JSON output");
  add_app(cr);

  auto* ls = c.sub(vols, "list", "List an app's volumes", [c, st] {
    std::string app = c.resolve_app(st->app, st->config);
    json a = c.call("GET", "/v1/apps/" + api::http::PercentEncode(app) + "/volumes", json());
    if (st->list_json) {
      *c.out << a.dump(2) << "\n";
      return 0;
    }
    std::vector<Row> rows;
    for (const auto& v : a.is_array() ? a : json::array())
      rows.push_back({Str(v, "id"), Str(v, "state"), Str(v, "name"), Size(v), Str(v, "region"), Dash(Str(v, "zone")),
                      Str(v, "encrypted"), Dash(Str(v, "attached_machine_id")), Str(v, "created_at")});
    *c.out << FormatTable({"ID", "STATE", "NAME", "SIZE", "REGION", "ZONE", "ENCRYPTED", "ATTACHED VM", "CREATED AT"},
                          rows);
    return 0;
  });
  ls->alias("ls");
  ls->add_flag("--json", st->list_json, "JSON output");
  add_app(ls);

  auto* sh = c.sub(vols, "show", "Show a volume", [c, st] {
    json v = c.call("GET", "/v1/volumes/" + api::http::PercentEncode(st->show_id), json());
    if (st->show_json) *c.out << v.dump(2) << "\n";
    else *c.out << FormatKeyValues(Details(v));
    return 0;
  });
  sh->add_option("id", st->show_id, "Volume ID (vol_…)")->required();
  sh->add_flag("--json", st->show_json, "JSON output");

  auto* de = c.sub(vols, "destroy", "Destroy volumes (refused while attached to a machine: destroy the machine first)",
                   [c, st] {
                     for (const auto& id : st->ids) {
                       std::string target = "/v1/volumes/" + api::http::PercentEncode(id);
                       if (!st->app.empty()) target = "/v1/apps/" + api::http::PercentEncode(st->app) + "/volumes/" + api::http::PercentEncode(id);
                       json v = c.call("DELETE", target, json());
                       *c.out << "Destroyed volume ID: " << id << " name: " << Str(v, "name") << "\n";
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
