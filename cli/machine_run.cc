// `privcast machine run`: one machine of the app, detached (wait until started) or, with
// --shell, attached to this terminal with its exit code propagated (cli/attach.h).
#include <memory>
#include <vector>

#include "cli/attach.h"
#include "cli/groups.h"
#include "cli/json_fields.h"
#include "cli/machine.h"
#include "cli/volumes.h"
#include "common/ids.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

struct RunArgs {
  std::string app, config;  // -a, -c
  std::string region, org, network, name, restart;
  bool shell = false, rm = false, services = false, detach = false;
  std::vector<std::string> cmd, env, ports;
  std::string image;
  std::string volume;  // -v NAME_OR_ID:/path
};

// machine run --shell: hand our stdio to the daemon (SCM_RIGHTS) and wait for the exit code
// (cli/attach.h, shared with ssh console).
int Shell(Context& ctx, const std::string& app, json body) {
  body["shell"] = true;
  if (!body.contains("cmd")) body["cmd"] = json::array({"/bin/sh"});
  return RunAttachedStream(ctx.client(), "/v1/apps/" + UrlEnc(app) + "/machines/run", std::move(body), app);
}

int MachineRun(Context& ctx, RunArgs r) {
  // flyctl's shape: machine run IMAGE [CMD ARGS...]; what follows "--" joins the command
  // (a command with options of its own: machine run IMAGE -- ls -l).
  r.cmd.insert(r.cmd.end(), ctx.after_dashdash.begin(), ctx.after_dashdash.end());
  std::string app = AppName(r.app, r.config);
  json env = json::object();
  for (auto& kv : r.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) throw CommandFailure("-e " + kv + ": expected NAME=VALUE");
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!r.restart.empty() && r.restart != "no")
    throw CommandFailure("--restart " + r.restart +
                         ": machines from privcast machine run are never restarted (only \"no\"); "
                         "deploy a process group for restarts on failure");
  if (!r.name.empty() && !ids::IsDnsLabel(r.name)) throw CommandFailure("--name " + r.name + ": expected a DNS label");
  if (!r.ports.empty() && !r.services) {
    // flyctl's -p defines the machine's own services; privcast's services are the app's
    // (fly.toml), so -p means: carry them (docs/cli.md).
    ctx.err
        << "Note: -p/--port: privcast machines serve the app's services from fly.toml; this machine carries them (--services)\n";
    r.services = true;
  }
  if (!r.org.empty() && !r.network.empty())
    throw CommandFailure("--org and --network are exclusive: pass one (--org uses that org's default network)");
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
  if (r.shell) return Shell(ctx, app, body);
  if (r.cmd.empty() && r.image.empty())
    throw CommandFailure("machine run needs a command: privcast machine run -- CMD ARGS... (or --shell)");
  json m = CallJson(ctx, "POST", "/v1/apps/" + UrlEnc(app) + "/machines/run", body);
  std::string id = S(m, "id");
  ctx.out << "Machine " << id << " created in app " << app << " (" << S(m, "private_ip") << ")\n";
  if (!r.name.empty()) ctx.out << "Note: --name: privcast names machines by their id (" << id << ")\n";
  std::string got = S(m, "state") == "started" ? "started" : WaitState(ctx, app, id, "started", r.detach ? 0 : 30);
  if (S(m, "state") == "failed" || got == "failed") ThrowFailedStart(ctx, app, id);
  ctx.out << "Machine " << id << " is " << (got.empty() ? S(m, "state") : got) << "\n";
  return 0;
}

}  // namespace

void AddMachineRun(CLI::App* mach, Context& ctx) {
  auto ra = std::make_shared<RunArgs>();
  auto* mr = AddCommand(ctx, mach, "run", "Run a machine (--shell: attached to this terminal)",
                        [&ctx, ra] { return MachineRun(ctx, *ra); });
  AddAppFlags(mr, &ra->app, &ra->config);
  mr->add_option("--region", ra->region, "Region");
  auto* mr_org = mr->add_option("--org", ra->org, "On this org's default network");
  mr->add_option("--network", ra->network, "On this named network of the app's org")->excludes(mr_org);
  mr->add_flag("--shell", ra->shell, "Interactive shell (or CMD) in the network; exit code propagated");
  mr->add_flag("--rm", ra->rm, "Destroy the machine when it exits");
  mr->add_flag("--services", ra->services,
               "Carry the app's services (of its process group): take their traffic (default: none)");
  mr->add_option("image", ra->image, "Image reference (none: the host-/usr base)");
  mr->add_option("command", ra->cmd,
                 "Command and arguments (replace the image's Cmd); after -- when they have options");
  mr->add_option("-e,--env", ra->env, "Environment variable NAME=VALUE (repeatable)");
  mr->add_option("-n,--name", ra->name, "Accepted for flyctl compatibility (privcast names machines by their id)");
  mr->add_flag("-d,--detach", ra->detach, "Return once created, without waiting for the machine to start");
  mr->add_option("-p,--port", ra->ports,
                 "Carry the app's services (privcast's services come from fly.toml; see --services)");
  mr->add_option("--restart", ra->restart,
                 "Restart policy: only \"no\" (machines from machine run are never restarted)");
  mr->add_option("-v,--volume", ra->volume, "Mount a volume of the app: NAME_OR_ID:/path (docs/volumes.md)");
}

}  // namespace privcast::cli
