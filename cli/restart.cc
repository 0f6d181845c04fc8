#include "cli/restart.h"

namespace privcast::cli {

using nlohmann::json;

namespace {

std::string MPath(const std::string& app, const std::string& id) {
  return "/v1/apps/" + UrlEnc(app) + "/machines/" + UrlEnc(id);
}

// Waits for `state`; throws when the wait times out or the start failed.
void WaitFor(Context& ctx, const std::string& app, const std::string& id, const std::string& state, int wait_s) {
  auto r = ctx.client().Call("GET", MPath(app, id) + "/wait?state=" + state + "&timeout=" + std::to_string(wait_s));
  if (!r.ok()) throw CommandFailure(r.status().message());
  json j = json::parse(r->body, nullptr, false);
  if (r->status == 408)
    throw CommandFailure("machine " + id + " did not become " + state + " within " + std::to_string(wait_s) +
                         "s (privcast machine status " + id + " -a " + app + ")");
  if (r->status != 200)
    throw CommandFailure(j.is_object() && j.contains("error") ? j["error"].get<std::string>()
                                                              : "privcastd answered HTTP " + std::to_string(r->status));
  if (state == "started" && j.value("state", "") == "failed")
    throw CommandFailure("machine " + id + " " + j.value("last_event", std::string("failed to start")) +
                         " (privcast status -a " + app + ")");
}

}  // namespace

void RestartMachine(Context& ctx, const std::string& app, const std::string& id, int wait_s) {
  ctx.out << "Restarting machine " << id << "\n";
  ctx.out.flush();
  CallJson(ctx, "POST", MPath(app, id) + "/stop", json::object());
  WaitFor(ctx, app, id, "stopped", wait_s);
  CallJson(ctx, "POST", MPath(app, id) + "/start", json::object());
  WaitFor(ctx, app, id, "started", wait_s);
  ctx.out << "Machine " << id << " restarted\n";
}

int RestartApp(Context& ctx, const std::string& app, int wait_s) {
  json ms = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app) + "/machines");
  int n = 0;
  for (auto& m : ms) {
    if (m.value("state", "") != "started" || m.value("auto_destroy", false)) continue;
    RestartMachine(ctx, app, m.value("id", ""), wait_s);
    ++n;
  }
  if (n == 0) ctx.out << "No started machines to restart in app " << app << "\n";
  return n;
}

}  // namespace privcast::cli
