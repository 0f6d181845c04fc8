#include "config/region_file.h"

#include <gtest/gtest.h>

namespace privcast::config {
namespace {

TEST(RegionFileTest, RegionsAndDistances) {
  auto t = ParseRegionFile(R"(
[regions.ams]
name = "Amsterdam"
latitude = 52.31
longitude = 4.76

[regions.syd]
latitude = -33.94
longitude = 151

[[distances]]
between = ["syd", "ams"]
km = 100
)",
                           "regions.toml");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const RegionTable& r = **t;
  ASSERT_EQ(r.regions().size(), 2u);
  EXPECT_EQ(r.Find("ams")->name, "Amsterdam");
  EXPECT_EQ(r.Find("syd")->longitude, 151);
  EXPECT_EQ(r.DistanceKm("ams", "syd"), 100);
  EXPECT_EQ(r.Find("fra"), nullptr);  // no base: only the file's regions
}

TEST(RegionFileTest, BaseFlyAddsAndReplaces) {
  auto t = ParseRegionFile(
      "base = \"fly\"\n[regions.ams]\nlatitude = 0\nlongitude = 0\n"
      "[regions.zrh]\nname = \"Zurich\"\nlatitude = 47.46\nlongitude = 8.55\n",
      "r.toml");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->regions().size(), RegionTable::Default()->regions().size() + 1);
  EXPECT_EQ((*t)->Find("ams")->latitude, 0);
  EXPECT_EQ((*t)->Find("syd")->name, "Sydney, Australia");
  EXPECT_NEAR((*t)->DistanceKm("zrh", "fra"), 290, 30);
}

TEST(RegionFileTest, EveryErrorWithFileLineColumn) {
  auto t = ParseRegionFile(R"(bse = "fly"
[regions.AMS]
latitude = 1
longitude = 2
[regions.fra]
latitude = 91
longitud = 8
[regions.syd]
latitude = "south"
longitude = 151
[[distances]]
between = ["syd", "nrt"]
km = 1
[[distances]]
between = ["syd"]
km = 1
[[distances]]
between = ["syd", "syd"]
km = 1
)",
                           "r.toml");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(t.status().message(),
            "r.toml:1:1: bse: unknown key (expected base, regions or distances)\n"
            "r.toml:2:10: regions.AMS: not a region code (3 lowercase letters, e.g. ams)\n"
            "r.toml:5:1: regions.fra: missing key \"longitude\"\n"
            "r.toml:6:12: regions.fra.latitude: expected a number in -90..90\n"
            "r.toml:7:1: regions.fra.longitud: unknown key (expected name, latitude, longitude)\n"
            "r.toml:9:12: regions.syd.latitude: expected a number in -90..90\n"
            "r.toml:12:19: distances[0].between: unknown region \"nrt\" (not in the table)\n"
            "r.toml:15:11: distances[1].between: expected two region codes, e.g. [\"ams\", \"syd\"]\n"
            "r.toml:18:11: distances[2].between: a region's distance to itself is 0");
}

TEST(RegionFileTest, SyntaxErrorsDuplicatesAndEmpty) {
  auto syntax = ParseRegionFile("[regions.ams\nlatitude = 1\n", "r.toml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.status().message().rfind("r.toml:1:", 0), 0u) << syntax.status().message();
  EXPECT_NE(syntax.status().message().find("syntax error"), std::string::npos);

  auto dup = ParseRegionFile(
      "base = \"fly\"\n[[distances]]\nbetween = [\"ams\", \"fra\"]\nkm = 1\n"
      "[[distances]]\nbetween = [\"fra\", \"ams\"]\nkm = 2\n",
      "r.toml");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().message(), "r.toml:6:11: distances[1].between: a second distance for ams-fra");

  auto self = ParseRegionFile("base = \"fly\"\n[[distances]]\nbetween = [\"ams\", \"ams\"]\nkm = 1\n", "r.toml");
  ASSERT_FALSE(self.ok());
  EXPECT_EQ(self.status().message(), "r.toml:3:11: distances[0].between: a region's distance to itself is 0");

  auto empty = ParseRegionFile("", "r.toml");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("no regions"), std::string::npos);

  auto base = ParseRegionFile("base = \"aws\"\n", "r.toml");
  ASSERT_FALSE(base.ok());
  EXPECT_EQ(base.status().message(), "r.toml:1:8: base: expected \"fly\" (Fly's built-in regions) or \"none\"");

  EXPECT_EQ(LoadRegionFile("/nonexistent/regions.toml").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace privcast::config
