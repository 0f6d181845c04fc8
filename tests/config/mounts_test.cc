// [mounts] / [[mounts]] / [mount]: parsing, defaults, file:line:col errors, JSON round trip.
#include <string>

#include <gtest/gtest.h>

#include "config/json.h"
#include "config/load.h"
#include "parse_util.h"

namespace privcast::config {
namespace {

TEST(Mounts, TableArrayAndSingular) {
  AppConfig t = MustParse("[mounts]\nsource = \"data\"\ndestination = \"/data\"\n");
  ASSERT_EQ(t.mounts.size(), 1u);
  EXPECT_EQ(t.mounts[0].source, "data");
  EXPECT_EQ(t.mounts[0].destination, "/data");
  EXPECT_FALSE(t.mounts[0].initial_size_gb.has_value());
  EXPECT_TRUE(t.mounts[0].processes.empty());

  AppConfig a = MustParse(
      "[processes]\nweb = \"a\"\nworker = \"b\"\n"
      "[[mounts]]\nsource = \"web_data\"\ndestination = \"/srv/data\"\ninitial_size = \"10gb\"\nprocesses = [\"web\"]\n"
      "[[mounts]]\nsource = \"jobs\"\ndestination = \"/jobs\"\ninitial_size = 3\nprocesses = [\"worker\"]\n");
  ASSERT_EQ(a.mounts.size(), 2u);
  EXPECT_EQ(a.mounts[0].initial_size_gb, 10u);
  EXPECT_EQ(a.mounts[0].processes, std::vector<std::string>{"web"});
  EXPECT_EQ(a.mounts[1].initial_size_gb, 3u);

  AppConfig s = MustParse("[mount]\nsource = \"notes\"\ndestination = \"/var/lib/notes\"\ninitial_size = \"500mb\"\n");
  ASSERT_EQ(s.mounts.size(), 1u);
  EXPECT_EQ(s.mounts[0].initial_size_gb, 1u) << "sizes round up to whole GB";
}

TEST(Mounts, ErrorsPointAtTheValue) {
  EXPECT_NE(ErrorOf("[mounts]\ndestination = \"/data\"\n").find("fly.toml:1:1: mounts[0]: missing source"),
            std::string::npos)
      << ErrorOf("[mounts]\ndestination = \"/data\"\n");
  std::string e = ErrorOf("[mounts]\nsource = \"Bad-Name\"\ndestination = \"/data\"\n");
  EXPECT_NE(e.find("fly.toml:2:10: mounts[0].source: expected a volume name"), std::string::npos) << e;
  e = ErrorOf("[mounts]\nsource = \"data\"\ndestination = \"data\"\n");
  EXPECT_NE(e.find("fly.toml:3:15: mounts[0].destination: destination must be an absolute path"), std::string::npos)
      << e;
  EXPECT_NE(ErrorOf("[mounts]\nsource = \"data\"\ndestination = \"/\"\n").find("cannot be \"/\""), std::string::npos);
  EXPECT_NE(ErrorOf("[mounts]\nsource = \"data\"\ndestination = \"/proc/x\"\n").find("under /proc"), std::string::npos);
  EXPECT_NE(ErrorOf("[mounts]\nsource = \"data\"\ndestination = \"/a/../etc\"\n").find("\"..\""), std::string::npos);
  e = ErrorOf("[mounts]\nsource = \"data\"\ndestination = \"/data\"\ninitial_size = \"lots\"\n");
  EXPECT_NE(e.find("fly.toml:4:16: mounts[0].initial_size: expected a size"), std::string::npos) << e;
  e = ErrorOf("[mounts]\nsource = \"data\"\ndestination = \"/data\"\nprocesses = [\"nope\"]\n");
  EXPECT_NE(e.find("mounts[0].processes"), std::string::npos) << e;
}

TEST(Mounts, OneVolumePerMachine) {
  std::string e = ErrorOf(
      "[[mounts]]\nsource = \"a\"\ndestination = \"/a\"\n[[mounts]]\nsource = \"b\"\ndestination = \"/b\"\n");
  EXPECT_NE(e.find("mounts[1]: a machine mounts one volume"), std::string::npos) << e;
  e = ErrorOf(
      "[processes]\nweb = \"a\"\n"
      "[[mounts]]\nsource = \"a\"\ndestination = \"/a\"\nprocesses = [\"web\"]\n"
      "[[mounts]]\nsource = \"b\"\ndestination = \"/b\"\nprocesses = [\"web\"]\n");
  EXPECT_NE(e.find("process group \"web\" already mounts mounts[0]"), std::string::npos) << e;
}

TEST(Mounts, IgnoredKeysWarn) {
  auto r = ParseFlyToml("[mounts]\nsource = \"data\"\ndestination = \"/data\"\nauto_extend_size_threshold = 80\n",
                        "fly.toml");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].message.find("not extended automatically"), std::string::npos);
}

TEST(Mounts, JsonRoundTrip) {
  AppConfig a = MustParse(
      "[processes]\nweb = \"a\"\n"
      "[[mounts]]\nsource = \"web_data\"\ndestination = \"/srv/data\"\ninitial_size = 2\nprocesses = [\"web\"]\n");
  auto back = FromJson(ToJson(a));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->mounts, a.mounts);
  AppConfig none = MustParse("");
  EXPECT_EQ(ToJson(none).find("mounts"), std::string::npos) << "releases without mounts stay as they were";
}

}  // namespace
}  // namespace privcast::config
