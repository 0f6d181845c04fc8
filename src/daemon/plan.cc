#include "daemon/plan.h"

#include <algorithm>

#include "config/json.h"
#include "config/services.h"
#include "supervisor/launch.h"

namespace privcast::daemon {

namespace {

// Shell words, one character at a time: one method per quoting state. Each returns false
// when the command needs a shell.
class WordSplitter {
 public:
  explicit WordSplitter(std::string_view command) : in_(command) {}

  std::optional<std::vector<std::string>> Run() {
    for (i_ = 0; i_ < in_.size(); ++i_) {
      const char c = in_[i_];
      bool ok = quote_ == kSingle ? SingleQuoted(c) : quote_ == kDouble ? DoubleQuoted(c) : Unquoted(c);
      if (!ok) return std::nullopt;
    }
    if (quote_ != kNone) return std::nullopt;
    if (in_word_) argv_.push_back(std::move(cur_));
    if (argv_.empty()) return std::nullopt;
    return std::move(argv_);
  }

 private:
  // Everything up to the closing quote is literal.
  bool SingleQuoted(char c) {
    if (c == '\'') quote_ = kNone;
    else cur_.push_back(c);
    return true;
  }

  // Literal but for \" \\ \$ \` (escaped) and expansions ($, `), which need a shell.
  bool DoubleQuoted(char c) {
    if (c == '"') {
      quote_ = kNone;
    } else if (c == '\\' && i_ + 1 < in_.size() &&
               std::string_view("\"\\$`").find(in_[i_ + 1]) != std::string_view::npos) {
      cur_.push_back(in_[++i_]);
    } else if (c == '$' || c == '`') {
      return false;  // expansion: needs a shell
    } else {
      cur_.push_back(c);
    }
    return true;
  }

  bool Unquoted(char c) {
    switch (c) {
      case ' ':
      case '\t':
        if (in_word_) argv_.push_back(std::move(cur_));
        cur_.clear();
        in_word_ = false;
        return true;
      case '\'':
        quote_ = kSingle;
        in_word_ = true;
        return true;
      case '"':
        quote_ = kDouble;
        in_word_ = true;
        return true;
      case '\\':
        if (i_ + 1 >= in_.size()) return false;
        cur_.push_back(in_[++i_]);
        in_word_ = true;
        return true;
      default:
        if (std::string_view("|&;<>()$`*?[#~\n{}=").find(c) != std::string_view::npos) return Special(c);
        cur_.push_back(c);
        in_word_ = true;
        return true;
    }
  }

  // A character with a meaning to the shell: most need one; '=', '#' and '~' are literal
  // where the shell takes them literally.
  bool Special(char c) {
    if (c == '=' && in_word_) return !argv_.empty() && Literal(c);  // VAR=x prefix needs a shell
    if (c == '=' || ((c == '#' || c == '~') && in_word_)) return Literal(c);
    return false;
  }

  bool Literal(char c) {
    cur_.push_back(c);
    in_word_ = true;
    return true;
  }

  enum Quote { kNone, kSingle, kDouble };
  const std::string_view in_;
  size_t i_ = 0;
  std::vector<std::string> argv_;
  std::string cur_;
  bool in_word_ = false;
  Quote quote_ = kNone;
};

}  // namespace

std::optional<std::vector<std::string>> SplitCommand(const std::string& command) { return WordSplitter(command).Run(); }

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
