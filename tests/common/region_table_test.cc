#include "common/region_table.h"

#include <gtest/gtest.h>

namespace privcast {
namespace {

TEST(RegionTableTest, DefaultIsFlysRegionsByGreatCircle) {
  auto t = RegionTable::Default();
  ASSERT_NE(t->Find("ams"), nullptr);
  EXPECT_EQ(t->Find("syd")->name, "Sydney, Australia");
  EXPECT_EQ(t->Find("xyz"), nullptr);
  EXPECT_NEAR(t->DistanceKm("ams", "fra"), 365, 15);
  EXPECT_NEAR(t->DistanceKm("ams", "syd"), 16640, 100);
  EXPECT_EQ(t->DistanceKm("ams", "syd"), t->DistanceKm("syd", "ams"));
  EXPECT_EQ(t->DistanceKm("ams", "ams"), 0);
  EXPECT_EQ(t->DistanceKm("zzz", "zzz"), 0);
  EXPECT_EQ(t->DistanceKm("ams", "zzz"), RegionTable::kUnknownKm);
  for (size_t i = 1; i < t->regions().size(); ++i) EXPECT_LT(t->regions()[i - 1].code, t->regions()[i].code);
}

TEST(RegionTableTest, ExplicitDistancesWinBothWays) {
  RegionTable t({{"syd", "", -33.94, 151.18}, {"ams", "", 52.31, 4.76}, {"fra", "", 50.03, 8.57}},
                {{"syd", "ams", 100}});
  EXPECT_EQ(t.regions().front().code, "ams");    // sorted
  EXPECT_EQ(t.distances().front().from, "ams");  // normalised from < to
  EXPECT_EQ(t.DistanceKm("ams", "syd"), 100);
  EXPECT_EQ(t.DistanceKm("syd", "ams"), 100);
  EXPECT_NEAR(t.DistanceKm("fra", "syd"), 16480, 150);             // no explicit one: great circle
  EXPECT_EQ(t.DistanceKm("ams", "nrt"), RegionTable::kUnknownKm);  // not in this table
}

TEST(RegionTableTest, GreatCircle) {
  EXPECT_NEAR(GreatCircleKm(0, 0, 0, 180), 20015, 1);
  EXPECT_NEAR(GreatCircleKm(90, 0, -90, 0), 20015, 1);
  EXPECT_EQ(GreatCircleKm(10, 20, 10, 20), 0);
}

}  // namespace
}  // namespace privcast
