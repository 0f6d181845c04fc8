// The helpers cli/extend.h gives to every command group.
#include "cli/extend.h"

#include "api/http.h"
#include "cli/flytoml.h"
#include "cli/json_shapes.h"

namespace privcast::cli {

using nlohmann::json;

CLI::App* AddCommand(Context& ctx, CLI::App* parent, const std::string& name, const std::string& desc,
                     std::function<int()> action) {
  auto* c = parent->add_subcommand(name, desc);
  c->callback([&ctx, action = std::move(action)] { ctx.set_action(action); });
  return c;
}

CLI::App* FindSubcommand(const CLI::App* parent, const std::string& name) {
  // The tree is ours and mutable; CLI11's const overload only hands out const pointers.
  for (CLI::App* s : const_cast<CLI::App*>(parent)->get_subcommands([](CLI::App*) { return true; }))
    if (s->check_name(name)) return s;
  return nullptr;
}

CLI::Validator DurationCheck(int64_t max_s) {
  return CLI::Validator(
      [max_s](std::string& v) -> std::string {
        auto d = ParseDurationSeconds(v);
        if (!d) return "expected a duration like 10s, 1m or 1m30s (or a number of seconds), got '" + v + "'";
        if (*d > max_s) return "expected at most " + std::to_string(max_s) + "s, got " + v;
        return "";
      },
      "DURATION");
}

void AddAppFlags(CLI::App* c, std::string* app, std::string* config) {
  c->add_option("-a,--app", *app, "App name (default: app in ./fly.toml)");
  c->add_option("-c,--config", *config, "Path to fly.toml (for the app name)");
}

std::string AppName(const std::string& app, const std::string& config) {
  auto r = ResolveApp(app, config);
  if (!r.ok()) throw CommandFailure(r.status().message());
  return *r;
}

std::string UrlEnc(const std::string& s) { return api::http::PercentEncode(s); }

std::pair<int, json> CallRaw(Context& ctx, const std::string& method, const std::string& target,
                             const std::string& body) {
  auto r = ctx.client().Call(method, target, body);
  if (!r.ok()) throw CommandFailure(r.status().message());
  json j = json::parse(r->body, nullptr, false);
  if (j.is_discarded()) j = nullptr;
  return {r->status, j};
}

std::string ErrorOf(int status, const json& j) {
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  return "privcastd answered HTTP " + std::to_string(status);
}

json CallJson(Context& ctx, const std::string& method, const std::string& target, const json& body) {
  std::string text = body.is_null() ? "" : body.dump(-1, ' ', false, json::error_handler_t::replace);
  auto [status, j] = CallRaw(ctx, method, target, text);
  if (status >= 200 && status < 300) return j;
  throw CommandFailure(ErrorOf(status, j));
}

void PrintJson(Context& ctx, const json& j) {
  ctx.out << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

}  // namespace privcast::cli
