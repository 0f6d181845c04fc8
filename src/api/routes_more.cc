// Handlers for flyctl's everyday verbs, in a file of their own so routes.cc stays the core
// (the table in routes.cc routes to them; route_table.h declares them): releases history, the current config as JSON, regions, one org's
// details, and app secrets. Shapes: docs/api.md.
//
// Secrets (ADR 0012): values arrive in request bodies over the 0600 socket, are sealed by
// the Backend (the daemon's key) and only the sealed text and digest reach the store; no
// response and no log line carries a value.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "api/codec.h"
#include "api/route_table.h"
#include "api/routes.h"
#include "common/log.h"
#include "config/load.h"

namespace privcast::api {
namespace {

using nlohmann::json;

void Send(Exchange& ex, int status, const json& j) {
  ex.Respond(status, "application/json", j.dump(-1, ' ', false, json::error_handler_t::replace));
}
void SendError(Exchange& ex, const Status& st) { Send(ex, HttpStatusFor(st.code()), json{{"error", st.message()}}); }

// An environment variable name, as flyctl accepts secret names.
bool IsEnvName(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

json SecretView(const store::Secret& s) {
  return {{"name", s.name}, {"digest", s.digest}, {"created_at", FormatTime(s.created_at)}};
}

class More {
 public:
  explicit More(RouteCall& c) : reg_(c.registry), backend_(c.backend), req_(c.req), ex_(c.ex) {}

  void Regions() {
    auto st = reg_->LoadState();
    if (!st.ok()) return SendError(ex_, st.status());
    std::map<std::string, json> by;
    for (auto& h : st->hosts) {
      json& r = by[h.region];
      if (r.is_null()) r = {{"code", h.region}, {"hosts", json::array()}, {"machines", 0}};
      r["hosts"].push_back(h.hostname);
    }
    for (auto& mc : st->machines) {
      auto it = by.find(mc.region);
      if (it != by.end()) it->second["machines"] = it->second["machines"].get<int>() + 1;
    }
    json out = json::array();
    for (auto& [_, r] : by) out.push_back(r);
    Send(ex_, 200, out);
  }

  // The region table in force (ADR 0018): the store's, else Fly's built-in one; with
  // ?from=CODE each region's distance from CODE, nearest first.
  void PlatformRegions() {
    auto st = reg_->LoadState();
    if (!st.ok()) return SendError(ex_, st.status());
    const auto table = st->regions ? st->regions : RegionTable::Default();
    const std::string* from = req_.Query("from");
    if (from && !table->Find(*from))
      return Send(ex_, 400, json{{"error", "query 'from': region '" + *from + "' is not in the region table"}});
    json regions = json::array();
    for (const Region& r : table->regions()) {
      json j = {{"code", r.code}, {"name", r.name}, {"latitude", r.latitude}, {"longitude", r.longitude}};
      if (from) j["km"] = std::round(table->DistanceKm(*from, r.code));
      regions.push_back(std::move(j));
    }
    if (from)
      std::stable_sort(regions.begin(), regions.end(),
                       [](const json& a, const json& b) { return a["km"].get<double>() < b["km"].get<double>(); });
    json distances = json::array();
    for (const RegionDistance& d : table->distances())
      distances.push_back({{"from", d.from}, {"to", d.to}, {"km", d.km}});
    Send(ex_, 200,
         json{{"source", st->regions ? "store" : "built-in"}, {"regions", regions}, {"distances", distances}});
  }

  void Org(const std::string& slug) {
    auto o = reg_->GetOrg(slug);
    if (!o.ok()) return SendError(ex_, o.status());
    auto nets = reg_->ListNetworks(slug);
    if (!nets.ok()) return SendError(ex_, nets.status());
    auto apps = reg_->ListApps();
    if (!apps.ok()) return SendError(ex_, apps.status());
    json j = ToJson(*o);
    j["networks"] = json::array();
    for (auto& nw : *nets) j["networks"].push_back(ToJson(nw));
    j["apps"] = json::array();
    for (auto& a : *apps)
      if (a.org == slug) j["apps"].push_back(a.name);
    Send(ex_, 200, j);
  }

  void Releases(const std::string& app) {
    auto r = reg_->ListReleases(app);
    if (!r.ok()) return SendError(ex_, r.status());
    json out = json::array();
    for (auto it = r->rbegin(); it != r->rend(); ++it) out.push_back(ToJson(*it));  // newest first, as flyctl
    Send(ex_, 200, out);
  }

  void Config(const std::string& app) {
    auto cur = reg_->CurrentRelease(app);
    if (!cur.ok()) return SendError(ex_, cur.status());
    if (!*cur)
      return Send(ex_, 404, json{{"error", "app '" + app + "' has no release yet: deploy it first (privcast deploy)"}});
    auto text = config::FlyTomlAsJson((*cur)->source);
    if (!text.ok()) return SendError(ex_, text.status());
    json cfg = json::parse(*text, nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) return SendError(ex_, Internal("config of release is not an object"));
    cfg["app"] = app;  // the URL's app wins, as deploy -a does
    Send(ex_, 200, {{"version", (*cur)->version}, {"config", cfg}});
  }

  // ssh console: {"cmd": [..], "env": {..}, "tty": bool, "rows": N, "cols": N} with the
  // caller's stdio by SCM_RIGHTS (3, or 4 with tty: the resize pipe), as machines/run
  // --shell takes them; answers the same ndjson stream (started, then exit or error).
  void Console(const std::string& app, const std::string& id) {
    auto fds = ex_.TakeFds();  // owned here from now on: closed on every error path
    json body = json::parse(req_.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return Send(ex_, 400, json{{"error", "invalid JSON body"}});
    for (auto& [k, _] : body.items())
      if (k != "cmd" && k != "env" && k != "tty" && k != "rows" && k != "cols")
        return Send(ex_, 400, json{{"error", "unknown field '" + k + "'"}});
    std::vector<std::string> cmd = {"/bin/sh"};
    if (body.contains("cmd")) {
      if (!body["cmd"].is_array() || body["cmd"].empty())
        return Send(ex_, 400, json{{"error", "field 'cmd' must be a non-empty array of strings"}});
      cmd.clear();
      for (auto& c : body["cmd"]) {
        if (!c.is_string()) return Send(ex_, 400, json{{"error", "field 'cmd' must be a non-empty array of strings"}});
        cmd.push_back(c.get<std::string>());
      }
      if (cmd[0].empty() || cmd[0][0] != '/')
        return Send(ex_, 400, json{{"error", "field 'cmd': the program must be an absolute path inside the machine"}});
    }
    std::vector<std::pair<std::string, std::string>> env;
    if (body.contains("env")) {
      if (!body["env"].is_object()) return Send(ex_, 400, json{{"error", "field 'env' must be an object of strings"}});
      for (auto& [k, v] : body["env"].items()) {
        if (!v.is_string() || k.empty() || k.find('=') != std::string::npos)
          return Send(ex_, 400, json{{"error", "field 'env' must be an object of strings"}});
        env.emplace_back(k, v.get<std::string>());
      }
    }
    AttachedStdio io;
    io.tty = body.value("tty", false);
    io.rows = static_cast<uint16_t>(std::clamp(body.value("rows", 0), 0, 65535));
    io.cols = static_cast<uint16_t>(std::clamp(body.value("cols", 0), 0, 65535));
    if (fds.size() != 3 && !(fds.size() == 4 && io.tty))
      return Send(ex_, 400,
                  json{{"error",
                        "the console request must carry stdin, stdout and stderr (3 file descriptors by "
                        "SCM_RIGHTS, and with 'tty' optionally a 4th: the read end of a window-resize pipe), got " +
                            std::to_string(fds.size())}});
    io.in = std::move(fds[0]);
    io.out = std::move(fds[1]);
    io.err = std::move(fds[2]);
    if (fds.size() == 4) io.resize = std::move(fds[3]);
    auto mach = reg_->GetMachine(id);
    if (!mach.ok() || mach->app != app) {
      if (auto a = reg_->GetApp(app); !a.ok()) return SendError(ex_, a.status());
      return Send(ex_, 404, json{{"error", "unknown machine '" + id + "' in app '" + app + "'"}});
    }
    if (mach->state != store::MachineState::kStarted)
      return Send(ex_, 409,
                  json{{"error", "machine " + id + " is " + store::MachineStateName(mach->state) +
                                     ": ssh console needs a started machine (privcast machine start " + id + ")"}});
    if (!ex_.BeginStream(200, "application/x-ndjson")) return;
    ex_.WriteChunk(json{{"event", "started"}, {"machine", ToJson(*mach)}}.dump() + "\n");
    auto r = backend_->Console(*mach, cmd, env, std::move(io), ex_.watch());
    if (r.ok()) {
      ex_.WriteChunk(json{{"event", "exit"}, {"exit_code", *r}}.dump() + "\n");
    } else {
      ex_.WriteChunk(
          json{{"event", "error"}, {"status", HttpStatusFor(r.status().code())}, {"error", r.status().message()}}.dump(
              -1, ' ', false, json::error_handler_t::replace) +
          "\n");
    }
    ex_.EndStream();
  }

  void ListSecrets(const std::string& app) {
    auto r = reg_->ListSecrets(app);
    if (!r.ok()) return SendError(ex_, r.status());
    json out = json::array();
    for (auto& s : *r) out.push_back(SecretView(s));
    Send(ex_, 200, out);
  }

  // {"secrets": {"NAME": "value", ...}}
  void SetSecrets(const std::string& app) {
    json body = json::parse(req_.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return Send(ex_, 400, json{{"error", "invalid JSON body: expected {\"secrets\": {\"NAME\": \"value\"}}"}});
    for (auto& [k, _] : body.items())
      if (k != "secrets") return Send(ex_, 400, json{{"error", "unknown field '" + k + "'"}});
    if (!body.contains("secrets") || !body["secrets"].is_object() || body["secrets"].empty())
      return Send(ex_, 400, json{{"error", "field 'secrets' is required: an object of NAME: value (at least one)"}});
    if (auto a = reg_->GetApp(app); !a.ok()) return SendError(ex_, a.status());
    std::vector<store::Secret> sealed;
    for (auto& [name, v] : body["secrets"].items()) {
      if (!IsEnvName(name))
        return Send(
            ex_, 400,
            json{{"error",
                  "secret name '" + name +
                      "' is not an environment variable name (letters, digits and '_', not starting with a digit)"}});
      if (!v.is_string()) return Send(ex_, 400, json{{"error", "secret " + name + ": the value must be a string"}});
      auto s = backend_->SealSecret(app, name, v.get<std::string>());
      if (!s.ok()) return SendError(ex_, s.status());
      s->created_at = NowMs();
      sealed.push_back(std::move(s).value());
    }
    if (Status st = reg_->SetSecrets(app, sealed); !st.ok()) return SendError(ex_, st);
    std::string names;
    json out = json::array();
    for (auto& s : sealed) {
      out.push_back(SecretView(s));
      names += (names.empty() ? "" : ",") + s.name;
    }
    log::Info("api", "secrets set", {{"app", app}, {"names", names}});  // names only
    Send(ex_, 200, out);
  }

  // {"names": ["NAME", ...]}
  void UnsetSecrets(const std::string& app) {
    json body = json::parse(req_.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("names") || !body["names"].is_array() ||
        body["names"].empty() || body.size() != 1)
      return Send(ex_, 400, json{{"error", "invalid body: expected {\"names\": [\"NAME\", ...]} (at least one)"}});
    std::vector<std::string> names;
    for (auto& n : body["names"]) {
      if (!n.is_string()) return Send(ex_, 400, json{{"error", "field 'names': expected strings"}});
      names.push_back(n.get<std::string>());
    }
    if (Status st = reg_->UnsetSecrets(app, names); !st.ok()) return SendError(ex_, st);
    log::Info("api", "secrets unset", {{"app", app}, {"count", static_cast<int64_t>(names.size())}});
    Send(ex_, 200, {{"unset", names}});
  }

 private:
  static int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  store::Registry* reg_;
  Backend* backend_;
  const http::Request& req_;
  Exchange& ex_;
};

}  // namespace

void RegionsRoute(RouteCall& c) { More(c).Regions(); }
void PlatformRegionsRoute(RouteCall& c) { More(c).PlatformRegions(); }
void OrgRoute(RouteCall& c) { More(c).Org(c.params[0]); }
void ReleasesRoute(RouteCall& c) { More(c).Releases(c.params[0]); }
void ConfigRoute(RouteCall& c) { More(c).Config(c.params[0]); }
void ConsoleRoute(RouteCall& c) { More(c).Console(c.params[0], c.params[1]); }
void ListSecretsRoute(RouteCall& c) { More(c).ListSecrets(c.params[0]); }
void SetSecretsRoute(RouteCall& c) { More(c).SetSecrets(c.params[0]); }
void UnsetSecretsRoute(RouteCall& c) { More(c).UnsetSecrets(c.params[0]); }

}  // namespace privcast::api
