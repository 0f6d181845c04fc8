// `privcast scale count N`: the app's machine count, then the machines it has.
#include <memory>

#include "cli/deploy.h"
#include "cli/extend.h"
#include "cli/groups.h"
#include "cli/json_fields.h"
#include "cli/rows.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

struct State {
  std::string app, config;
  int count = 0;
  std::string region;  // -r ams,syd: COUNT in each of them
  bool yes = false;
};

int ScaleCount(Context& ctx, const State& st) {
  std::string app = AppName(st.app, st.config);
  json body = {{"count", st.count}};
  if (!st.region.empty()) body["regions"] = RegionList(st.region);
  json r = CallJson(ctx, "POST", "/v1/apps/" + UrlEnc(app) + "/scale", body);
  ctx.out << "Scaled " << app << " to " << st.count << (st.count == 1 ? " machine" : " machines")
          << (st.region.empty() ? std::string() : " in each of " + st.region) << "\n";
  std::vector<Row> rows;
  for (auto& m : Arr(r, "machines")) rows.push_back(MachineRow(m));
  if (!rows.empty()) ctx.out << FormatTable(kMachineHeader, rows);
  return 0;
}

}  // namespace

void RegisterScale(CLI::App& root, Context& ctx) {
  auto* scale = root.add_subcommand("scale", "Scale the app")->require_subcommand(1);
  auto st = std::make_shared<State>();
  auto* sc = AddCommand(ctx, scale, "count", "Set the number of machines", [&ctx, st] { return ScaleCount(ctx, *st); });
  sc->add_option("-r,--region", st->region, "Comma-separated regions: COUNT machines in each, on hosts there");
  AddAppFlags(sc, &st->app, &st->config);
  sc->add_flag("-y,--yes", st->yes, "Accepted for flyctl compatibility (privcast does not prompt)");
  sc->add_option("count", st->count, "Number of machines")->required()->check(CLI::Range(0, 1000));
}

}  // namespace privcast::cli
