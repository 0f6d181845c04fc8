// `privcast status`: the app, its addresses and its machines (state, checks, load), and why
// each failed machine failed.
#include <memory>

#include "cli/extend.h"
#include "cli/groups.h"
#include "cli/json_fields.h"
#include "cli/json_shapes.h"
#include "cli/rows.h"
#include "cli/table.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

struct State {
  std::string app, config;
  bool json_out = false;
};

// Why each failed machine failed (its last event): the reason a deploy reported.
void PrintFailed(Context& ctx, const json& s) {
  bool header = false;
  for (auto& m : Arr(s, "machines")) {
    if (S(m, "state") != "failed") continue;
    if (!header) ctx.out << "\nFailed machines\n";
    header = true;
    ctx.out << "  " << S(m, "id") << " " << Dash(S(m, "last_event")) << "\n";
  }
}

int AppStatus(Context& ctx, const State& st) {
  std::string app = AppName(st.app, st.config);
  json s = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app) + "/status");
  if (st.json_out) return PrintJson(ctx, FlyStatus(s)), 0;
  int64_t v = I(s, "current_release");
  ctx.out << "App\n"
          << FormatKeyValues({{"Name", S(s, "name")},
                              {"Org", S(s, "org")},
                              {"Network", S(s, "network")},
                              {"Hostname", S(s, "hostname")},
                              {"Release", v > 0 ? "v" + std::to_string(v) : "- (not deployed)"}})
          << "\nAddresses\n";
  std::vector<json> ips;
  for (auto& ip : Arr(s, "ips")) ips.push_back(ip);
  ctx.out << IpTable(ips) << "\nMachines\n";
  std::vector<Row> rows;
  for (auto& m : Arr(s, "machines")) {
    int64_t rv = I(m, "release_version");
    rows.push_back({Dash(S(m, "process_group")), S(m, "id"), rv > 0 ? "v" + std::to_string(rv) : "-",
                    Dash(S(m, "region")), HostOf(m), S(m, "state"), Dash(S(m, "checks")), std::to_string(I(m, "load")),
                    Dash(S(m, "private_ip")), Dash(S(m, "updated_at"))});
  }
  ctx.out << FormatTable({"PROCESS", "ID", "VERSION", "REGION", "HOST", "STATE", "CHECKS", "LOAD", "IP ADDRESS",
                          "LAST UPDATED"},
                         rows);
  PrintFailed(ctx, s);
  return 0;
}

}  // namespace

void RegisterStatus(CLI::App& root, Context& ctx) {
  auto st = std::make_shared<State>();
  auto* stc = AddCommand(ctx, &root, "status", "Show the app: addresses, machines with state, region, load",
                         [&ctx, st] { return AppStatus(ctx, *st); });
  AddAppFlags(stc, &st->app, &st->config);
  stc->add_flag("-j,--json", st->json_out, "JSON output (flyctl's app fields and Machines, plus privcast's)");
}

}  // namespace privcast::cli
