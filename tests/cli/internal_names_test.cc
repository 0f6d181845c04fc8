// Fly's .internal names for `privcast proxy` (cli/internal_names.h): which names parse, and
// which machine's 6PN address answers (started and serving first; never a stopped one).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/internal_names.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

TEST(InternalNames, Parse) {
  auto a = ParseInternalName("web.internal");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->app, "web");
  auto r = ParseInternalName("ams.web.internal");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->region, "ams");
  auto m = ParseInternalName("3d8e0c5f2a1b7c.vm.web.internal");
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->machine_id, "3d8e0c5f2a1b7c");
  EXPECT_EQ((*m)->app, "web");
  for (const char* other : {"web.flycast", "internal", ".internal", "example.com"}) {
    auto o = ParseInternalName(other);
    EXPECT_TRUE(o.ok() && (!o->has_value() || (*o)->app.empty())) << other;
  }
  EXPECT_FALSE(ParseInternalName("a.b.c.web.internal").ok());
  EXPECT_FALSE(ParseInternalName("x.y.web.internal").ok()) << "3 labels must be <id>.vm.<app>";
}

TEST(InternalNames, PicksAStartedMachineServingFirst) {
  json ms = json::array({
      {{"id", "adhoc"}, {"state", "started"}, {"region", "ams"}, {"private_ip", "fdaa::a"}, {"services", false}},
      {{"id", "stopped1"}, {"state", "stopped"}, {"region", "ams"}, {"private_ip", "fdaa::b"}, {"services", true}},
      {{"id", "web1"}, {"state", "started"}, {"region", "ams"}, {"private_ip", "fdaa::c"}, {"services", true}},
      {{"id", "web2"}, {"state", "started"}, {"region", "syd"}, {"private_ip", "fdaa::d"}, {"services", true}},
  });
  InternalName app{"web", "", ""};
  EXPECT_EQ(*PickInternalAddress(app, ms, "web.internal"), "fdaa::c");
  EXPECT_EQ(*PickInternalAddress({"web", "syd", ""}, ms, "syd.web.internal"), "fdaa::d");
  EXPECT_EQ(*PickInternalAddress({"web", "", "adhoc"}, ms, "adhoc.vm.web.internal"), "fdaa::a");
  auto stopped = PickInternalAddress({"web", "", "stopped1"}, ms, "stopped1.vm.web.internal");
  ASSERT_FALSE(stopped.ok());
  EXPECT_NE(stopped.status().message().find("stopped1 is stopped"), std::string::npos) << stopped.status().message();
  EXPECT_NE(stopped.status().message().find("use web.flycast"), std::string::npos);
  EXPECT_FALSE(PickInternalAddress({"web", "fra", ""}, ms, "fra.web.internal").ok());
  EXPECT_FALSE(PickInternalAddress(app, json::array(), "web.internal").ok());
}

}  // namespace
}  // namespace privcast::cli
