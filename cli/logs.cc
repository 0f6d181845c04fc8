// `privcast logs`: machine output and proxy events in time order, streamed as they come
// (following until Ctrl-C unless -n), as text or as flyctl's JSON log entries.
#include <memory>

#include "cli/extend.h"
#include "cli/groups.h"
#include "cli/json_shapes.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

struct LogArgs {
  std::string app, config;
  bool no_tail = false, follow = false, json = false;
  std::string machine, region;
  int lines = 100;
};

// Text lines out as they come (or each as flyctl's JSON log entry with --json).
void EmitLogText(Context& ctx, std::string& pending, bool as_json, bool final) {
  if (!as_json) {
    ctx.out << pending;
    pending.clear();
  } else {
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      ctx.out << FlyLogEntry(pending.substr(0, nl)).dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      pending.erase(0, nl + 1);
    }
    if (final && !pending.empty()) {
      ctx.out << FlyLogEntry(pending).dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      pending.clear();
    }
  }
  ctx.out.flush();
}

int Logs(Context& ctx, const LogArgs& a) {
  std::string app = AppName(a.app, a.config);
  bool follow = !a.no_tail;
  std::string target = "/v1/apps/" + UrlEnc(app) + "/logs?follow=" + (follow ? "1" : "0") +
                       "&tail=" + std::to_string(a.lines);
  if (!a.machine.empty()) target += "&machine=" + UrlEnc(a.machine);
  if (!a.region.empty()) target += "&region=" + UrlEnc(a.region);
  std::string body;
  bool text = false;
  auto st = ctx.client().Stream("GET", target, "", [&](std::string_view d) {
    body.append(d);
    // Text streams go straight out; keep only what could be an error body.
    if (!text && (body.size() > 4096 || body.front() != '{')) text = true;
    if (text) EmitLogText(ctx, body, a.json, false);
    return true;
  });
  if (!st.ok()) throw CommandFailure(st.status().message());
  if (*st != 200) {
    json j = json::parse(body, nullptr, false);
    throw CommandFailure(ErrorOf(*st, j.is_discarded() ? json() : j));
  }
  EmitLogText(ctx, body, a.json, true);
  return 0;
}

}  // namespace

void RegisterLogs(CLI::App& root, Context& ctx) {
  auto lg = std::make_shared<LogArgs>();
  auto* lgc = AddCommand(ctx, &root, "logs",
                         "Machine output and proxy events, in time order; follows until Ctrl-C (like flyctl)",
                         [&ctx, lg] { return Logs(ctx, *lg); });
  AddAppFlags(lgc, &lg->app, &lg->config);
  lgc->add_flag("-n,--no-tail", lg->no_tail, "Do not continually stream logs: print the history and exit");
  lgc->add_flag("-f,--follow", lg->follow, "Keep streaming new lines (the default; accepted for older scripts)");
  lgc->add_option("-i,--machine,--instance", lg->machine, "Only this machine");
  lgc->add_option("-r,--region", lg->region, "Only machines in this region");
  lgc->add_flag("-j,--json", lg->json, "One JSON object a line (flyctl's log entry fields)");
  lgc->add_option("--lines", lg->lines, "Lines of history (default 100)")->check(CLI::Range(0, 1000000));
}

}  // namespace privcast::cli
