// H2IdTable (h2_upstream.h): an app connection's open streams by id — found by id, removed in any
// order, holes dropped at the front and squeezed out behind a long-lived stream.
#include <gtest/gtest.h>

#include <vector>

#include "proxy/h2_upstream.h"

namespace privcast::proxy {
namespace {

H2Stream* S(int i) { return reinterpret_cast<H2Stream*>(static_cast<uintptr_t>(0x1000 + 16 * i)); }

TEST(H2IdTable, FindsByIdAndForgetsWhatWasRemoved) {
  H2IdTable t;
  for (int id = 1; id <= 9; id += 2) t.Add(id, S(id));
  EXPECT_EQ(t.size(), 5u);
  EXPECT_EQ(t.Find(5), S(5));
  EXPECT_EQ(t.Find(4), nullptr);
  EXPECT_TRUE(t.Remove(5));
  EXPECT_FALSE(t.Remove(5));  // once
  EXPECT_FALSE(t.Remove(6));  // never there
  EXPECT_EQ(t.Find(5), nullptr);
  EXPECT_EQ(t.Find(7), S(7));
  EXPECT_TRUE(t.Remove(1));  // the front: the hole behind it (5) goes with it later
  EXPECT_TRUE(t.Remove(3));
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.TakeAll(), (std::vector<H2Stream*>{S(7), S(9)}));
  EXPECT_EQ(t.size(), 0u);
  t.Add(11, S(11));  // usable again
  EXPECT_EQ(t.Find(11), S(11));
}

// A stream that stays at the front while thousands end behind it: lookups stay right and what
// the table holds stays near what is live.
TEST(H2IdTable, HolesBehindALongStreamDoNotPileUp) {
  H2IdTable t;
  t.Add(1, S(1));
  for (int id = 3; id < 20001; id += 2) {
    t.Add(id, S(id));
    if (id >= 7) {
      ASSERT_TRUE(t.Remove(id - 4));
    }
  }
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.Find(1), S(1));
  EXPECT_EQ(t.Find(19999), S(19999));
  EXPECT_EQ(t.Find(19997), S(19997));
  EXPECT_EQ(t.Find(19995), nullptr);
  EXPECT_EQ(t.TakeAll(), (std::vector<H2Stream*>{S(1), S(19997), S(19999)}));
}

}  // namespace
}  // namespace privcast::proxy
