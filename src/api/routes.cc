#include "api/routes.h"

#include "config/app_config.h"
#include "config/json.h"

#include <algorithm>
#include <chrono>
#include <mutex>

#include <nlohmann/json.hpp>

#include "api/codec.h"
#include "api/release_config.h"
#include "api/service_ips.h"
#include "api/volume_routes.h"
#include "common/addr.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/strings.h"

namespace privcast::api {
namespace {

using nlohmann::json;
using store::MachineState;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

constexpr std::string_view kJson = "application/json";


void Reply(Exchange& ex, int status, const json& j) { ex.Respond(status, kJson, Dump(j)); }
void Fail(Exchange& ex, const Status& st) { ex.Respond(HttpStatusFor(st.code()), kJson, ErrorBody(st.message())); }
void Fail(Exchange& ex, int status, std::string_view msg) { ex.Respond(status, kJson, ErrorBody(msg)); }

template <typename T>
json List(const std::vector<T>& v) {
  json a = json::array();
  for (auto& x : v) a.push_back(ToJson(x));
  return a;
}

bool Truthy(const std::string* v) { return v && (*v == "1" || *v == "true" || *v == "yes"); }

bool In(MachineState s, std::initializer_list<MachineState> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

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
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists: return 409;
    case Code::kConflict: return 409;
    case Code::kFailedPrecondition: return 409;
    case Code::kUnavailable: return 503;
    case Code::kInternal: return 500;
    case Code::kIo: return 500;
  }
  return 500;
}

namespace {

class Handler {
 public:
  Handler(store::Registry* r, Backend* b, const ServerOptions* o, const http::Request& req, Exchange& ex)
      : reg_(r), backend_(b), opts_(o), req_(req), ex_(ex) {}
  // Deadlines read the API's Clock (ServerOptions::clock; FakeClock in tests).
  MonoTime Now() const { return (opts_->clock ? opts_->clock : RealClock::Get())->Now(); }

  void Run() {
    auto parts = http::SplitPath(req_.path);
    if (!parts) return Fail(ex_, 400, "malformed path '" + req_.path + "'");
    const auto& s = *parts;
    const std::string& m = req_.method;
    size_t n = s.size();
    if (HandleMoreRoutes(reg_, backend_, req_, ex_)) return;

    if (n == 1 && s[0] == "metrics") return Method({"GET"}) ? Metrics() : void();
    if (n < 2 || s[0] != "v1") return NotFoundRoute();
    if (n == 2 && s[1] == "version") {
      if (!Method({"GET"})) return;
      return Reply(ex_, 200, {{"version", opts_->version}});
    }
    if (n == 2 && s[1] == "orgs") {
      if (!Method({"GET", "POST"})) return;
      return m == "GET" ? ListOrgs() : CreateOrg();
    }
    if (n == 2 && s[1] == "networks") {
      if (!Method({"GET", "POST"})) return;
      return m == "GET" ? ListNetworks() : CreateNetwork();
    }
    if (s[1] == "images") {
      if (n == 2) {
        if (!Method({"GET", "POST"})) return;
        return m == "GET" ? ListImages() : PullImage();
      }
      if (n == 3 && s[2] == "remove") return Method({"POST"}) ? RemoveImage() : void();
      if (n == 3 && s[2] == "prune") return Method({"POST"}) ? PruneImages() : void();
      return NotFoundRoute();
    }
    if (s[1] == "volumes") return HandleVolumes(reg_, req_, ex_, s, nullptr);
    if (s[1] != "apps") return NotFoundRoute();
    if (n == 2) {
      if (!Method({"GET", "POST"})) return;
      return m == "GET" ? ListApps() : CreateApp();
    }
    const std::string& app = s[2];
    if (n == 3) {
      if (!Method({"GET", "DELETE"})) return;
      return m == "GET" ? GetApp(app) : DestroyApp(app);
    }
    const std::string& what = s[3];
    if (what == "volumes") return App(app) ? HandleVolumes(reg_, req_, ex_, s, &app) : void();
    if (n == 4) {
      if (what == "releases") return Method({"POST"}) ? Deploy(app) : void();
      if (what == "machines") {
        if (!Method({"GET", "POST"})) return;
        return m == "GET" ? ListMachines(app) : CreateMachine(app, false);
      }
      if (what == "ip_assignments") {
        if (!Method({"GET", "POST"})) return;
        return m == "GET" ? ListIps(app) : AllocateIp(app);
      }
      if (what == "status") return Method({"GET"}) ? AppStatus(app) : void();
      if (what == "logs") return Method({"GET"}) ? Logs(app) : void();
      if (what == "scale") return Method({"POST"}) ? Scale(app) : void();
      return NotFoundRoute();
    }
    if (n == 5 && what == "ip_assignments") return Method({"DELETE"}) ? ReleaseIp(app, s[4]) : void();
    if (what != "machines") return NotFoundRoute();
    if (n == 5 && s[4] == "run") return Method({"POST"}) ? CreateMachine(app, true) : void();
    const std::string& id = s[4];
    if (n == 5) {
      if (!Method({"GET", "DELETE"})) return;
      return m == "GET" ? GetMachine(app, id) : DestroyMachine(app, id);
    }
    if (n == 6) {
      const std::string& verb = s[5];
      if (verb == "start" || verb == "stop" || verb == "suspend")
        return Method({"POST"}) ? Lifecycle(app, id, verb) : void();
      if (verb == "wait") return Method({"GET"}) ? Wait(app, id) : void();
    }
    return NotFoundRoute();
  }

 private:
  bool Method(std::initializer_list<const char*> allowed) {
    for (const char* a : allowed)
      if (req_.method == a) return true;
    std::string list;
    for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
    ex_.Respond(405, kJson, ErrorBody("method " + req_.method + " not allowed on " + req_.path + " (allowed: " + list + ")"));
    return false;
  }

  void NotFoundRoute() { Fail(ex_, 404, "no such route: " + req_.method + " " + req_.path + " (see docs/api.md)"); }

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
      return Fail(ex_, 400, "field 'slug': '" + q->slug + "' is not a valid org slug (lowercase letters, digits and '-', at most 63)");
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
      return Fail(ex_, 400, "field 'name': '" + q->name + "' is not a valid network name (lowercase letters, digits and '-', at most 63)");
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
      return Fail(ex_, 400, "field 'app_name': '" + q->name + "' is not a valid app name (lowercase letters, digits and '-', at most 63)");
    auto r = reg_->CreateApp(q->name, q->org, q->network);
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 201, ToJson(*r));
  }

  // The app, or a 404 response already sent.
  std::optional<store::App> App(const std::string& name) {
    auto r = reg_->GetApp(name);
    if (!r.ok()) {
      Fail(ex_, r.status());
      return std::nullopt;
    }
    return *r;
  }

  void GetApp(const std::string& name) {
    auto a = App(name);
    if (!a) return;
    json j = ToJson(*a);
    auto ms = reg_->ListMachines(name);
    if (ms.ok()) j["machine_count"] = ms->size();
    Reply(ex_, 200, j);
  }

  void DestroyApp(const std::string& name) {
    auto a = App(name);
    if (!a) return;
    auto ms = reg_->ListMachines(name);
    if (!ms.ok()) return Fail(ex_, ms.status());
    // Machines first: record the intent, then wait for the daemon to tear them down.
    for (auto& m : *ms) {
      if (m.state == MachineState::kDestroyed || m.state == MachineState::kDestroying) continue;
      auto t = reg_->TransitionMachine(m.id, {}, MachineState::kDestroying, "destroy requested (app destroyed)");
      if (!t.ok() && t.status().code() != Code::kNotFound) return Fail(ex_, t.status());
    }
    auto deadline = Now() + std::chrono::seconds(60);
    for (auto& m : *ms) {
      auto left = std::chrono::duration_cast<Duration>(deadline - Now());
      auto w = WaitFor(m.id, {MachineState::kDestroyed}, std::max(left, Duration(0)));
      if (!w.ok() && w.status().code() != Code::kNotFound) {
        return Fail(ex_, 503, "app '" + name + "': machine " + m.id + " is still being destroyed (" +
                                  w.status().message() + "); try again");
      }
    }
    Status st = reg_->DestroyApp(name);
    if (!st.ok()) return Fail(ex_, st);
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
    auto d = backend_->Deploy(*a2, *rel, dopts);
    rel->status = d.ok() && d->errors.empty() ? "complete" : "failed";
    (void)reg_->SetReleaseStatus(name, rel->version, rel->status);  // history only: best effort
    out["release"] = ToJson(*rel);
    if (!d.ok()) {
      // The release is stored; the reconciler will retry. Say so rather than hide it.
      return Fail(ex_, Status(d.status().code(), "release v" + std::to_string(rel->version) +
                                                     " stored but machines were not updated: " +
                                                     d.status().message()));
    }
    for (auto& w : d->warnings) warnings.push_back(w);
    out["warnings"] = warnings;
    out["machines"] = List(d->machines);
    if (!d->errors.empty()) {
      // Like flyctl: machines that cannot start fail the deploy (the release stays stored; a
      // fixed config deployed again starts them).
      std::string why;
      for (auto& e : d->errors) why += (why.empty() ? "" : "; ") + e;
      out["error"] = "release v" + std::to_string(rel->version) + " of " + name + " did not start: " +
                     std::to_string(d->failed) + " of " + std::to_string(d->machines.size()) + " machine" +
                     (d->machines.size() == 1 ? "" : "s") + " failed to start: " + why;
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

  // Machine `id` of app `app`, or a 404 naming the app's machines (already sent).
  std::optional<store::Machine> MachineOf(const std::string& app, const std::string& id) {
    auto m = reg_->GetMachine(id);
    if (m.ok() && m->app == app) return *m;
    if (!m.ok() && m.status().code() != Code::kNotFound) {
      Fail(ex_, m.status());
      return std::nullopt;
    }
    auto all = reg_->ListMachines(app);
    std::string names;
    if (all.ok())
      for (auto& x : *all) names += (names.empty() ? "" : ", ") + x.id;
    Fail(ex_, 404, "unknown machine '" + id + "' in app '" + app + "' (machines: " +
                       (names.empty() ? "none" : names) + ")");
    return std::nullopt;
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

  void ListMachines(const std::string& app) {
    if (!App(app)) return;
    auto r = reg_->ListMachines(app);
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 200, List(*r));
  }

  void GetMachine(const std::string& app, const std::string& id) {
    if (!App(app)) return;
    auto m = MachineOf(app, id);
    if (!m) return;
    Reply(ex_, 200, ToJson(*m));
  }

  store::MachineSpec SpecFrom(const store::App& a, const MachineRequest& q, bool adhoc) {
    store::MachineSpec spec;
    spec.app = a.name;
    spec.region = q.region;
    spec.process_group = q.process_group;
    spec.release_version = (adhoc || !q.cmd.empty()) ? 0 : a.current_release;
    spec.cmd = q.cmd;
    spec.env = q.env;
    spec.auto_destroy = q.rm || q.shell;
    spec.carries_services = q.services && !spec.auto_destroy;  // a throwaway machine is a client
    spec.org = q.org;
    spec.network = q.network;
    return spec;
  }

  void CreateMachine(const std::string& app, bool run) {
    auto a = App(app);
    if (!a) return;
    auto q = DecodeMachine(req_.body, run);
    if (!q.ok()) return Fail(ex_, q.status());
    if (!q->region.empty() && !ids::IsRegionCode(q->region))
      return Fail(ex_, 400, "field 'region': '" + q->region + "' is not a region code (3 lowercase letters, e.g. ams)");
    if (!run && q->cmd.empty() && q->image.empty() && a->current_release == 0)
      return Fail(ex_, 400, "app '" + app + "' has no release yet: deploy it first, or give field 'cmd'");
    auto spec = SpecFrom(*a, *q, run);
    if (!q->volume.empty()) {
      if (std::string why = config::CheckMountDestination(q->volume_path); !why.empty())
        return Fail(ex_, 400, "field 'mounts': path '" + q->volume_path + "': destination " + why);
      auto vol = ResolveMachineVolume(reg_, app, q->volume);
      if (!vol.ok()) return Fail(ex_, vol.status());
      spec.volume_id = *vol;
      spec.volume_path = q->volume_path;
    }
    if (!q->image.empty()) {
      auto img = backend_->EnsureImage(q->image);
      if (!img.ok()) return Fail(ex_, img.status());
      spec.image = img->ref.empty() ? img->id : img->ref;
      spec.image_id = img->id;
    }
    if (!q->shell) {
      if (!ex_.TakeFds().empty())
        return Fail(ex_, 400, "file descriptors are taken only with \"shell\": true (machine run --shell)");
      auto m = backend_->RunMachine(spec);
      if (!m.ok()) return Fail(ex_, m.status());
      return Reply(ex_, 201, ToJson(*m));
    }
    RunAttached(spec, *q);
  }

  void RunAttached(const store::MachineSpec& spec, const MachineRequest& q) {
    auto fds = ex_.TakeFds();
    if (fds.size() != 3 && !(fds.size() == 4 && q.tty))
      return Fail(ex_, 400, "field 'shell': the request must carry stdin, stdout and stderr (3 file descriptors by "
                            "SCM_RIGHTS, and with 'tty' optionally a 4th: the read end of a window-resize pipe), got " +
                                std::to_string(fds.size()) + (fds.size() == 4 ? " without 'tty'" : ""));
    AttachedStdio io;
    io.in = std::move(fds[0]);
    io.out = std::move(fds[1]);
    io.err = std::move(fds[2]);
    if (fds.size() == 4) io.resize = std::move(fds[3]);
    io.tty = q.tty;
    io.rows = q.rows;
    io.cols = q.cols;
    std::mutex mu;
    bool streaming = false;
    auto on_started = [&](const store::Machine& m) {
      std::lock_guard<std::mutex> l(mu);
      if (streaming) return;
      streaming = ex_.BeginStream(200, "application/x-ndjson");
      if (streaming) ex_.WriteChunk(Dump(json{{"event", "started"}, {"machine", ToJson(m)}}) + "\n");
    };
    auto r = backend_->RunAttached(spec, std::move(io), ex_.watch(), on_started);
    std::lock_guard<std::mutex> l(mu);
    if (!streaming) {
      if (!r.ok()) return Fail(ex_, r.status());
      streaming = ex_.BeginStream(200, "application/x-ndjson");
    }
    if (r.ok()) {
      ex_.WriteChunk(Dump(json{{"event", "exit"}, {"exit_code", *r}}) + "\n");
    } else {
      ex_.WriteChunk(Dump(json{{"event", "error"}, {"status", HttpStatusFor(r.status().code())},
                               {"error", r.status().message()}}) + "\n");
    }
    ex_.EndStream();
  }

  void Lifecycle(const std::string& app, const std::string& id, const std::string& verb) {
    if (!App(app)) return;
    auto m = MachineOf(app, id);
    if (!m) return;
    MachineState to;
    std::string event;
    if (verb == "start") {
      if (In(m->state, {MachineState::kStarted, MachineState::kStarting})) return Reply(ex_, 200, ToJson(*m));
      to = MachineState::kStarting;
      event = "start requested";
    } else if (verb == "stop") {
      if (In(m->state, {MachineState::kStopped, MachineState::kStopping})) return Reply(ex_, 200, ToJson(*m));
      to = MachineState::kStopping;
      event = "stop requested";
    } else {
      if (In(m->state, {MachineState::kSuspended, MachineState::kSuspending})) return Reply(ex_, 200, ToJson(*m));
      if (m->state != MachineState::kStarted)
        return Fail(ex_, 409, "machine " + id + " is " + store::MachineStateName(m->state) +
                                  ": only a started machine can be suspended (start it first)");
      to = MachineState::kSuspending;
      event = "suspend requested";
    }
    if (In(m->state, {MachineState::kDestroying, MachineState::kDestroyed}))
      return Fail(ex_, 409, "machine " + id + " is " + store::MachineStateName(m->state) + ": cannot " + verb + " it");
    auto t = reg_->TransitionMachine(id, {m->state}, to, event);
    if (!t.ok()) return Fail(ex_, t.status());
    Reply(ex_, 200, ToJson(*t));
  }

  void DestroyMachine(const std::string& app, const std::string& id) {
    if (!App(app)) return;
    auto m = MachineOf(app, id);
    if (!m) return;
    bool force = Truthy(req_.Query("force"));
    if (In(m->state, {MachineState::kDestroying, MachineState::kDestroyed})) return Reply(ex_, 200, ToJson(*m));
    if (!force && !In(m->state, {MachineState::kStopped, MachineState::kCreated, MachineState::kSuspended,
                                 MachineState::kFailed}))
      return Fail(ex_, 409, "machine " + id + " is " + store::MachineStateName(m->state) +
                                ": stop it first, or destroy with force (privcast machine destroy --force)");
    auto t = reg_->TransitionMachine(id, {m->state}, MachineState::kDestroying,
                                     force ? "destroy requested (force)" : "destroy requested");
    if (!t.ok()) return Fail(ex_, t.status());
    Reply(ex_, 200, ToJson(*t));
  }

  // Waits until machine `id` is in one of `states`; NotFound when its record is gone,
  // Unavailable("timed out ...") on timeout or when the client left.
  Result<store::Machine> WaitFor(const std::string& id, std::vector<MachineState> states, Duration timeout) {
    auto deadline = Now() + timeout;
    store::Store* st = reg_->store();
    for (;;) {
      auto rev = st->Revision();
      if (!rev.ok()) return rev.status();
      auto m = reg_->GetMachine(id);
      if (!m.ok()) return m.status();
      if (std::find(states.begin(), states.end(), m->state) != states.end()) return *m;
      auto now = Now();
      if (now >= deadline || ex_.watch().Gone())
        return Unavailable("timed out waiting for machine " + id + " (it is " +
                           store::MachineStateName(m->state) + ")");
      auto left = std::chrono::duration_cast<Duration>(deadline - now);
      auto w = st->WaitForRevision(*rev, std::min<Duration>(left, std::chrono::milliseconds(500)));
      if (!w.ok()) return w.status();
    }
  }

  void Wait(const std::string& app, const std::string& id) {
    if (!App(app)) return;
    std::string state = "started";
    if (auto* s = req_.Query("state")) state = *s;
    auto target = store::ParseMachineState(state);
    if (!target) return Fail(ex_, 400, "query 'state': unknown machine state '" + state + "'");
    std::optional<store::Machine> m;
    if (*target == MachineState::kDestroyed) {
      // A destroyed machine's record may already be gone: that is the state reached. Use this
      // one read (a second lookup could race with the daemon deleting the record).
      auto g = reg_->GetMachine(id);
      if (!g.ok() && g.status().code() == Code::kNotFound)
        return Reply(ex_, 200, {{"id", id}, {"app", app}, {"state", "destroyed"}});
      if (g.ok() && g->app == app) m = *g;
    }
    if (!m) m = MachineOf(app, id);
    if (!m) return;
    int64_t secs = 60;
    if (auto* t = req_.Query("timeout")) {
      auto n = ParseDecimal<int64_t>(*t);
      if (!n || *n < 0) return Fail(ex_, 400, "query 'timeout': expected whole seconds, got '" + *t + "'");
      secs = *n;
    }
    Duration timeout = std::min<Duration>(std::chrono::seconds(secs), opts_->max_wait);
    // Waiting for `started` ends at `failed` too: the start failed and nothing will retry it.
    std::vector<MachineState> states = {*target};
    if (*target == MachineState::kStarted) states.push_back(MachineState::kFailed);
    auto r = WaitFor(id, states, timeout);
    if (r.ok()) return Reply(ex_, 200, ToJson(*r));
    if (r.status().code() == Code::kNotFound && *target == MachineState::kDestroyed) {
      json j = ToJson(*m);
      j["state"] = "destroyed";
      return Reply(ex_, 200, j);
    }
    if (r.status().code() == Code::kUnavailable) return Fail(ex_, 408, r.status().message());
    Fail(ex_, r.status());
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
    auto r = backend_->Scale(*a, q->count);
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

  store::Registry* reg_;
  Backend* backend_;
  const ServerOptions* opts_;
  const http::Request& req_;
  Exchange& ex_;
};

}  // namespace

void Routes::Handle(const http::Request& req, Exchange& ex) {
  Handler h(registry_, backend_, opts_, req, ex);
  h.Run();
}

}  // namespace privcast::api
