#include "daemon/plan.h"

#include <algorithm>

#include "config/json.h"
#include "config/services.h"
#include "supervisor/launch.h"

namespace privcast::daemon {

// NOLINTNEXTLINE(readability-function-size): one shell-word tokenizer state machine, read top to bottom
std::optional<std::vector<std::string>> SplitCommand(const std::string& command) {
  std::vector<std::string> argv;
  std::string cur;
  bool in_word = false;
  enum { kNone, kSingle, kDouble } quote = kNone;
  for (size_t i = 0; i < command.size(); ++i) {
    char c = command[i];
    if (quote == kSingle) {
      if (c == '\'') quote = kNone;
      else cur.push_back(c);
      continue;
    }
    if (quote == kDouble) {
      if (c == '"') {
        quote = kNone;
      } else if (c == '\\' && i + 1 < command.size() &&
                 std::string_view("\"\\$`").find(command[i + 1]) != std::string_view::npos) {
        cur.push_back(command[++i]);
      } else if (c == '$' || c == '`') {
        return std::nullopt;  // expansion: needs a shell
      } else {
        cur.push_back(c);
      }
      continue;
    }
    switch (c) {
      case ' ':
      case '\t':
        if (in_word) argv.push_back(std::move(cur));
        cur.clear();
        in_word = false;
        break;
      case '\'':
        quote = kSingle;
        in_word = true;
        break;
      case '"':
        quote = kDouble;
        in_word = true;
        break;
      case '\\':
        if (i + 1 >= command.size()) return std::nullopt;
        cur.push_back(command[++i]);
        in_word = true;
        break;
      case '|':
      case '&':
      case ';':
      case '<':
      case '>':
      case '(':
      case ')':
      case '$':
      case '`':
      case '*':
      case '?':
      case '[':
      case '#':
      case '~':
      case '\n':
      case '{':
      case '}':
      case '=':
        if (c == '=' && in_word) {  // VAR=x prefix needs a shell; '=' inside an argument is fine
          if (!argv.empty()) {
            cur.push_back(c);
            break;
          }
          return std::nullopt;
        }
        if (c == '=' || c == '#' || c == '~') {
          if (c == '=' || in_word) {
            cur.push_back(c);
            in_word = true;
            break;
          }
        }
        return std::nullopt;
      default:
        cur.push_back(c);
        in_word = true;
    }
  }
  if (quote != kNone) return std::nullopt;
  if (in_word) argv.push_back(std::move(cur));
  if (argv.empty()) return std::nullopt;
  return argv;
}

Status CheckMachineCommand(const std::vector<std::string>& argv,
                           const std::vector<std::pair<std::string, std::string>>& env) {
  if (argv.empty()) return InvalidArgument("the command is empty");
  std::vector<std::string> kv;
  kv.reserve(env.size());
  for (const auto& [k, v] : env) kv.push_back(k + "=" + v);
  return supervisor::CheckProgramInMachine(argv[0], kv);
}

Status CheckPlanCommands(const AppPlan& plan) {
  for (const auto& g : plan.groups) {
    if (g.command.empty()) continue;
    auto argv = SplitCommand(g.command);
    Status st = CheckMachineCommand(argv ? *argv : std::vector<std::string>{"/bin/sh"}, plan.env);
    if (!st.ok()) return Status(st.code(), "[processes] " + g.name + ": " + st.message());
  }
  return Status::Ok();
}

supervisor::RestartMode ToRestartMode(config::RestartPolicy p) {
  // Exhaustive (no default): a policy added to the config is a compile error here, never a
  // silent fallback.
  switch (p) {
    case config::RestartPolicy::kAlways:
      return supervisor::RestartMode::kAlways;
    case config::RestartPolicy::kNever:
      return supervisor::RestartMode::kNever;
    case config::RestartPolicy::kOnFailure:
      return supervisor::RestartMode::kOnFailure;
  }
  PC_CHECK(false);  // unreachable: p is one of the enumerators above
  return supervisor::RestartMode::kOnFailure;
}

Result<AppPlan> DecodePlan(const store::Release& release) {
  auto cfg = config::FromJson(release.config_json);
  if (!cfg.ok()) return cfg.status();
  const config::AppConfig& c = cfg.value();
  AppPlan plan;
  plan.info.primary_region = c.primary_region;
  plan.info.services = config::ToServiceSpecs(c);
  plan.info.process_groups = config::ProcessGroups(c);
  plan.info.kill_signal = c.kill_signal;
  plan.info.kill_timeout_ms = c.kill_timeout_ms;
  plan.env = c.env;
  plan.image = c.image;
  for (const auto& name : config::ProcessGroups(c)) {
    AppPlan::Group g;
    g.name = name;
    g.command = config::CommandFor(c, name);
    g.has_services = config::GroupHasServices(c, name);
    for (const auto& s : config::ServicesForGroup(c, name))
      if (std::find(g.internal_ports.begin(), g.internal_ports.end(), s.internal_port) == g.internal_ports.end())
        g.internal_ports.push_back(s.internal_port);
    g.memory_mb = config::MemoryMbFor(c, name);
    g.cpus = config::CpusFor(c, name);
    auto r = config::RestartFor(c, name);
    g.restart = ToRestartMode(r.policy);
    g.restart_retries = static_cast<int>(r.retries);
    g.persist_rootfs = config::PersistRootfsFor(c, name);
    if (const config::MountConfig* m = config::MountFor(c, name))
      g.mount = AppPlan::Mount{m->source, m->destination, m->initial_size_gb.value_or(1)};
    plan.groups.push_back(std::move(g));
  }
  return plan;
}

}  // namespace privcast::daemon
