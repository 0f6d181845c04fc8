// `privcast ips`: an app's flycast addresses (allocate-v6 --private, list, release) and its
// machines' 6PN addresses (private).
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
  std::string app, config, org, network, service;
  std::vector<std::string> ips;
  bool json_out = false, is_private = false, yes = false;
};

std::string IpsPath(const std::string& app) { return "/v1/apps/" + UrlEnc(app) + "/ip_assignments"; }

int IpsAllocate(Context& ctx, const State& st) {
  std::string app = AppName(st.app, st.config);
  json body = {{"type", "private_v6"}};
  if (!st.org.empty()) body["org"] = st.org;
  if (!st.network.empty()) body["network"] = st.network;
  if (!st.service.empty()) body["service"] = st.service;
  json ip = CallJson(ctx, "POST", IpsPath(app), body);
  ctx.out << IpTable({ip});
  return 0;
}

int IpsList(Context& ctx, const State& st) {
  std::string app = AppName(st.app, st.config);
  json a = CallJson(ctx, "GET", IpsPath(app));
  if (st.json_out) return PrintJson(ctx, MapArray(a, FlyIp)), 0;
  std::vector<json> ips;
  for (auto& ip : AsArray(a)) ips.push_back(ip);
  ctx.out << IpTable(ips);
  return 0;
}

int IpsRelease(Context& ctx, const State& st) {
  std::string app = AppName(st.app, st.config);
  for (auto& ip : st.ips) {
    CallJson(ctx, "DELETE", IpsPath(app) + "/" + UrlEnc(ip));
    ctx.out << "Released " << ip << " from " << app << "\n";
  }
  return 0;
}

int IpsPrivate(Context& ctx, const State& st) {
  std::string app = AppName(st.app, st.config);
  json a = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app) + "/machines");
  if (st.json_out) {
    json out = json::array();
    for (auto& m : AsArray(a))
      out.push_back({{"id", S(m, "id")},
                     {"region", S(m, "region")},
                     {"process_group", S(m, "process_group")},
                     {"state", S(m, "state")},
                     {"private_ip", S(m, "private_ip")}});
    return PrintJson(ctx, out), 0;
  }
  std::vector<Row> rows;
  for (auto& m : AsArray(a))
    rows.push_back({S(m, "id"), Dash(S(m, "region")), Dash(S(m, "process_group")), Dash(S(m, "private_ip"))});
  ctx.out << FormatTable({"ID", "REGION", "PROCESS GROUP", "IP"}, rows);
  return 0;
}

}  // namespace

void RegisterIps(CLI::App& root, Context& ctx) {
  auto* ips = root.add_subcommand("ips", "Manage flycast addresses")->require_subcommand(1);
  auto al = std::make_shared<State>();
  auto* ia = AddCommand(ctx, ips, "allocate-v6", "Allocate a flycast (private IPv6) address",
                        [&ctx, al] { return IpsAllocate(ctx, *al); });
  ia->add_option("--service", al->service,
                 "For one service only (a process group with a service, or a named [[services]]): "
                 "<service>.svc.<app>.flycast");
  AddAppFlags(ia, &al->app, &al->config);
  ia->add_flag("--private", al->is_private, "A private (flycast) address: the only kind privcast has")->required();
  auto* org_opt = ia->add_option("--org", al->org, "On this org's default network");
  ia->add_option("--network", al->network, "On this named network of the app's org")->excludes(org_opt);

  auto ls = std::make_shared<State>();
  auto* il = AddCommand(ctx, ips, "list", "List the app's addresses", [&ctx, ls] { return IpsList(ctx, *ls); });
  AddAppFlags(il, &ls->app, &ls->config);
  il->add_flag("-j,--json", ls->json_out,
               "JSON output (flyctl's fields: Address, Type, Network.Name, ...; plus privcast's)");

  auto rel = std::make_shared<State>();
  auto* ir = AddCommand(ctx, ips, "release", "Release addresses", [&ctx, rel] { return IpsRelease(ctx, *rel); });
  AddAppFlags(ir, &rel->app, &rel->config);
  ir->add_option("ip", rel->ips, "Addresses to release")->required();
  ir->add_flag("-y,--yes", rel->yes, "Accepted for flyctl compatibility (privcast does not prompt)");

  auto pr = std::make_shared<State>();
  auto* ip = AddCommand(ctx, ips, "private", "List each machine's 6PN address",
                        [&ctx, pr] { return IpsPrivate(ctx, *pr); });
  AddAppFlags(ip, &pr->app, &pr->config);
  ip->add_flag("--json", pr->json_out, "JSON output");
}

}  // namespace privcast::cli
