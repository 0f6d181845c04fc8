// `privcast machine`: list, status, and the lifecycle verbs (start, stop, suspend, destroy),
// each waiting — bounded by --wait-timeout — for the machine to get there. `machine run` is
// in cli/machine_run.cc.
#include "cli/machine.h"

#include <map>
#include <memory>
#include <vector>

#include "cli/groups.h"
#include "cli/json_fields.h"
#include "cli/json_shapes.h"
#include "cli/rows.h"
#include "cli/table.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

struct State {
  std::string app, config, id;
  std::vector<std::string> ids;
  std::string wait = "60s";
  bool json_out = false, quiet = false, force = false, yes = false;
};

int MachineList(Context& ctx, const State& st) {
  std::string app = AppName(st.app, st.config);
  json a = CallJson(ctx, "GET", MachinePath(app));
  if (st.json_out) return PrintJson(ctx, MapArray(a, FlyMachine)), 0;
  if (st.quiet) {  // flyctl's -q: the ids, one a line
    for (auto& m : AsArray(a)) ctx.out << S(m, "id") << "\n";
    return 0;
  }
  std::vector<Row> rows;
  for (auto& m : AsArray(a)) rows.push_back(MachineRow(m));
  ctx.out << AsArray(a).size() << " machines have been retrieved from app " << app << ".\n";
  ctx.out << FormatTable(kMachineHeader, rows);
  return 0;
}

int MachineStatus(Context& ctx, const State& st) {
  std::string app = AppName(st.app, st.config);
  json m = CallJson(ctx, "GET", MachinePath(app, st.id));
  if (st.json_out) return PrintJson(ctx, FlyMachine(m)), 0;
  std::string cmd;
  for (auto& c : Arr(m, "cmd")) cmd += (cmd.empty() ? "" : " ") + (c.is_string() ? c.get<std::string>() : c.dump());
  int64_t v = I(m, "release_version");
  ctx.out << "Machine " << S(m, "id") << "\n"
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

int MachineLifecycle(Context& ctx, const State& st, const std::string& verb, int wait_timeout) {
  std::string app = AppName(st.app, st.config);
  static const std::map<std::string, std::pair<std::string, std::string>> kTarget = {
      {"start", {"started", "Starting"}}, {"stop", {"stopped", "Stopping"}}, {"suspend", {"suspended", "Suspending"}}};
  auto [target, gerund] = kTarget.at(verb);
  for (auto& id : st.ids) {
    json m = CallJson(ctx, "POST", MachinePath(app, id) + "/" + verb, json::object());
    ctx.out << gerund << " machine " << id << "\n";
    std::string got = S(m, "state") == target ? target : WaitState(ctx, app, id, target, wait_timeout);
    if (got == "failed") ThrowFailedStart(ctx, app, id);
    if (got == target) ctx.out << "Machine " << id << " is " << target << "\n";
    else
      ctx.out << "Machine " << id << " is " << (wait_timeout > 0 ? "still " : "") << S(m, "state") << " (requested "
              << verb << ")\n";
  }
  return 0;
}

int MachineDestroy(Context& ctx, const State& st, int wait_timeout) {
  std::string app = AppName(st.app, st.config);
  for (auto& id : st.ids) {
    CallJson(ctx, "DELETE", MachinePath(app, id) + (st.force ? "?force=true" : ""));
    std::string got = WaitState(ctx, app, id, "destroyed", wait_timeout);
    ctx.out << "Machine " << id << (got == "destroyed" ? " destroyed" : " is being destroyed") << "\n";
  }
  return 0;
}

}  // namespace

std::string MachinePath(const std::string& app, const std::string& id) {
  return "/v1/apps/" + UrlEnc(app) + "/machines" + (id.empty() ? "" : "/" + UrlEnc(id));
}

std::string WaitState(Context& ctx, const std::string& app, const std::string& id, const std::string& state,
                      int timeout_s) {
  if (timeout_s <= 0) return "";
  auto [status, j] =
      CallRaw(ctx, "GET", MachinePath(app, id) + "/wait?state=" + state + "&timeout=" + std::to_string(timeout_s), "");
  if (status == 200) return S(j, "state");
  if (status == 408) return "";
  throw CommandFailure(ErrorOf(status, j));
}

void ThrowFailedStart(Context& ctx, const std::string& app, const std::string& id) {
  json m = CallJson(ctx, "GET", MachinePath(app, id));
  throw CommandFailure("machine " + id + " " + Dash(S(m, "last_event")) + " (privcast status -a " + app + ")");
}

void RegisterMachine(CLI::App& root, Context& ctx) {
  auto* mach = root.add_subcommand("machine", "Manage machines")->require_subcommand(1);
  mach->alias("machines");
  AddMachineRun(mach, ctx);

  auto ls = std::make_shared<State>();
  auto* ml = AddCommand(ctx, mach, "list", "List the app's machines", [&ctx, ls] { return MachineList(ctx, *ls); });
  ml->alias("ls");
  AddAppFlags(ml, &ls->app, &ls->config);
  ml->add_flag("-j,--json", ls->json_out, "JSON output (flyctl's machine fields, plus privcast's)");
  ml->add_flag("-q,--quiet", ls->quiet, "Only list machine ids");

  auto ms = std::make_shared<State>();
  auto* msc = AddCommand(ctx, mach, "status", "Show a machine", [&ctx, ms] { return MachineStatus(ctx, *ms); });
  AddAppFlags(msc, &ms->app, &ms->config);
  msc->add_option("id", ms->id, "Machine ID")->required();
  msc->add_flag("-j,--json", ms->json_out, "JSON output (flyctl's machine fields, plus privcast's)");

  static const char* kVerbs[] = {"start", "stop", "suspend", "destroy"};
  static const char* kDescs[] = {"Start machines", "Stop machines (kill_signal, then kill_timeout)",
                                 "Suspend machines (freeze)", "Destroy machines"};
  for (int i = 0; i < 4; ++i) {
    std::string verb = kVerbs[i];
    auto st = std::make_shared<State>();
    auto* c = AddCommand(ctx, mach, verb, kDescs[i], [&ctx, st, verb] {
      int wait = static_cast<int>(*ParseDurationSeconds(st->wait));
      if (verb == "destroy") return MachineDestroy(ctx, *st, wait);
      return MachineLifecycle(ctx, *st, verb, wait);
    });
    AddAppFlags(c, &st->app, &st->config);
    c->add_option("id", st->ids, "Machine IDs")->required();
    c->add_option("-w,--wait-timeout", st->wait,
                  "How long to wait for the machine to get there: 10s, 1m, or seconds (0: don't wait; default 60s)")
        ->check(DurationCheck(3600));
    if (verb == "destroy") {
      c->add_flag("-f,--force", st->force, "Destroy even if it is running");
      c->add_flag("-y,--yes", st->yes, "Accepted for flyctl compatibility (privcast does not prompt)");
    }
  }
}

}  // namespace privcast::cli
