// `privcast secrets`: set, list, unset, import — flyctl's verbs. Values go to the daemon,
// which seals them (ADR 0012); nothing here prints, logs or keeps a value. Setting or
// unsetting restarts the app's started machines (they read their environment at start),
// unless --stage, as on Fly.
#include <iostream>
#include <memory>

#include "cli/extend.h"
#include "cli/groups.h"
#include "cli/restart.h"
#include "cli/table.h"
#include "common/strings.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

struct State {
  std::string app, config;
  std::vector<std::string> args;
  bool stage = false, json_out = false;
  int wait = 60;
};

// Blanks around an import line and its name (CR: files written on Windows).
std::string TrimLine(std::string_view s) { return std::string(Trim(s, " \t\r")); }

// NAME=VALUE (the value may contain '=' and be empty). The argument is never echoed: it
// may be a value typed without its name.
std::pair<std::string, std::string> SplitPair(const std::string& arg, const std::string& where) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) throw CommandFailure(where + ": expected NAME=VALUE");
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

void AfterChange(Context& ctx, const std::string& app, const State& st) {
  if (st.stage) {
    ctx.out << "Secrets have been staged, but not set on machines. Deploy or restart the app's machines "
               "(privcast apps restart "
            << app << ") for them to take effect.\n";
    return;
  }
  RestartApp(ctx, app, st.wait);
}

int Set(Context& ctx, const State& st, const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string app = AppName(st.app, st.config);
  if (pairs.empty()) throw CommandFailure("no secrets given: privcast secrets set NAME=VALUE ...");
  json body = {{"secrets", json::object()}};
  for (auto& [k, v] : pairs) body["secrets"][k] = v;
  json r = CallJson(ctx, "POST", "/v1/apps/" + UrlEnc(app) + "/secrets", body);
  std::string names;
  for (auto& s : r) names += (names.empty() ? "" : ", ") + s.value("name", std::string());
  ctx.out << "Set secrets on " << app << ": " << names << "\n";
  AfterChange(ctx, app, st);
  return 0;
}

// flyctl's import format: NAME=VALUE lines; blank lines and # comments skipped; a value
// opening with """ runs to the line that closes it (multi-line values, newlines kept).
std::vector<std::pair<std::string, std::string>> ParseImport(std::istream& in) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::string t = TrimLine(line);
    if (t.empty() || t[0] == '#') continue;
    auto [k, v] = SplitPair(t, "stdin:" + std::to_string(lineno));
    k = TrimLine(k);
    if (v.rfind("\"\"\"", 0) == 0) {
      std::string val = v.substr(3);
      int start = lineno;
      bool closed = false;
      for (;;) {
        auto end = val.find("\"\"\"");
        if (end != std::string::npos) {
          val.resize(end);
          closed = true;
          break;
        }
        if (!std::getline(in, line)) break;
        ++lineno;
        val += "\n" + line;
      }
      if (!closed) throw CommandFailure("stdin:" + std::to_string(start) + ": " + k + ": \"\"\" is never closed");
      v = val;
    }
    out.emplace_back(k, v);
  }
  return out;
}

}  // namespace

void RegisterSecrets(CLI::App& root, Context& ctx) {
  auto* secrets = root.add_subcommand("secrets", "Manage the app's secrets (encrypted; given to machines as env)");
  secrets->require_subcommand(1);
  auto stage_help = "Only store them: machines get them at their next start or deploy";

  auto set = std::make_shared<State>();
  auto* sc = AddCommand(ctx, secrets, "set", "Set secrets: NAME=VALUE ...", [&ctx, set] {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (size_t i = 0; i < set->args.size(); ++i)
      pairs.push_back(SplitPair(set->args[i], "argument " + std::to_string(i + 1)));
    return Set(ctx, *set, pairs);
  });
  AddAppFlags(sc, &set->app, &set->config);
  sc->add_option("pairs", set->args, "NAME=VALUE pairs")->required();
  sc->add_flag("--stage", set->stage, stage_help);
  sc->add_option("--wait-timeout", set->wait, "Seconds to wait for each machine state while restarting")
      ->check(CLI::Range(1, 3600));

  auto imp = std::make_shared<State>();
  auto* ic = AddCommand(ctx, secrets, "import",
                        "Set secrets read from stdin (NAME=VALUE lines, \"\"\"multi-line\"\"\" values)",
                        [&ctx, imp] { return Set(ctx, *imp, ParseImport(std::cin)); });
  AddAppFlags(ic, &imp->app, &imp->config);
  ic->add_flag("--stage", imp->stage, stage_help);
  ic->add_option("--wait-timeout", imp->wait, "Seconds to wait for each machine state while restarting")
      ->check(CLI::Range(1, 3600));

  auto ls = std::make_shared<State>();
  auto* lc = AddCommand(ctx, secrets, "list", "List the app's secrets: names and digests, never values", [&ctx, ls] {
    std::string app = AppName(ls->app, ls->config);
    json a = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app) + "/secrets");
    if (ls->json_out) {
      json out = json::array();  // flyctl's field names
      for (auto& s : a)
        out.push_back({{"Name", s.value("name", "")},
                       {"Digest", s.value("digest", "")},
                       {"CreatedAt", s.value("created_at", "")}});
      return PrintJson(ctx, out), 0;
    }
    std::vector<Row> rows;
    for (auto& s : a) rows.push_back({s.value("name", ""), s.value("digest", ""), s.value("created_at", "")});
    ctx.out << FormatTable({"NAME", "DIGEST", "CREATED AT"}, rows);
    return 0;
  });
  lc->alias("ls");
  AddAppFlags(lc, &ls->app, &ls->config);
  lc->add_flag("--json", ls->json_out, "JSON output");

  auto un = std::make_shared<State>();
  auto* uc = AddCommand(ctx, secrets, "unset", "Remove secrets by name", [&ctx, un] {
    std::string app = AppName(un->app, un->config);
    CallJson(ctx, "POST", "/v1/apps/" + UrlEnc(app) + "/secrets/unset", json{{"names", un->args}});
    std::string names;
    for (auto& n : un->args) names += (names.empty() ? "" : ", ") + n;
    ctx.out << "Unset secrets on " << app << ": " << names << "\n";
    AfterChange(ctx, app, *un);
    return 0;
  });
  AddAppFlags(uc, &un->app, &un->config);
  uc->add_option("names", un->args, "Secret names")->required();
  uc->add_flag("--stage", un->stage, stage_help);
  uc->add_option("--wait-timeout", un->wait, "Seconds to wait for each machine state while restarting")
      ->check(CLI::Range(1, 3600));
}

}  // namespace privcast::cli
