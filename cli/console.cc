// `privcast ssh console` (a shell inside a running machine: its namespaces and sandbox, no
// server in the image) and `privcast console` (a shell in a new throwaway machine of the
// app, as `fly console` runs an ephemeral machine). docs/cli.md has the flyctl comparison.
#include <unistd.h>

#include <iostream>
#include <memory>

#include "cli/attach.h"
#include "cli/extend.h"
#include "cli/groups.h"
#include "cli/restart.h"
#include "common/strings.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

struct State {
  std::string app, config, machine, command;
  bool select = false;
};

// The machine to enter: --machine, else the first started one (flyctl connects to one of the
// app's machines); -s on a terminal lists them and reads a choice.
json PickMachine(Context& ctx, const std::string& app, const State& st) {
  json ms = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app) + "/machines");
  std::vector<json> started;
  for (auto& m : ms)
    if (m.value("state", "") == "started" && !m.value("auto_destroy", false)) started.push_back(m);
  if (!st.machine.empty()) {
    for (auto& m : ms)
      if (m.value("id", "") == st.machine) return m;
    throw CommandFailure("unknown machine '" + st.machine + "' in app '" + app + "' (privcast machine list -a " + app +
                         ")");
  }
  if (started.empty())
    throw CommandFailure("app " + app +
                         " has no started machine to connect to: start one (privcast machine start ID -a " + app +
                         ") or deploy");
  if (st.select && started.size() > 1) {
    if (!::isatty(0) || !::isatty(2)) {
      ctx.err << "No terminal to choose on: connecting to the first started machine, " << started[0].value("id", "")
              << "\n";
      return started[0];
    }
    ctx.err << "Select a machine:\n";
    for (size_t i = 0; i < started.size(); ++i)
      ctx.err << "  " << i + 1 << ") " << started[i].value("id", "") << " " << started[i].value("region", "") << " "
              << started[i].value("process_group", "") << " " << started[i].value("private_ip", "") << "\n";
    ctx.err << "Number [1]: ";
    ctx.err.flush();
    std::string line;
    std::getline(std::cin, line);
    size_t k = line.empty() ? 1 : ParseDecimal<size_t>(Trim(line, " \t\r")).value_or(0);
    if (k < 1 || k > started.size())
      throw CommandFailure("no machine number " + line + ": pick 1-" + std::to_string(started.size()));
    return started[k - 1];
  }
  return started[0];
}

json ShellCmd(const std::string& command) {
  if (command.empty()) return json::array({"/bin/sh"});
  return json::array({"/bin/sh", "-c", command});
}

}  // namespace

void RegisterConsole(CLI::App& root, Context& ctx) {
  auto* ssh = root.add_subcommand("ssh", "Commands inside running machines");
  ssh->require_subcommand(1);
  auto st = std::make_shared<State>();
  auto* c = AddCommand(ctx, ssh, "console", "A shell (or -C CMD) inside a running machine, in its sandbox", [&ctx, st] {
    std::string app = AppName(st->app, st->config);
    json m = PickMachine(ctx, app, *st);
    std::string id = m.value("id", "");
    if (::isatty(2)) ctx.err << "Connecting to " << id << " (" << m.value("private_ip", "") << ")...\n";
    ctx.err.flush();
    json body = {{"cmd", ShellCmd(st->command)}};
    return RunAttachedStream(ctx.client(), "/v1/apps/" + UrlEnc(app) + "/machines/" + UrlEnc(id) + "/console",
                             std::move(body), app);
  });
  AddAppFlags(c, &st->app, &st->config);
  c->add_flag("-s,--select", st->select, "Choose the machine (without a terminal: the first started one)");
  c->add_option("--machine", st->machine, "Machine ID (default: the first started machine)");
  c->add_option("-C,--command", st->command, "Run this command (through /bin/sh -c) instead of a shell");

  auto cs = std::make_shared<State>();
  auto* cc = AddCommand(ctx, &root, "console", "A shell (or -C CMD) in a new throwaway machine of the app", [&ctx, cs] {
    std::string app = AppName(cs->app, cs->config);
    json body = {{"shell", true}, {"cmd", ShellCmd(cs->command)}, {"rm", true}};
    // Like fly console: the app's image when its release has one.
    auto r = ctx.client().Call("GET", "/v1/apps/" + UrlEnc(app) + "/config");
    if (r.ok() && r->status == 200) {
      json cfg = json::parse(r->body, nullptr, false);
      if (cfg.is_object() && cfg.contains("config") && cfg["config"].contains("build") &&
          cfg["config"]["build"].is_object() && cfg["config"]["build"].contains("image") &&
          cfg["config"]["build"]["image"].is_string())
        body["image"] = cfg["config"]["build"]["image"];
    }
    return RunAttachedStream(ctx.client(), "/v1/apps/" + UrlEnc(app) + "/machines/run", std::move(body), app);
  });
  AddAppFlags(cc, &cs->app, &cs->config);
  cc->add_option("-C,--command", cs->command, "Run this command (through /bin/sh -c) instead of a shell");
}

}  // namespace privcast::cli
