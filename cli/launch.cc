// `privcast launch`: write fly.toml here (or reuse the one found, --copy-config), create the
// app, then — unless --no-deploy — deploy it (cli/deploy.h), as flyctl launch does.
#include <cctype>
#include <filesystem>
#include <memory>

#include "cli/deploy.h"
#include "cli/extend.h"
#include "cli/flytoml.h"
#include "cli/groups.h"
#include "cli/json_fields.h"
#include "common/file.h"
#include "common/ids.h"
#include "config/launch.h"
#include "config/load.h"

namespace privcast::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct LaunchArgs {
  std::string name, org, region, command, image;
  bool flycast = false, no_deploy = false, ha = true, yes = false, copy_config = false, no_public_ips = false;
  int internal_port = 8080;
  const CLI::Option* internal_port_opt = nullptr;  // given explicitly?
};

// flyctl writes primary_region on every launch (the nearest region). Here: the region the
// hosts report when there is exactly one; with several, the user says which (--region).
std::string HostRegion(Context& ctx) {
  json regions = CallJson(ctx, "GET", "/v1/regions");
  const json& list = AsArray(regions);
  return list.size() == 1 ? S(list[0], "code") : std::string();
}

// Both launch paths end alike: the flycast address now (so a later plain `privcast deploy`
// finds it), then a deploy of fly.toml unless --no-deploy. `image`: deploy --image's value.
int FinishLaunch(Context& ctx, const LaunchArgs& a, const std::string& name, const std::string& image) {
  if (a.flycast) {
    json ip = CallJson(ctx, "POST", "/v1/apps/" + UrlEnc(name) + "/ip_assignments", {{"type", "private_v6"}});
    ctx.out << "Allocated flycast address " << S(ip, "ip") << " (" << name << ".flycast)\n";
  }
  if (a.no_deploy) {
    ctx.out << "Your app is ready! Deploy with `privcast deploy`\n";
    return 0;
  }
  DeployArgs d;
  d.app = name;
  d.config = "fly.toml";
  d.flycast = a.flycast;
  d.ha = a.ha;
  d.image = image;
  d.region = a.region;  // the first machines go to the region given (flyctl: the primary)
  return Deploy(ctx, d);
}

bool WriteFlyToml(const std::string& toml) { return WriteNewFile("fly.toml", toml).ok(); }

// launch --copy-config with a fly.toml here: reuse it as flyctl does (its app, or --name
// written into it), create the app and deploy the file.
int LaunchFromExisting(Context& ctx, const LaunchArgs& a) {
  auto text = ReadFlyToml("fly.toml");
  if (!text.ok()) throw CommandFailure(text.status().message());
  std::string toml = *text;
  std::string name = a.name.empty() ? AppFromFlyTomlText(toml).value_or("") : a.name;
  if (name.empty()) throw CommandFailure("fly.toml does not set app = \"...\": pass --name NAME");
  if (!ids::IsDnsLabel(name))
    throw CommandFailure(
        "'" + name + "' is not a valid app name (lowercase letters, digits and '-', at most 63): pass another --name");
  if (AppFromFlyTomlText(toml).value_or("") != name) {
    toml = SetTopLevelKey(toml, "app", name);
    if (!WriteFlyToml(toml))
      throw CommandFailure("cannot write fly.toml in " + fs::current_path().string() + ": check permissions");
  }
  if (!a.region.empty() && !ids::IsRegionCode(a.region))
    throw CommandFailure("'" + a.region + "' is not a region code (3 lowercase letters, e.g. ams): fix --region");
  if (!a.region.empty()) {
    toml = SetTopLevelKey(toml, "primary_region", a.region);
    if (!WriteFlyToml(toml))
      throw CommandFailure("cannot write fly.toml in " + fs::current_path().string() + ": check permissions");
  }
  ctx.out << "An existing fly.toml file was found for app " << name << "; copying its configuration\n";
  // The file first, offline: a broken one creates nothing.
  auto loaded = config::ParseFlyToml(toml, "fly.toml", config::LoadOptions{name});
  if (!loaded.ok()) return PrintConfigErrors(ctx, loaded.status());
  json body = {{"app_name", name}};
  if (!a.org.empty()) body["org"] = a.org;
  json app = CallJson(ctx, "POST", "/v1/apps", body);
  ctx.out << "Created app " << name << " in org " << S(app, "org") << "\n";
  return FinishLaunch(ctx, a, name, a.image);
}

// Like flyctl: the folder's name, made into a DNS label.
std::string NameFromFolder() {
  std::string base = fs::current_path().filename().string();
  for (char& c : base) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '-';
  }
  while (!base.empty() && base.front() == '-') base.erase(base.begin());
  while (!base.empty() && base.back() == '-') base.pop_back();
  std::string name = base.substr(0, 63);
  if (!ids::IsDnsLabel(name)) throw CommandFailure("cannot derive an app name from this folder: pass --name NAME");
  return name;
}

int Launch(Context& ctx, const LaunchArgs& a) {
  if (a.no_public_ips) ctx.out << "Note: --no-public-ips has nothing to do here: every privcast address is private\n";
  if (fs::exists("fly.toml") && a.copy_config) return LaunchFromExisting(ctx, a);
  std::string name = a.name.empty() ? NameFromFolder() : a.name;
  if (!ids::IsDnsLabel(name))
    throw CommandFailure(
        "'" + name + "' is not a valid app name (lowercase letters, digits and '-', at most 63): pass another --name");
  if (!a.region.empty() && !ids::IsRegionCode(a.region))
    throw CommandFailure("'" + a.region + "' is not a region code (3 lowercase letters, e.g. ams): fix --region");
  if (fs::exists("fly.toml"))
    throw CommandFailure(
        "fly.toml already exists in " + fs::current_path().string() +
        ": reuse it with privcast launch --copy-config, deploy it with privcast deploy, or remove it to "
        "launch a new app");
  int internal_port = a.internal_port;
  if (!a.image.empty()) {
    // The image first (a bad reference changes nothing); its ExposedPorts suggest the
    // internal port when --internal-port is not given (the lowest TCP port).
    json img = CallJson(ctx, "POST", "/v1/images", {{"ref", AbsoluteImageRef(a.image)}});
    auto ports = Arr(img, "exposed_tcp_ports");
    if ((!a.internal_port_opt || a.internal_port_opt->count() == 0) && !ports.empty() && ports[0].is_number()) {
      internal_port = ports[0].get<int>();
      ctx.out << "Using internal port " << internal_port << " (the image's ExposedPorts)\n";
    }
  }
  json body = {{"app_name", name}};
  if (!a.org.empty()) body["org"] = a.org;
  json app = CallJson(ctx, "POST", "/v1/apps", body);
  ctx.out << "Created app " << name << " in org " << S(app, "org") << "\n";

  config::LaunchOptions lo;
  lo.app = name;
  lo.primary_region = a.region.empty() ? HostRegion(ctx) : a.region;
  lo.internal_port = static_cast<uint16_t>(internal_port);
  lo.flycast = a.flycast;
  lo.command = a.command;
  lo.image = AbsoluteImageRef(a.image);
  if (!WriteFlyToml(config::RenderLaunchToml(lo)))
    throw CommandFailure("cannot write fly.toml in " + fs::current_path().string() + ": check permissions");
  ctx.out << "Wrote config file fly.toml\n";
  return FinishLaunch(ctx, a, name, "");
}

}  // namespace

void RegisterLaunch(CLI::App& root, Context& ctx) {
  auto la = std::make_shared<LaunchArgs>();
  auto* lc = AddCommand(ctx, &root, "launch", "Write fly.toml here, create the app and deploy it",
                        [&ctx, la] { return Launch(ctx, *la); });
  lc->add_option("--name", la->name, "App name (default: this folder's name)");
  lc->add_option("--org", la->org, "Org (default: personal)");
  lc->add_option("--region", la->region, "Primary region; the first machines go there");
  lc->add_flag("--flycast", la->flycast, "Private app: force_https = false and a flycast address");
  la->internal_port_opt =
      lc->add_option("--internal-port", la->internal_port,
                     "Port the app listens on (default: the image's lowest ExposedPorts TCP port, else 8080)")
          ->check(CLI::Range(1, 65535));
  lc->add_option("--command", la->command, "The app's command ([processes] app)");
  lc->add_option("--image", la->image, "The OCI image machines run ([build] image)");
  lc->add_flag("--no-deploy", la->no_deploy, "Only write fly.toml and create the app");
  lc->add_flag("--ha", la->ha, "2 machines per process group with services (--ha=false: 1)");
  lc->add_flag("-y,--yes", la->yes, "Accept the defaults (privcast never prompts)");
  lc->add_flag("--copy-config", la->copy_config, "Reuse the fly.toml found here (its app, or --name)");
  lc->add_flag("--no-public-ips", la->no_public_ips,
               "Accepted for flyctl compatibility (privcast has only private addresses)");
}

}  // namespace privcast::cli
