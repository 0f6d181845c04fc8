#include "daemon/plan.h"

#include <gtest/gtest.h>

#include "config/json.h"

namespace privcast::daemon {
namespace {

using V = std::vector<std::string>;

TEST(SplitCommandTest, SimpleCommandsBecomeArgv) {
  EXPECT_EQ(SplitCommand("nginx -g 'daemon off;'"), (V{"nginx", "-g", "daemon off;"}));
  EXPECT_EQ(SplitCommand("  bin/rails   server -b 0.0.0.0 "), (V{"bin/rails", "server", "-b", "0.0.0.0"}));
  const std::string py = "python3 -c \"print(\\\"hi\\\")\"";  // python3 -c "print(\"hi\")"
  EXPECT_EQ(SplitCommand(py), (V{"python3", "-c", "print(\"hi\")"}));
  EXPECT_EQ(SplitCommand("echo a\\ b"), (V{"echo", "a b"}));
  EXPECT_EQ(SplitCommand("server --opt=value"), (V{"server", "--opt=value"}));
  EXPECT_EQ(SplitCommand("/work/scripts/demo/hello-nginx"), (V{"/work/scripts/demo/hello-nginx"}));
}

TEST(SplitCommandTest, ShellSyntaxNeedsAShell) {
  EXPECT_FALSE(SplitCommand("a | b"));
  EXPECT_FALSE(SplitCommand("a && b"));
  EXPECT_FALSE(SplitCommand("a; b"));
  EXPECT_FALSE(SplitCommand("echo $HOME"));
  EXPECT_FALSE(SplitCommand("echo \"$HOME\""));
  EXPECT_FALSE(SplitCommand("ls *.txt"));
  EXPECT_FALSE(SplitCommand("a > out"));
  EXPECT_FALSE(SplitCommand("FOO=1 server"));
  EXPECT_FALSE(SplitCommand("echo 'unterminated"));
  EXPECT_FALSE(SplitCommand(""));
  EXPECT_FALSE(SplitCommand("   "));
}

// Deploy refuses a [processes] command a machine cannot exec, saying why.
TEST(CheckPlanCommandsTest, RefusesACommandUnderTheHostsTmp) {
  AppPlan plan;
  AppPlan::Group web;
  web.name = "web";
  web.command = "sh -c 'exec sleep 1'";
  AppPlan::Group demo;
  demo.name = "app";
  demo.command = "/tmp/x/scripts/demo/hello-nginx --port 80";
  AppPlan::Group none;  // no command: reported when its machine starts, not here
  none.name = "worker";
  plan.groups = {web, none};
  EXPECT_TRUE(CheckPlanCommands(plan).ok());
  plan.groups.push_back(demo);
  Status st = CheckPlanCommands(plan);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message().rfind("[processes] app: command \"/tmp/x/scripts/demo/hello-nginx\" does not exist inside "
                               "the machine: a machine sees only the host's /usr",
                               0),
            0u)
      << st.message();
  // A shell command needs /bin/sh only; [env] PATH is the machine's PATH.
  plan.groups = {web};
  plan.groups[0].command = "echo $HOME | cat";
  EXPECT_TRUE(CheckPlanCommands(plan).ok());
  plan.groups[0].command = "sleep 1";
  plan.env = {{"PATH", "/nonexistent"}};
  EXPECT_EQ(CheckPlanCommands(plan).message(),
            "[processes] web: command \"sleep\" is not found in the machine's PATH (/nonexistent)");
}

// Restart policy and kill signal travel as types from the config to the launch plan.
TEST(DecodePlanTest, RestartPolicyAndKillSignalAreTyped) {
  config::AppConfig c;
  c.app = "typed";
  c.kill_signal = KillSignal::Terminate();
  c.processes = {{"app", "./srv"}, {"worker", "./work"}, {"cron", "./cron"}};
  c.restart.push_back(config::RestartConfig{config::RestartPolicy::kNever, 0, {"worker"}});
  c.restart.push_back(config::RestartConfig{config::RestartPolicy::kAlways, 3, {"cron"}});
  store::Release rel;
  rel.app = "typed";
  rel.version = 1;
  rel.config_json = config::ToJson(c);
  auto plan = DecodePlan(rel);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->info.kill_signal, KillSignal::Terminate());
  EXPECT_EQ(plan->FindGroup("app")->restart, supervisor::RestartMode::kOnFailure);
  EXPECT_EQ(plan->FindGroup("worker")->restart, supervisor::RestartMode::kNever);
  EXPECT_EQ(plan->FindGroup("cron")->restart, supervisor::RestartMode::kAlways);
  EXPECT_EQ(plan->FindGroup("cron")->restart_retries, 3);
}

TEST(DecodePlanTest, UnknownRestartPolicyInAStoredReleaseIsAnError) {
  store::Release rel;
  rel.app = "typed";
  rel.version = 1;
  rel.config_json = R"({"app":"typed","restart":[{"policy":"sometimes"}]})";
  auto plan = DecodePlan(rel);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("policy"), std::string::npos) << plan.status().message();
}

}  // namespace
}  // namespace privcast::daemon
