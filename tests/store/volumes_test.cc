// Registry volumes: create/list/get, the attach rules (one app, one machine at a time, one
// volume per machine), detach on machine delete, destroy refused while attached, and an
// app's volumes going with the app.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/ids.h"
#include "store/registry.h"
#include "test_util.h"

namespace privcast::store {
namespace {

using S = MachineState;

class VolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = testing::OpenMemory();
    reg_ = std::make_unique<Registry>(store_.get(), &clock_);
    ASSERT_TRUE(reg_->Bootstrap("ams", "box1").ok());
    ASSERT_TRUE(reg_->CreateApp("web", std::nullopt, std::nullopt).ok());
    ASSERT_TRUE(reg_->CreateApp("other", std::nullopt, std::nullopt).ok());
  }
  Volume MustVolume(const std::string& app, const std::string& name) {
    auto v = reg_->CreateVolume(app, name, "", 1);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : Volume{};
  }
  Machine MustMachine(const std::string& app, const std::string& volume_id = "", S state = S::kCreated) {
    MachineSpec spec;
    spec.app = app;
    spec.initial_state = state;
    spec.volume_id = volume_id;
    spec.volume_path = "/data";
    auto m = reg_->CreateMachine(spec);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : Machine{};
  }

  FakeClock clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<Registry> reg_;
};

TEST_F(VolumesTest, CreateListGet) {
  Volume a = MustVolume("web", "data");
  Volume b = MustVolume("web", "data");  // names are not unique (Fly)
  EXPECT_TRUE(ids::IsVolumeId(a.id)) << a.id;
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.region, "ams");
  EXPECT_EQ(a.size_gb, 1u);
  auto l = reg_->ListVolumes(std::string("web"));
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->size(), 2u);
  EXPECT_TRUE(reg_->ListVolumes(std::string("other"))->empty());
  EXPECT_EQ(reg_->GetVolume(a.id)->name, "data");
  EXPECT_EQ(reg_->GetVolume("vol_nope").status().code(), Code::kNotFound);
  EXPECT_EQ(reg_->CreateVolume("web", "Bad-Name", "", 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(reg_->CreateVolume("web", "ok", "", 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(reg_->CreateVolume("nope", "ok", "", 1).status().code(), Code::kNotFound);
  auto s = reg_->LoadState();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->volumes.size(), 2u);
}

TEST_F(VolumesTest, AttachRules) {
  Volume v = MustVolume("web", "data");
  Machine m1 = MustMachine("web", v.id);
  EXPECT_EQ(reg_->GetVolume(v.id)->attached_machine_id, m1.id);
  EXPECT_EQ(reg_->GetVolume(v.id)->attached_path, "/data");
  // Attached elsewhere: refused, at creation and by AttachVolume.
  MachineSpec spec;
  spec.app = "web";
  spec.volume_id = v.id;
  auto m2 = reg_->CreateMachine(spec);
  EXPECT_EQ(m2.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(m2.status().message().find("attached to machine " + m1.id), std::string::npos) << m2.status().message();
  Machine m3 = MustMachine("web");
  EXPECT_EQ(reg_->AttachVolume(v.id, m3.id, "/x").status().code(), Code::kFailedPrecondition);
  // Re-attaching to the same machine moves the path.
  EXPECT_EQ(reg_->AttachVolume(v.id, m1.id, "/srv")->attached_path, "/srv");
  // Another app's volume: refused.
  Machine o = MustMachine("other");
  auto cross = reg_->AttachVolume(v.id, o.id, "/data");
  EXPECT_EQ(cross.status().code(), Code::kInvalidArgument);
  EXPECT_NE(cross.status().message().find("belongs to app \"web\""), std::string::npos);
  // One volume per machine.
  Volume w = MustVolume("web", "more");
  EXPECT_EQ(reg_->AttachVolume(w.id, m1.id, "/more").status().code(), Code::kFailedPrecondition);
}

TEST_F(VolumesTest, DestroyRefusedWhileAttachedAndDetachOnMachineDelete) {
  Volume v = MustVolume("web", "data");
  Machine m = MustMachine("web", v.id);
  Status st = reg_->DestroyVolume(v.id);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("destroy that machine first"), std::string::npos);
  ASSERT_TRUE(reg_->DeleteMachine(m.id).ok());
  EXPECT_EQ(reg_->GetVolume(v.id)->attached_machine_id, "");
  Machine m2 = MustMachine("web", v.id);  // the freed volume attaches again
  EXPECT_EQ(reg_->GetVolume(v.id)->attached_machine_id, m2.id);
  ASSERT_TRUE(reg_->DeleteMachine(m2.id).ok());
  EXPECT_TRUE(reg_->DestroyVolume(v.id).ok());
  EXPECT_EQ(reg_->GetVolume(v.id).status().code(), Code::kNotFound);
}

TEST_F(VolumesTest, DestroyAppDestroysItsVolumes) {
  Volume v = MustVolume("web", "data");
  Volume keep = MustVolume("other", "data");
  MustMachine("web", v.id, S::kStopped);
  ASSERT_TRUE(reg_->DestroyApp("web").ok());
  EXPECT_EQ(reg_->GetVolume(v.id).status().code(), Code::kNotFound);
  EXPECT_TRUE(reg_->GetVolume(keep.id).ok());
  ASSERT_TRUE(reg_->CreateApp("web", std::nullopt, std::nullopt).ok());
  EXPECT_TRUE(reg_->ListVolumes(std::string("web"))->empty());
}

}  // namespace
}  // namespace privcast::store
