#include <gtest/gtest.h>

#include "config/app_config.h"

namespace privcast::config {
namespace {

TEST(ConfigDuration, GoSyntax) {
  EXPECT_EQ(ParseDurationMs("5s"), 5000);
  EXPECT_EQ(ParseDurationMs("1m30s"), 90000);
  EXPECT_EQ(ParseDurationMs("500ms"), 500);
  EXPECT_EQ(ParseDurationMs("1.5h"), 5400000);
  EXPECT_EQ(ParseDurationMs("0"), 0);
  EXPECT_EQ(ParseDurationMs("2500us"), 2);
  EXPECT_EQ(ParseDurationMs("+3s"), 3000);
  EXPECT_FALSE(ParseDurationMs(""));
  EXPECT_FALSE(ParseDurationMs("5"));
  EXPECT_FALSE(ParseDurationMs("-5s"));
  EXPECT_FALSE(ParseDurationMs("5 s"));
  EXPECT_FALSE(ParseDurationMs("s"));
  EXPECT_FALSE(ParseDurationMs("."));
  EXPECT_FALSE(ParseDurationMs("99999999999999999999h"));
  EXPECT_FALSE(ParseDurationMs("3000000h"));  // > int64 nanoseconds
}

TEST(ConfigDuration, Format) {
  EXPECT_EQ(FormatDurationMs(0), "0s");
  EXPECT_EQ(FormatDurationMs(5000), "5s");
  EXPECT_EQ(FormatDurationMs(90000), "1m30s");
  EXPECT_EQ(FormatDurationMs(3600000), "1h");
  EXPECT_EQ(FormatDurationMs(1500), "1500ms");
}

TEST(ConfigMemory, Units) {
  EXPECT_EQ(ParseMemoryMb("256mb"), 256u);
  EXPECT_EQ(ParseMemoryMb("256"), 256u);
  EXPECT_EQ(ParseMemoryMb("1gb"), 1024u);
  EXPECT_EQ(ParseMemoryMb("1.5GB"), 1536u);
  EXPECT_EQ(ParseMemoryMb("4GiB"), 4096u);
  EXPECT_EQ(ParseMemoryMb(" 512 MB "), 512u);
  EXPECT_FALSE(ParseMemoryMb("lots"));
  EXPECT_FALSE(ParseMemoryMb("1tb"));
  EXPECT_FALSE(ParseMemoryMb("gb"));
  EXPECT_FALSE(ParseMemoryMb("1."));
  EXPECT_FALSE(ParseMemoryMb("99999999999999999999"));
}

TEST(ConfigDiagnostics, Format) {
  EXPECT_EQ((Diagnostic{"fly.toml", {3, 7}, "app", "bad"}).ToString(), "fly.toml:3:7: app: bad");
  EXPECT_EQ((Diagnostic{"fly.toml", {}, "app", "bad"}).ToString(), "fly.toml: app: bad");
  EXPECT_EQ((Diagnostic{"", {}, "app", "bad"}).ToString(), "app: bad");
  EXPECT_EQ((Diagnostic{"f", {1, 1}, "", "syntax error: x"}).ToString(), "f:1:1: syntax error: x");
}

}  // namespace
}  // namespace privcast::config
