// deploy, its rolling wait, and config validate (cli/deploy.h).
#include "cli/deploy.h"

#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "cli/flytoml.h"
#include "cli/groups.h"
#include "cli/json_fields.h"
#include "cli/json_shapes.h"
#include "common/ids.h"
#include "common/strings.h"
#include "config/launch.h"
#include "config/load.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

// deploy --strategy rolling: wait, machine by machine, until each deployed machine is
// started with every health check passing (a machine without checks: once started).
// Exit 1 naming the machines that did not get there within the wait timeout.
int WaitHealthy(Context& ctx, const std::string& app, const json& deployed, int64_t timeout_s,
                const std::string& shown) {
  std::vector<std::string> pending;
  for (auto& m : deployed) pending.push_back(S(m, "id"));
  if (pending.empty()) return 0;
  ctx.out << "Waiting for " << pending.size() << (pending.size() == 1 ? " machine" : " machines")
          << " to pass health checks (--wait-timeout " << shown << ")\n";
  ctx.out.flush();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  std::map<std::string, std::string> last;  // id → "state: checks" when last seen
  while (true) {
    json s = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app) + "/status");
    for (auto it = pending.begin(); it != pending.end();) {
      const json* found = nullptr;
      for (auto& m : Arr(s, "machines"))
        if (S(m, "id") == *it) found = &m;
      if (!found) {  // replaced or destroyed meanwhile: nothing to wait for
        it = pending.erase(it);
        continue;
      }
      std::string state = S(*found, "state"), checks = S(*found, "checks");
      bool passing = state == "started";
      for (auto& c : Arr(*found, "check_results")) passing = passing && S(c, "status") == "passing";
      if (state == "failed") {
        ctx.out.flush();
        throw CommandFailure("machine " + *it + " " + Dash(S(*found, "last_event")) + " (privcast status -a " + app +
                             ")");
      }
      last[*it] = state + ", checks: " + Dash(checks);
      if (passing) {
        ctx.out << "  Machine " << *it << " is healthy (" << Dash(checks) << ")\n";
        ctx.out.flush();
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
    if (pending.empty()) return 0;
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string list;
      for (auto& id : pending) list += (list.empty() ? "" : "; ") + id + " (" + last[id] + ")";
      ctx.out.flush();
      throw CommandFailure("machines of " + app + " did not become healthy within " + shown + ": " + list +
                           " (privcast status -a " + app + ", privcast logs -n -a " + app + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

// `config validate`: what deploy would say about the file, without a daemon. Warnings go
// to stderr; exit 1 with every error.
int ConfigValidate(Context& ctx, const std::string& app, const std::string& config) {
  std::string path = config.empty() ? "fly.toml" : config;
  auto loaded = config::LoadFlyToml(path, config::LoadOptions{app});
  if (!loaded.ok()) return PrintConfigErrors(ctx, loaded.status());
  std::vector<config::Diagnostic> warnings = loaded->warnings;
  for (auto& w : config::DeployWarnings(loaded->config, /*has_public_ips=*/false)) warnings.push_back(w);
  for (auto& w : warnings) ctx.err << "Warning: " << w.ToString() << "\n";
  ctx.out << "Configuration is valid (" << path << ")\n";
  return 0;
}

struct AppFlags {
  std::string app, config;
};

}  // namespace

int PrintConfigErrors(Context& ctx, const Status& st) {
  ctx.out.flush();
  std::istringstream lines(st.message());
  for (std::string line; std::getline(lines, line);) ctx.err << "Error: " << line << "\n";
  return 1;
}

nlohmann::json RegionList(const std::string& csv) {
  nlohmann::json out = nlohmann::json::array();
  std::string::size_type start = 0;
  while (start <= csv.size()) {
    auto comma = csv.find(',', start);
    std::string r(
        Trim(std::string_view(csv).substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (!ids::IsRegionCode(r))
      throw CommandFailure("--region " + csv + ": '" + r + "' is not a region code (3 lowercase letters, e.g. ams)");
    out.push_back(r);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int Deploy(Context& ctx, const DeployArgs& d) {
  const std::string& app_flag = d.app;
  bool flycast = d.flycast, ha = d.ha;
  const std::string& image = d.image;
  if (d.strategy != "rolling" && d.strategy != "immediate")
    throw CommandFailure("--strategy " + d.strategy +
                         " is not supported by privcast: use rolling (the default: waits for "
                         "each machine's health checks) or immediate (does not wait)");
  std::string path = d.config.empty() ? "fly.toml" : d.config;
  auto text = ReadFlyToml(path);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound)
      throw CommandFailure(path + " not found: run privcast launch first, or pass -c FILE");
    throw CommandFailure(text.status().message());
  }
  // The file first, here and offline: a broken file is reported as what it is (every
  // error with its position), never as whatever the app it seems to name turns out to be.
  // The daemon validates it again.
  auto loaded = config::ParseFlyToml(*text, path, config::LoadOptions{app_flag});
  if (!loaded.ok()) return PrintConfigErrors(ctx, loaded.status());
  std::string app = loaded->config.app;
  if (app.empty()) throw CommandFailure(path + " does not set app = \"...\": pass -a APP or add it to the file");
  // An app that does not exist: say how to make one (the daemon would only say "unknown app").
  if (auto [code, j] = CallRaw(ctx, "GET", "/v1/apps/" + UrlEnc(app), ""); code == 404)
    throw CommandFailure("app " + app + " not found: create it with privcast apps create " + app +
                         ", or run privcast launch");
  ctx.out << "==> Deploying " << app << " from " << path << "\n";
  json body = {{"source", *text}, {"path", path}, {"flycast", flycast}, {"ha", ha}};
  if (!d.region.empty()) body["regions"] = RegionList(d.region);
  if (!image.empty()) body["image"] = AbsoluteImageRef(image);
  json r = CallJson(ctx, "POST", "/v1/apps/" + UrlEnc(app) + "/releases", body);
  for (auto& w : Arr(r, "warnings"))
    if (w.is_string()) ctx.err << "Warning: " << w.get<std::string>() << "\n";
  if (r.contains("flycast") && r["flycast"].is_object())
    ctx.out << "Flycast address: " << S(r["flycast"], "ip") << " (" << app << ".flycast)\n";
  for (auto& ip : Arr(r, "flycast_services"))
    ctx.out << "Flycast address: " << S(ip, "ip") << " (" << S(ip, "service") << ".svc." << app << ".flycast)\n";
  const json& ms = Arr(r, "machines");
  ctx.out << "Release v" << I(r.value("release", json::object()), "version") << " of " << app
          << " deployed: " << ms.size() << (ms.size() == 1 ? " machine" : " machines") << "\n";
  for (auto& m : ms)
    ctx.out << "  Machine " << S(m, "id") << " [" << S(m, "process_group") << "] " << S(m, "state") << " "
            << S(m, "private_ip") << "\n";
  if (d.strategy == "rolling") return WaitHealthy(ctx, app, ms, *ParseDurationSeconds(d.wait_timeout), d.wait_timeout);
  return 0;
}

void RegisterDeploy(CLI::App& root, Context& ctx) {
  auto dep = std::make_shared<DeployArgs>();
  auto* dc = AddCommand(ctx, &root, "deploy", "Validate fly.toml and create or update the app's machines",
                        [&ctx, dep] { return Deploy(ctx, *dep); });
  AddAppFlags(dc, &dep->app, &dep->config);
  dc->add_option("-i,--image", dep->image, "The OCI image to deploy (replaces [build] image)");
  dc->add_flag("--flycast", dep->flycast, "Make sure the app has a flycast address");
  dc->add_flag("--ha", dep->ha, "2 machines per process group with services (--ha=false: 1)");
  dc->add_option("--strategy", dep->strategy,
                 "rolling (default: wait for each machine's health checks) or immediate (don't wait)");
  dc->add_option("--wait-timeout", dep->wait_timeout, "How long rolling waits for health checks (default 5m)")
      ->check(DurationCheck(24 * 3600));
  dc->add_flag("-y,--yes", dep->yes, "Accepted for flyctl compatibility (privcast does not prompt)");
  dc->add_option("-r,--region,--regions", dep->region,
                 "Comma-separated regions: the machines per process group go to hosts of each (cluster)");

  auto* cfg = root.add_subcommand("config", "Check the app's fly.toml")->require_subcommand(1);
  auto cv = std::make_shared<AppFlags>();
  auto* cvc = AddCommand(ctx, cfg, "validate", "Validate fly.toml offline (no daemon): warnings, and every error",
                         [&ctx, cv] { return ConfigValidate(ctx, cv->app, cv->config); });
  cvc->add_option("-a,--app", cv->app, "App name (overrides app in the file, as deploy -a does)");
  cvc->add_option("-c,--config", cv->config, "Path to fly.toml (default ./fly.toml)");
}

}  // namespace privcast::cli
