// The core routes (orgs, networks, apps, images, deploys, addresses, status, scale, logs)
// and the route table of the whole API (ApiRoutes), with the one dispatch (Routes::Handle).
#include "api/routes.h"

#include <nlohmann/json.hpp>

#include "api/codec.h"
#include "api/release_config.h"
#include "api/route_base.h"
#include "api/route_table.h"
#include "api/service_ips.h"
#include "api/volume_routes.h"
#include "common/addr.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/strings.h"
#include "config/app_config.h"
#include "config/json.h"

namespace privcast::api {
namespace {

using nlohmann::json;
using store::MachineState;

// A registry reference by tag (the canonical form an image view reports): a deploy pins it to
// its manifest digest. Digest references are pinned already; local layouts and archives have
// no registry to ask again (their machines follow what `images pull` last read).
bool PinnableRef(const std::string& canonical) {
  if (canonical.empty() || canonical.find('@') != std::string::npos) return false;
  for (const char* p : {"oci:", "oci-archive:", "docker-archive:", "sha256:"})
    if (canonical.rfind(p, 0) == 0) return false;
  return true;
}

}  // namespace

bool RouteTakesFds(std::string_view line) {
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || line.substr(0, sp1) != "POST") return false;
  size_t sp2 = line.find(' ', sp1 + 1);
  std::string_view target = line.substr(sp1 + 1, sp2 == std::string_view::npos ? sp2 : sp2 - sp1 - 1);
  auto parts = http::SplitPath(target.substr(0, target.find('?')));
  if (!parts || parts->size() < 5 || (*parts)[0] != "v1" || (*parts)[1] != "apps" || (*parts)[3] != "machines")
    return false;
  // machine run --shell, and ssh console (POST .../machines/{id}/console, routes_more.cc).
  return (parts->size() == 5 && (*parts)[4] == "run") || (parts->size() == 6 && (*parts)[5] == "console");
}

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
      return 400;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
    case Code::kConflict:
    case Code::kFailedPrecondition:
      return 409;
    case Code::kUnavailable:
      return 503;
    case Code::kInternal:
    case Code::kIo:
      return 500;
  }
  return 500;
}

namespace {

// The core routes' handlers: one member per route, each a move of the request into the
// Registry or the Backend and the answer out. The table below says which runs when.
class Handler : public RouteBase {
 public:
  using RouteBase::RouteBase;

  void Metrics() { ex_.Respond(200, "text/plain; version=0.0.4", backend_->MetricsText()); }

  void ListOrgs() {
    auto r = reg_->ListOrgs();
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 200, List(*r));
  }
  void CreateOrg() {
    auto q = DecodeCreateOrg(req_.body);
    if (!q.ok()) return Fail(ex_, q.status());
    if (!ids::IsDnsLabel(q->slug))
      return Fail(ex_, 400,
                  "field 'slug': '" + q->slug +
                      "' is not a valid org slug (lowercase letters, digits and '-', at most 63)");
    auto r = reg_->CreateOrg(q->slug);
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 201, ToJson(*r));
  }

  void ListNetworks() {
    std::optional<std::string> org;
    if (auto* o = req_.Query("org"); o && !o->empty()) org = *o;
    auto r = reg_->ListNetworks(org);
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 200, List(*r));
  }
  void CreateNetwork() {
    auto q = DecodeCreateNetwork(req_.body);
    if (!q.ok()) return Fail(ex_, q.status());
    if (!ids::IsDnsLabel(q->name))
      return Fail(ex_, 400,
                  "field 'name': '" + q->name +
                      "' is not a valid network name (lowercase letters, digits and '-', at most 63)");
    auto r = reg_->CreateNetwork(q->org, q->name);
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 201, ToJson(*r));
  }

  void ListApps() {
    auto r = reg_->ListApps();
    if (!r.ok()) return Fail(ex_, r.status());
    std::vector<store::App> apps;
    auto* org = req_.Query("org");
    for (auto& a : *r)
      if (!org || org->empty() || a.org == *org) apps.push_back(a);
    Reply(ex_, 200, List(apps));
  }
  void CreateApp() {
    auto q = DecodeCreateApp(req_.body);
    if (!q.ok()) return Fail(ex_, q.status());
    if (!ids::IsDnsLabel(q->name))
      return Fail(ex_, 400,
                  "field 'app_name': '" + q->name +
                      "' is not a valid app name (lowercase letters, digits and '-', at most 63)");
    auto r = reg_->CreateApp(q->name, q->org, q->network);
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 201, ToJson(*r));
  }

  void GetApp(const std::string& name) {
    auto a = App(name);
    if (!a) return;
    json j = ToJson(*a);
    auto ms = reg_->ListMachines(name);
    if (ms.ok()) j["machine_count"] = ms->size();
    Reply(ex_, 200, j);
  }

  // The daemon tears the app down (its machines first, waiting for them): api::Backend.
  void DestroyApp(const std::string& name) {
    auto a = App(name);
    if (!a) return;
    if (Status st = backend_->DestroyApp(*a, ex_.watch()); !st.ok()) return Fail(ex_, st);
    Reply(ex_, 200, {{"destroyed", name}});
  }

  void Deploy(const std::string& name) {
    auto a = App(name);
    if (!a) return;
    auto q = DecodeRelease(req_.body);
    if (!q.ok()) return Fail(ex_, q.status());
    auto v = ValidateFlyToml(q->source, q->path, name);
    if (!v.ok()) {
      json j = {{"error", v.status().message()}};
      return ex_.Respond(400, kJson, Dump(j));
    }
    // The image (deploy --image, else [build] image) must be in the store before the release
    // is: fetched now (the request blocks meanwhile); a bad reference changes nothing.
    auto cfg = config::FromJson(v->config_json);
    if (!cfg.ok()) return Fail(ex_, cfg.status());
    if (!q->image.empty()) {
      cfg->image = q->image;
      v->config_json = config::ToJson(*cfg);
    }
    if (!cfg->image.empty()) {
      // As Fly's deploy: the tag is resolved in its registry now (a moved tag is pulled), and
      // the release is pinned to that manifest (REF@sha256:…), so its machines keep running
      // this image whatever the tag does later (docs/images.md#apps-from-images).
      auto img = backend_->ResolveImage(cfg->image);
      if (!img.ok()) return Fail(ex_, img.status());
      if (PinnableRef(img->ref) && !img->manifest_digest.empty()) {
        cfg->image = img->ref + "@" + img->manifest_digest;
        v->config_json = config::ToJson(*cfg);
      }
    }
    // Commands of an image app live in the image; the others must exist in the host's view.
    if (cfg->image.empty()) {
      if (Status c = backend_->CheckConfig(*a, v->config_json); !c.ok()) return Fail(ex_, c);
    }
    json out;
    json warnings = json::array();
    for (auto& w : v->warnings) warnings.push_back(w);
    // The flycast address first (idempotent): a deploy that fails later still leaves the app
    // reachable as soon as it has machines.
    if (q->flycast) {
      auto ip = EnsureFlycast(*a);
      if (!ip.ok()) return Fail(ex_, ip.status());
      out["flycast"] = ToJson(*ip);
      auto per_group = EnsureGroupFlycast(reg_, name, *cfg);  // <group>.svc.<app>.flycast
      if (!per_group.ok()) return Fail(ex_, per_group.status());
      out["flycast_services"] = List(*per_group);
    }
    auto rel = reg_->CreateRelease(name, v->config_json, q->source,
                                   q->image.empty() ? "Deploy" : "Deploy image " + q->image, UserName(ex_.peer_uid()));
    if (!rel.ok()) return Fail(ex_, rel.status());
    auto a2 = reg_->GetApp(name);
    if (!a2.ok()) return Fail(ex_, a2.status());
    DeployOptions dopts;
    dopts.ha = q->ha;
    dopts.flycast = q->flycast;
    dopts.regions = q->regions;
    auto d = backend_->Deploy(*a2, *rel, dopts);
    rel->status = d.ok() && d->errors.empty() ? "complete" : "failed";
    (void)reg_->SetReleaseStatus(name, rel->version, rel->status);  // history only: best effort
    out["release"] = ToJson(*rel);
    if (!d.ok()) {
      // The release is stored; the reconciler will retry. Say so rather than hide it.
      return Fail(ex_, Status(d.status().code(), "release v" + std::to_string(rel->version) +
                                                     " stored but machines were not updated: " + d.status().message()));
    }
    for (auto& w : d->warnings) warnings.push_back(w);
    out["warnings"] = warnings;
    out["machines"] = List(d->machines);
    if (!d->errors.empty()) {
      // Like flyctl: machines that cannot start fail the deploy (the release stays stored; a
      // fixed config deployed again starts them).
      std::string why;
      for (auto& e : d->errors) why += (why.empty() ? "" : "; ") + e;
      out["error"] = "release v" + std::to_string(rel->version) + " of " + name +
                     " did not start: " + std::to_string(d->failed) + " of " + std::to_string(d->machines.size()) +
                     " machine" + (d->machines.size() == 1 ? "" : "s") + " failed to start: " + why;
      return ex_.Respond(422, kJson, Dump(out));
    }
    Reply(ex_, 201, out);
  }

  Result<store::IpAssignment> EnsureFlycast(const store::App& a) {
    auto ips = reg_->ListIps(a.name);
    if (!ips.ok()) return ips.status();
    for (auto& ip : *ips)
      if (ip.org == a.org && ip.network == a.network && ip.service.empty()) return ip;
    return reg_->AllocateFlycast(a.name, std::nullopt, std::nullopt);
  }

  void ListImages() {
    auto r = backend_->ListImages();
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 200, List(*r));
  }
  void PullImage() {
    auto ref = DecodeImageRef(req_.body);
    if (!ref.ok()) return Fail(ex_, ref.status());
    auto r = backend_->PullImage(*ref);
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 201, ToJson(*r));
  }
  void RemoveImage() {
    auto ref = DecodeImageRef(req_.body);
    if (!ref.ok()) return Fail(ex_, ref.status());
    if (Status st = backend_->RemoveImage(*ref); !st.ok()) return Fail(ex_, st);
    Reply(ex_, 200, json{{"removed", *ref}});
  }
  void PruneImages() {
    auto r = backend_->PruneImages();
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 200, List(*r));
  }

  void ListIps(const std::string& app) {
    if (!App(app)) return;
    auto r = reg_->ListIps(app);
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 200, List(*r));
  }

  void AllocateIp(const std::string& app) {
    if (!App(app)) return;
    auto q = DecodeIp(req_.body);
    if (!q.ok()) return Fail(ex_, q.status());
    if (!q->service.empty())
      if (Status st = CheckServiceName(reg_, app, q->service); !st.ok()) return Fail(ex_, st);
    auto r = reg_->AllocateFlycast(app, q->org, q->network, q->service);
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 201, ToJson(*r));
  }

  void ReleaseIp(const std::string& app, const std::string& ip) {
    if (!App(app)) return;
    auto parsed = Ip6::Parse(ip);
    if (!parsed) return Fail(ex_, 400, "'" + ip + "' is not an IPv6 address");
    Status st = reg_->ReleaseIp(app, parsed->ToString());
    if (!st.ok()) return Fail(ex_, st);
    Reply(ex_, 200, {{"released", parsed->ToString()}});
  }

  void AppStatus(const std::string& name) {
    auto a = App(name);
    if (!a) return;
    auto ms = reg_->ListMachines(name);
    if (!ms.ok()) return Fail(ex_, ms.status());
    auto ips = reg_->ListIps(name);
    if (!ips.ok()) return Fail(ex_, ips.status());
    auto live = backend_->Live(*a);
    json machines = json::array();
    for (auto& m : *ms) {
      json j = ToJson(m);
      auto it = live.find(m.id);
      j["load"] = it == live.end() ? 0 : it->second.load;
      j["checks"] = it == live.end() ? "" : it->second.checks;
      json cl = json::array();
      if (it != live.end())
        for (const auto& c : it->second.check_list) cl.push_back({{"name", c.name}, {"status", c.status}});
      j["check_results"] = cl;
      machines.push_back(j);
    }
    json out = ToJson(*a);
    out["hostname"] = name + ".flycast";
    out["ips"] = List(*ips);
    out["machines"] = machines;
    Reply(ex_, 200, out);
  }

  void Scale(const std::string& app) {
    auto a = App(app);
    if (!a) return;
    auto q = DecodeScale(req_.body);
    if (!q.ok()) return Fail(ex_, q.status());
    if (a->current_release == 0)
      return Fail(ex_, 409, "app '" + app + "' has no release yet: deploy it first (privcast deploy)");
    auto r = backend_->Scale(*a, q->count, q->regions);
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 200, {{"count", q->count}, {"machines", List(*r)}});
  }

  void Logs(const std::string& app) {
    auto a = App(app);
    if (!a) return;
    LogOptions lo;
    lo.follow = Truthy(req_.Query("follow"));
    if (auto* m = req_.Query("machine")) lo.machine_id = *m;
    if (auto* r = req_.Query("region")) lo.region = *r;
    if (auto* t = req_.Query("tail")) {
      auto n = ParseDecimal<int64_t>(*t);
      if (!n || *n < 0) return Fail(ex_, 400, "query 'tail': expected a number of lines, got '" + *t + "'");
      lo.tail = *n;
    }
    bool started = false;
    bool alive = true;
    auto sink = [&](std::string_view line) {
      if (!started) {
        started = true;
        alive = ex_.BeginStream(200, "text/plain; charset=utf-8");
      }
      if (alive) alive = ex_.WriteChunk(std::string(line) + "\n");
      return alive;
    };
    Status st = backend_->StreamLogs(*a, lo, ex_.watch(), sink);
    if (!started) {
      if (!st.ok()) return Fail(ex_, st);
      if (!ex_.BeginStream(200, "text/plain; charset=utf-8")) return;
    } else if (!st.ok() && alive) {
      ex_.WriteChunk("error: " + st.message() + "\n");
    }
    ex_.EndStream();
  }
};

// The table: one line a route, in matching order (route_table.h). {params} arrive in order.
const std::vector<Route> kRoutes = {
    {"GET", "/metrics", [](RouteCall& c) { Handler(c).Metrics(); }},
    {"GET", "/v1/version",
     [](RouteCall& c) {
       Reply(c.ex, 200, {{"version", c.opts->version}});
     }},
    {"GET", "/v1/orgs", [](RouteCall& c) { Handler(c).ListOrgs(); }},
    {"POST", "/v1/orgs", [](RouteCall& c) { Handler(c).CreateOrg(); }},
    {"GET", "/v1/orgs/{org}", OrgRoute},
    {"GET", "/v1/networks", [](RouteCall& c) { Handler(c).ListNetworks(); }},
    {"POST", "/v1/networks", [](RouteCall& c) { Handler(c).CreateNetwork(); }},
    {"GET", "/v1/regions", RegionsRoute},
    {"GET", "/v1/platform/regions", PlatformRegionsRoute},
    {"GET", "/v1/images", [](RouteCall& c) { Handler(c).ListImages(); }},
    {"POST", "/v1/images", [](RouteCall& c) { Handler(c).PullImage(); }},
    {"POST", "/v1/images/remove", [](RouteCall& c) { Handler(c).RemoveImage(); }},
    {"POST", "/v1/images/prune", [](RouteCall& c) { Handler(c).PruneImages(); }},
    {"GET", "/v1/volumes", [](RouteCall& c) { ListVolumesRoute(c, nullptr); }},
    {"GET", "/v1/volumes/{id}", [](RouteCall& c) { GetVolumeRoute(c, nullptr, c.params[0]); }},
    {"DELETE", "/v1/volumes/{id}", [](RouteCall& c) { DestroyVolumeRoute(c, nullptr, c.params[0]); }},
    {"GET", "/v1/apps", [](RouteCall& c) { Handler(c).ListApps(); }},
    {"POST", "/v1/apps", [](RouteCall& c) { Handler(c).CreateApp(); }},
    {"GET", "/v1/apps/{app}", [](RouteCall& c) { Handler(c).GetApp(c.params[0]); }},
    {"DELETE", "/v1/apps/{app}", [](RouteCall& c) { Handler(c).DestroyApp(c.params[0]); }},
    {"GET", "/v1/apps/{app}/volumes",
     [](RouteCall& c) { Handler(c).App(c.params[0]) ? ListVolumesRoute(c, &c.params[0]) : void(); }},
    {"POST", "/v1/apps/{app}/volumes",
     [](RouteCall& c) { Handler(c).App(c.params[0]) ? CreateVolumeRoute(c, c.params[0]) : void(); }},
    {"GET", "/v1/apps/{app}/volumes/{id}",
     [](RouteCall& c) { Handler(c).App(c.params[0]) ? GetVolumeRoute(c, &c.params[0], c.params[1]) : void(); }},
    {"DELETE", "/v1/apps/{app}/volumes/{id}",
     [](RouteCall& c) { Handler(c).App(c.params[0]) ? DestroyVolumeRoute(c, &c.params[0], c.params[1]) : void(); }},
    {"GET", "/v1/apps/{app}/releases", ReleasesRoute},
    {"POST", "/v1/apps/{app}/releases", [](RouteCall& c) { Handler(c).Deploy(c.params[0]); }},
    {"GET", "/v1/apps/{app}/config", ConfigRoute},
    {"GET", "/v1/apps/{app}/machines", ListMachinesRoute},
    {"POST", "/v1/apps/{app}/machines", CreateMachineRoute},
    {"GET", "/v1/apps/{app}/ip_assignments", [](RouteCall& c) { Handler(c).ListIps(c.params[0]); }},
    {"POST", "/v1/apps/{app}/ip_assignments", [](RouteCall& c) { Handler(c).AllocateIp(c.params[0]); }},
    {"DELETE", "/v1/apps/{app}/ip_assignments/{ip}",
     [](RouteCall& c) { Handler(c).ReleaseIp(c.params[0], c.params[1]); }},
    {"GET", "/v1/apps/{app}/status", [](RouteCall& c) { Handler(c).AppStatus(c.params[0]); }},
    {"GET", "/v1/apps/{app}/logs", [](RouteCall& c) { Handler(c).Logs(c.params[0]); }},
    {"POST", "/v1/apps/{app}/scale", [](RouteCall& c) { Handler(c).Scale(c.params[0]); }},
    {"GET", "/v1/apps/{app}/secrets", ListSecretsRoute},
    {"POST", "/v1/apps/{app}/secrets", SetSecretsRoute},
    {"POST", "/v1/apps/{app}/secrets/unset", UnsetSecretsRoute},
    // Before /machines/{id}: "run" is not a machine id.
    {"POST", "/v1/apps/{app}/machines/run", RunMachineRoute},
    {"GET", "/v1/apps/{app}/machines/{id}", GetMachineRoute},
    {"DELETE", "/v1/apps/{app}/machines/{id}", DestroyMachineRoute},
    {"POST", "/v1/apps/{app}/machines/{id}/start", StartMachineRoute},
    {"POST", "/v1/apps/{app}/machines/{id}/stop", StopMachineRoute},
    {"POST", "/v1/apps/{app}/machines/{id}/suspend", SuspendMachineRoute},
    {"GET", "/v1/apps/{app}/machines/{id}/wait", WaitMachineRoute},
    {"POST", "/v1/apps/{app}/machines/{id}/console", ConsoleRoute},
};

}  // namespace

const std::vector<Route>& ApiRoutes() { return kRoutes; }

void Routes::Handle(const http::Request& req, Exchange& ex) {
  auto parts = http::SplitPath(req.path);
  if (!parts) return Fail(ex, 400, "malformed path '" + req.path + "'");
  RouteMatch m = MatchRoute(ApiRoutes(), req.method, *parts);
  switch (m.kind) {
    case RouteMatch::kFound: {
      RouteCall call{registry_, backend_, opts_, req, ex, std::move(m.params)};
      return m.route->handler(call);
    }
    case RouteMatch::kMethodNotAllowed:
      return ex.Respond(405, kJson,
                        ErrorBody("method " + req.method + " not allowed on " + req.path + " (allowed: " + m.allow +
                                  ")"),
                        {{"Allow", m.allow}});
    case RouteMatch::kNotFound:
      break;
  }
  Fail(ex, 404, "no such route: " + req.method + " " + req.path + " (see docs/api.md)");
}

}  // namespace privcast::api
