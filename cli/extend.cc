// The helpers cli/extend.h gives to command groups in files of their own.
#include "cli/extend.h"

#include "api/http.h"
#include "cli/flytoml.h"

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

json CallJson(Context& ctx, const std::string& method, const std::string& target, const json& body) {
  std::string text = body.is_null() ? "" : body.dump(-1, ' ', false, json::error_handler_t::replace);
  auto r = ctx.client().Call(method, target, text);
  if (!r.ok()) throw CommandFailure(r.status().message());
  json j = json::parse(r->body, nullptr, false);
  if (r->status >= 200 && r->status < 300) return j.is_discarded() ? json() : j;
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string())
    throw CommandFailure(j["error"].get<std::string>());
  throw CommandFailure("privcastd answered HTTP " + std::to_string(r->status));
}

void PrintJson(Context& ctx, const json& j) {
  ctx.out << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

}  // namespace privcast::cli

#include "cli/restart.h"

namespace privcast::cli {

void RegisterExtraCommands(CLI::App& root, Context& ctx) {
  RegisterEveryday(root, ctx);
  RegisterSecrets(root, ctx);
  RegisterConsole(root, ctx);
}

}  // namespace privcast::cli
