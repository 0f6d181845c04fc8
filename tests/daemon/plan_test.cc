#include "daemon/plan.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace privcast::daemon
