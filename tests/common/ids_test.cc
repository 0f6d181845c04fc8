#include "common/ids.h"

#include <gtest/gtest.h>

#include <set>

namespace privcast {
namespace {

TEST(IdsTest, MachineIdsAreFourteenHexAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = ids::NewMachineId();
    EXPECT_TRUE(ids::IsMachineId(id)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_FALSE(ids::IsMachineId("3d8d9e1b4f2e8"));
  EXPECT_FALSE(ids::IsMachineId("3d8d9e1b4f2e8G"));
}

TEST(IdsTest, DnsLabelsAndRegions) {
  EXPECT_TRUE(ids::IsDnsLabel("flycast-demo"));
  EXPECT_TRUE(ids::IsDnsLabel("a"));
  EXPECT_FALSE(ids::IsDnsLabel("-a"));
  EXPECT_FALSE(ids::IsDnsLabel("a-"));
  EXPECT_FALSE(ids::IsDnsLabel("Web"));
  EXPECT_FALSE(ids::IsDnsLabel("a.b"));
  EXPECT_FALSE(ids::IsDnsLabel(std::string(64, 'a')));
  EXPECT_TRUE(ids::IsRegionCode("ams"));
  EXPECT_FALSE(ids::IsRegionCode("AMS"));
  EXPECT_FALSE(ids::IsRegionCode("am"));
}

TEST(IdsTest, RequestIdsSortByTime) {
  std::string a = ids::NewRequestId();
  std::string b = ids::NewRequestId();
  EXPECT_EQ(a.size(), 26u);
  EXPECT_LE(a.substr(0, 10), b.substr(0, 10));
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace privcast
