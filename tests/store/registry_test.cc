#include "store/registry.h"

#include <gtest/gtest.h>

#include <set>

#include "common/addr.h"
#include "common/ids.h"
#include "store/keys.h"
#include "store/region_record.h"
#include "test_util.h"

namespace privcast::store {
namespace {

using testing::Dump;
using testing::OpenMemory;
using testing::OpenOrDie;
using testing::TempDir;
using S = MachineState;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenMemory();
    reg_ = std::make_unique<Registry>(store_.get(), &clock_);
    auto h = reg_->Bootstrap("ams", "box1");
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    host_ = *h;
  }

  App MustApp(const std::string& name, std::optional<std::string> org = std::nullopt,
              std::optional<std::string> net = std::nullopt) {
    auto a = reg_->CreateApp(name, org, net);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? *a : App{};
  }
  Machine MustMachine(const std::string& app, S state = S::kCreated) {
    MachineSpec spec;
    spec.app = app;
    spec.initial_state = state;
    auto m = reg_->CreateMachine(spec);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? *m : Machine{};
  }
  // Walks a machine through legal transitions to `to`.
  void MustTransition(const std::string& id, S to) {
    auto m = reg_->TransitionMachine(id, {}, to, "test");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
  }

  FakeClock clock_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<Registry> reg_;
  Host host_;
};

// --- bootstrap --------------------------------------------------------------------------------

TEST_F(RegistryTest, BootstrapCreatesHostAndPersonalOrg) {
  EXPECT_GE(host_.id, addr::kFirstHostId);
  EXPECT_EQ(host_.region, "ams");
  EXPECT_EQ(host_.hostname, "box1");
  auto org = reg_->GetOrg("personal");
  ASSERT_TRUE(org.ok());
  EXPECT_EQ(org->default_network, "default");
  auto net = reg_->GetNetwork("personal", "default");
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->is_default);
  EXPECT_NE(net->net32, 0u);
  auto local = reg_->GetLocalHost();
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->id, host_.id);
}

TEST_F(RegistryTest, BootstrapIsIdempotent) {
  int64_t rev = *store_->Revision();
  auto again = reg_->Bootstrap("ams", "box1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, host_.id);
  EXPECT_EQ(*store_->Revision(), rev);  // nothing written
  auto moved = reg_->Bootstrap("fra", "box2");
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->id, host_.id);
  EXPECT_EQ(reg_->GetLocalHost()->region, "fra");
  EXPECT_EQ(reg_->ListNetworks(std::nullopt)->size(), 1u);
}

TEST(RegistryBootstrap, HostIdSurvivesRestart) {
  TempDir dir;
  FakeClock clock;
  uint32_t id = 0, net32 = 0;
  {
    auto s = OpenOrDie(dir.File("db"));
    Registry r(s.get(), &clock);
    id = r.Bootstrap("ams", "h")->id;
    net32 = r.GetNetwork("personal", "default")->net32;
  }
  auto s = OpenOrDie(dir.File("db"));
  Registry r(s.get(), &clock);
  EXPECT_EQ(r.Bootstrap("ams", "h")->id, id);
  EXPECT_EQ(r.GetNetwork("personal", "default")->net32, net32);
}

TEST(RegistryBootstrap, RejectsBadRegionAndNeedsBootstrapForMachines) {
  auto s = OpenMemory();
  FakeClock clock;
  Registry r(s.get(), &clock);
  EXPECT_EQ(r.Bootstrap("AMS", "h").status().message(),
            "invalid region \"AMS\": a region code is 3 lowercase letters, e.g. ams");
  EXPECT_EQ(r.GetLocalHost().status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(*s->Revision(), 0);
}

// --- orgs and networks --------------------------------------------------------------------------

TEST_F(RegistryTest, Orgs) {
  auto acme = reg_->CreateOrg("acme");
  ASSERT_TRUE(acme.ok());
  EXPECT_EQ(acme->slug, "acme");
  EXPECT_EQ(acme->default_network, "default");
  EXPECT_TRUE(reg_->GetNetwork("acme", "default")->is_default);
  EXPECT_EQ(reg_->CreateOrg("acme").status().code(), Code::kAlreadyExists);
  EXPECT_EQ(reg_->CreateOrg("acme").status().message(), "org \"acme\" already exists");
  EXPECT_EQ(reg_->CreateOrg("Acme!").status().message(),
            "invalid org slug \"Acme!\": use 1-63 lowercase letters, digits and '-', not starting or ending with '-'");
  EXPECT_EQ(reg_->GetOrg("x").status().code(), Code::kNotFound);
  EXPECT_EQ(reg_->GetOrg("x").status().message(), "unknown org \"x\" (orgs: acme, personal)");
  auto all = reg_->ListOrgs();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].slug, "acme");
  EXPECT_EQ((*all)[1].slug, "personal");
}

TEST_F(RegistryTest, Networks) {
  ASSERT_TRUE(reg_->CreateOrg("acme").ok());
  auto n = reg_->CreateNetwork("acme", "blue");
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(n->is_default);
  EXPECT_EQ(n->org, "acme");
  EXPECT_EQ(reg_->CreateNetwork("acme", "blue").status().message(), "network \"blue\" already exists in org \"acme\"");
  EXPECT_EQ(reg_->CreateNetwork("acme", "default").status().code(), Code::kAlreadyExists);
  EXPECT_EQ(reg_->CreateNetwork("nope", "blue").status().message(), "unknown org \"nope\" (orgs: acme, personal)");
  EXPECT_EQ(reg_->CreateNetwork("acme", "-x").status().code(), Code::kInvalidArgument);
  // The same name in another org is a different network.
  ASSERT_TRUE(reg_->CreateNetwork("personal", "blue").ok());
  EXPECT_EQ(reg_->GetNetwork("acme", "red").status().message(),
            "unknown network \"red\" in org \"acme\" (networks: blue, default)");
  EXPECT_EQ(reg_->GetNetwork("zzz", "red").status().message(), "unknown org \"zzz\" (orgs: acme, personal)");
  auto acme = reg_->ListNetworks(std::string("acme"));
  ASSERT_EQ(acme->size(), 2u);
  auto all = reg_->ListNetworks(std::nullopt);
  ASSERT_EQ(all->size(), 4u);
  std::set<uint32_t> ids;
  for (const Network& x : *all) ids.insert(x.net32);
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(reg_->ListNetworks(std::string("zzz")).status().code(), Code::kNotFound);
}

// --- apps and releases --------------------------------------------------------------------------

TEST_F(RegistryTest, Apps) {
  App web = MustApp("web");
  EXPECT_EQ(web.org, "personal");
  EXPECT_EQ(web.network, "default");
  EXPECT_EQ(web.current_release, 0);
  ASSERT_TRUE(reg_->CreateOrg("acme").ok());
  ASSERT_TRUE(reg_->CreateNetwork("acme", "blue").ok());
  App db = MustApp("db", "acme", "blue");
  EXPECT_EQ(db.org, "acme");
  EXPECT_EQ(db.network, "blue");
  EXPECT_EQ(reg_->CreateApp("web", "acme", std::nullopt).status().message(), "app \"web\" already exists");
  EXPECT_EQ(reg_->CreateApp("x", "nope", std::nullopt).status().message(),
            "unknown org \"nope\" (orgs: acme, personal)");
  EXPECT_EQ(reg_->CreateApp("x", std::nullopt, "blue").status().message(),
            "unknown network \"blue\" in org \"personal\" (networks: default)");
  EXPECT_EQ(reg_->CreateApp("Web_1", std::nullopt, std::nullopt).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(reg_->GetApp("foo").status().message(), "unknown app \"foo\" (apps: db, web)");
  EXPECT_EQ(reg_->GetApp("db")->network, "blue");
  auto list = reg_->ListApps();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "db");
}

TEST_F(RegistryTest, UnknownListsAreCutShort) {
  for (int i = 0; i < 25; ++i) MustApp("a" + std::to_string(100 + i));
  EXPECT_EQ(reg_->GetApp("zz").status().message(),
            "unknown app \"zz\" (apps: a100, a101, a102, a103, a104, a105, a106, a107, a108, a109, a110, a111, "
            "a112, a113, a114, a115, a116, a117, a118, a119, and 5 more)");
  auto s = OpenMemory();
  Registry empty(s.get(), &clock_);
  EXPECT_EQ(empty.GetApp("zz").status().message(), "unknown app \"zz\" (apps: none)");
}

TEST_F(RegistryTest, Releases) {
  MustApp("web");
  EXPECT_FALSE(reg_->CurrentRelease("web")->has_value());
  auto r1 = reg_->CreateRelease("web", R"({"v":1})", "app = 'web'");
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->version, 1);
  auto r2 = reg_->CreateRelease("web", R"({"v":2})", "app = 'web' # 2");
  EXPECT_EQ(r2->version, 2);
  EXPECT_EQ(reg_->GetApp("web")->current_release, 2);
  auto cur = reg_->CurrentRelease("web");
  ASSERT_TRUE(cur.ok() && cur->has_value());
  EXPECT_EQ((*cur)->config_json, R"({"v":2})");
  EXPECT_EQ(reg_->GetRelease("web", 1)->source, "app = 'web'");
  EXPECT_EQ(reg_->GetRelease("web", 3).status().message(), "unknown release 3 of app \"web\" (releases: 1, 2)");
  EXPECT_EQ(reg_->CreateRelease("nope", "{}", "").status().message(), "unknown app \"nope\" (apps: web)");
  EXPECT_EQ(reg_->CurrentRelease("nope").status().code(), Code::kNotFound);
}

// --- machines -----------------------------------------------------------------------------------

TEST_F(RegistryTest, CreateMachineFillsEverything) {
  MustApp("web");
  auto net = *reg_->GetNetwork("personal", "default");
  Machine m = MustMachine("web");
  EXPECT_TRUE(ids::IsMachineId(m.id)) << m.id;
  EXPECT_EQ(m.app, "web");
  EXPECT_EQ(m.org, "personal");
  EXPECT_EQ(m.network, "default");
  EXPECT_EQ(m.net32, net.net32);
  EXPECT_EQ(m.host_id, host_.id);
  EXPECT_EQ(m.region, "ams");
  EXPECT_EQ(m.process_group, "app");
  EXPECT_EQ(m.state, S::kCreated);
  EXPECT_NE(m.machine32, 0u);
  EXPECT_EQ(m.link_slot, 0u);
  EXPECT_GT(m.mod_revision, 0);
  EXPECT_EQ(m.created_at, clock_.WallUnixMillis());
  auto got = reg_->GetMachine(m.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->mod_revision, m.mod_revision);
  EXPECT_EQ(got->machine32, m.machine32);
}

TEST_F(RegistryTest, CreateMachineHonoursTheSpec) {
  MustApp("web");
  ASSERT_TRUE(reg_->CreateOrg("acme").ok());
  ASSERT_TRUE(reg_->CreateNetwork("personal", "blue").ok());
  ASSERT_TRUE(reg_->CreateRelease("web", "{}", "").ok());
  MachineSpec spec;
  spec.app = "web";
  spec.region = "fra";
  spec.process_group = "worker";
  spec.release_version = 1;
  spec.cmd = {"sleep", "1"};
  spec.env = {{"K", "V"}};
  spec.auto_destroy = true;
  spec.org = "acme";
  auto m = reg_->CreateMachine(spec);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->org, "acme");
  EXPECT_EQ(m->network, "default");
  EXPECT_EQ(m->net32, reg_->GetNetwork("acme", "default")->net32);
  EXPECT_EQ(m->region, "fra");
  EXPECT_EQ(m->process_group, "worker");
  EXPECT_EQ(m->cmd, spec.cmd);
  EXPECT_EQ(m->env, spec.env);
  EXPECT_TRUE(m->auto_destroy);
  EXPECT_EQ(m->release_version, 1);
  spec.org.reset();
  spec.network = "blue";
  auto b = reg_->CreateMachine(spec);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->org, "personal");
  EXPECT_EQ(b->network, "blue");
  EXPECT_EQ(b->link_slot, 1u);
  EXPECT_NE(b->machine32, m->machine32);
}

TEST_F(RegistryTest, CreateMachineErrors) {
  MustApp("web");
  MachineSpec spec;
  spec.app = "nope";
  EXPECT_EQ(reg_->CreateMachine(spec).status().message(), "unknown app \"nope\" (apps: web)");
  spec.app = "web";
  spec.region = "amsterdam";
  EXPECT_EQ(reg_->CreateMachine(spec).status().code(), Code::kInvalidArgument);
  spec.region = "";
  spec.release_version = 4;
  EXPECT_EQ(reg_->CreateMachine(spec).status().message(), "unknown release 4 of app \"web\" (releases: none)");
  spec.release_version = 0;
  spec.network = "red";
  EXPECT_EQ(reg_->CreateMachine(spec).status().message(),
            "unknown network \"red\" in org \"personal\" (networks: default)");
  spec.network.reset();
  spec.process_group = "Bad Group";
  EXPECT_EQ(reg_->CreateMachine(spec).status().code(), Code::kInvalidArgument);
  spec.process_group = "app";
  spec.initial_state = S::kDestroyed;
  EXPECT_EQ(reg_->CreateMachine(spec).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(reg_->ListMachines(std::nullopt)->empty());
}

TEST_F(RegistryTest, LinkSlotsAreLowestFree) {
  MustApp("web");
  std::vector<Machine> ms;
  for (int i = 0; i < 4; ++i) ms.push_back(MustMachine("web"));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(ms[i].link_slot, static_cast<uint32_t>(i));
  ASSERT_TRUE(reg_->DeleteMachine(ms[1].id).ok());
  EXPECT_EQ(MustMachine("web").link_slot, 1u);
  // A destroyed machine gives its slot back before its record is deleted.
  MustTransition(ms[2].id, S::kDestroying);
  MustTransition(ms[2].id, S::kDestroyed);
  Machine reuse = MustMachine("web");
  EXPECT_EQ(reuse.link_slot, 2u);
  // Deleting the destroyed record must not free the slot its successor now holds.
  ASSERT_TRUE(reg_->DeleteMachine(ms[2].id).ok());
  auto slot = store_->Get(keys::LinkSlot(host_.id, 2));
  ASSERT_TRUE(slot->has_value());
  EXPECT_EQ((*slot)->value, reuse.id);
  EXPECT_EQ(MustMachine("web").link_slot, 4u);
}

TEST_F(RegistryTest, TransitionMachineIsCompareAndSet) {
  MustApp("web");
  Machine m = MustMachine("web");
  auto started = reg_->TransitionMachine(m.id, {S::kCreated}, S::kStarting, "start requested");
  ASSERT_TRUE(started.ok());
  EXPECT_EQ(started->state, S::kStarting);
  EXPECT_EQ(started->last_event, "start requested");
  EXPECT_GT(started->mod_revision, m.mod_revision);
  EXPECT_EQ(reg_->GetMachine(m.id)->state, S::kStarting);
  auto lost = reg_->TransitionMachine(m.id, {S::kCreated, S::kStopped}, S::kStarting, "again");
  EXPECT_EQ(lost.status().code(), Code::kConflict);
  EXPECT_EQ(lost.status().message(), "machine " + m.id + " is starting, not created or stopped");
  auto illegal = reg_->TransitionMachine(m.id, {}, S::kSuspended, "x");
  EXPECT_EQ(illegal.status().code(), Code::kConflict);
  EXPECT_EQ(illegal.status().message(), "machine " + m.id + " cannot go from starting to suspended");
  MustTransition(m.id, S::kStarted);
  MustTransition(m.id, S::kSuspending);
  MustTransition(m.id, S::kSuspended);
  MustTransition(m.id, S::kStarting);
  EXPECT_EQ(reg_->TransitionMachine("00000000000000", {}, S::kStarting, "").status().message(),
            "unknown machine \"00000000000000\" (machines: " + m.id + ")");
}

TEST_F(RegistryTest, UpdateMachineRelease) {
  MustApp("web");
  Machine m = MustMachine("web");
  EXPECT_EQ(reg_->UpdateMachineRelease(m.id, 1).status().message(),
            "unknown release 1 of app \"web\" (releases: none)");
  ASSERT_TRUE(reg_->CreateRelease("web", "{}", "").ok());
  auto u = reg_->UpdateMachineRelease(m.id, 1);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->release_version, 1);
  EXPECT_EQ(reg_->GetMachine(m.id)->release_version, 1);
  MustTransition(m.id, S::kDestroying);
  EXPECT_EQ(reg_->UpdateMachineRelease(m.id, 1).status().code(), Code::kFailedPrecondition);
}

TEST_F(RegistryTest, ListAndDeleteMachines) {
  MustApp("web");
  MustApp("db");
  Machine a = MustMachine("web");
  MustMachine("web");
  MustMachine("db");
  EXPECT_EQ(reg_->ListMachines(std::nullopt)->size(), 3u);
  EXPECT_EQ(reg_->ListMachines(std::string("web"))->size(), 2u);
  EXPECT_EQ(reg_->ListMachines(std::string("nope")).status().code(), Code::kNotFound);
  ASSERT_TRUE(reg_->DeleteMachine(a.id).ok());
  EXPECT_EQ(reg_->ListMachines(std::string("web"))->size(), 1u);
  EXPECT_EQ(reg_->GetMachine(a.id).status().code(), Code::kNotFound);
  EXPECT_EQ(reg_->DeleteMachine(a.id).code(), Code::kNotFound);
  EXPECT_FALSE(store_->Get(keys::MachineId(a.id))->has_value());
  EXPECT_FALSE(store_->Get(keys::Machine32(host_.id, a.machine32))->has_value());
}

// --- flycast addresses --------------------------------------------------------------------------

TEST_F(RegistryTest, AllocateFlycastOnTheAppsNetwork) {
  MustApp("web");
  uint32_t net32 = reg_->GetNetwork("personal", "default")->net32;
  auto ip = reg_->AllocateFlycast("web", std::nullopt, std::nullopt);
  ASSERT_TRUE(ip.ok()) << ip.status().ToString();
  EXPECT_EQ(ip->address, addr::FlycastAddress(net32, 1).ToString());
  EXPECT_EQ(ip->type, "private_v6");
  EXPECT_EQ(ip->region, "global");
  EXPECT_EQ(ip->org, "personal");
  EXPECT_EQ(ip->network, "default");
  EXPECT_EQ(ip->net32, net32);
  // Idempotent: deploy --flycast on every deploy gets the same address, writes nothing.
  int64_t rev = *store_->Revision();
  auto again = reg_->AllocateFlycast("web", std::nullopt, std::nullopt);
  EXPECT_EQ(again->address, ip->address);
  EXPECT_EQ(*store_->Revision(), rev);
  MustApp("db");
  EXPECT_EQ(reg_->AllocateFlycast("db", std::nullopt, std::nullopt)->address,
            addr::FlycastAddress(net32, 2).ToString());
  EXPECT_EQ(reg_->AllocateFlycast("nope", std::nullopt, std::nullopt).status().message(),
            "unknown app \"nope\" (apps: db, web)");
}

TEST_F(RegistryTest, AllocateFlycastOnAnotherOrgOrNetwork) {
  MustApp("web");
  ASSERT_TRUE(reg_->CreateOrg("acme").ok());
  ASSERT_TRUE(reg_->CreateNetwork("personal", "blue").ok());
  auto acme = reg_->AllocateFlycast("web", std::string("acme"), std::nullopt);
  ASSERT_TRUE(acme.ok());
  EXPECT_EQ(acme->org, "acme");
  EXPECT_EQ(acme->network, "default");
  EXPECT_EQ(acme->address, addr::FlycastAddress(reg_->GetNetwork("acme", "default")->net32, 1).ToString());
  auto blue = reg_->AllocateFlycast("web", std::nullopt, std::string("blue"));
  ASSERT_TRUE(blue.ok());
  EXPECT_EQ(blue->org, "personal");
  EXPECT_EQ(blue->network, "blue");
  auto own = reg_->AllocateFlycast("web", std::nullopt, std::nullopt);
  EXPECT_EQ(own->network, "default");
  EXPECT_EQ(own->org, "personal");
  EXPECT_EQ(reg_->ListIps(std::string("web"))->size(), 3u);
  EXPECT_EQ(reg_->AllocateFlycast("web", std::string("nope"), std::nullopt).status().message(),
            "unknown org \"nope\" (orgs: acme, personal)");
  EXPECT_EQ(reg_->AllocateFlycast("web", std::nullopt, std::string("red")).status().message(),
            "unknown network \"red\" in org \"personal\" (networks: blue, default)");
  // --network names a network of the app's org, not of some other org.
  ASSERT_TRUE(reg_->CreateNetwork("acme", "green").ok());
  EXPECT_EQ(reg_->AllocateFlycast("web", std::nullopt, std::string("green")).status().code(), Code::kNotFound);
}

TEST_F(RegistryTest, ListAndReleaseIps) {
  MustApp("web");
  MustApp("db");
  auto w = *reg_->AllocateFlycast("web", std::nullopt, std::nullopt);
  auto d = *reg_->AllocateFlycast("db", std::nullopt, std::nullopt);
  EXPECT_EQ(reg_->ListIps(std::nullopt)->size(), 2u);
  auto web = reg_->ListIps(std::string("web"));
  ASSERT_EQ(web->size(), 1u);
  EXPECT_EQ((*web)[0].address, w.address);
  EXPECT_EQ(reg_->ListIps(std::string("nope")).status().code(), Code::kNotFound);
  EXPECT_EQ(reg_->ReleaseIp("web", d.address).message(),
            "app \"web\" has no address \"" + d.address + "\" (addresses: " + w.address + ")");
  EXPECT_EQ(reg_->ReleaseIp("web", "not-an-ip").message(), "invalid IP address \"not-an-ip\"");
  // Any spelling of the address works.
  auto parsed = Ip6::Parse(w.address);
  std::string longform;
  for (int i = 0; i < 8; ++i) longform += (i ? ":" : "") + keys::Hex32(parsed->Group(i)).substr(4);
  ASSERT_NE(longform, w.address);
  ASSERT_TRUE(reg_->ReleaseIp("web", longform).ok());
  EXPECT_TRUE(reg_->ListIps(std::string("web"))->empty());
  EXPECT_EQ(reg_->ReleaseIp("web", w.address).message(),
            "app \"web\" has no address \"" + w.address + "\" (addresses: none)");
  // Into the cooldown list, not reused at once.
  auto cooled = store_->Range(keys::ReleasedPrefix());
  ASSERT_EQ(cooled->kvs.size(), 1u);
  auto again = reg_->AllocateFlycast("web", std::nullopt, std::nullopt);
  EXPECT_NE(again->address, w.address);
}

// --- destroy app --------------------------------------------------------------------------------

TEST_F(RegistryTest, DestroyAppRefusesWhileMachinesRun) {
  MustApp("web");
  Machine m = MustMachine("web", S::kStarting);
  MustTransition(m.id, S::kStarted);
  Status st = reg_->DestroyApp("web");
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_EQ(st.message(),
            "app \"web\" has machines that are not stopped: " + m.id + " (started); stop or destroy them first");
  EXPECT_TRUE(reg_->GetApp("web").ok());
  EXPECT_EQ(reg_->DestroyApp("nope").message(), "unknown app \"nope\" (apps: web)");
}

TEST_F(RegistryTest, DestroyAppRemovesEverythingOfTheApp) {
  MustApp("web");
  MustApp("web2");  // a prefix-sharing neighbour that must survive
  ASSERT_TRUE(reg_->CreateOrg("acme").ok());
  ASSERT_TRUE(reg_->CreateRelease("web", "{}", "").ok());
  ASSERT_TRUE(reg_->CreateRelease("web2", "{}", "").ok());
  Machine a = MustMachine("web", S::kStopped);
  Machine b = MustMachine("web", S::kStarting);
  MustTransition(b.id, S::kDestroying);
  MustTransition(b.id, S::kDestroyed);
  Machine keep = MustMachine("web2");
  auto ip1 = *reg_->AllocateFlycast("web", std::nullopt, std::nullopt);
  auto ip2 = *reg_->AllocateFlycast("web", std::string("acme"), std::nullopt);
  auto ip3 = *reg_->AllocateFlycast("web2", std::nullopt, std::nullopt);
  ASSERT_TRUE(reg_->DestroyApp("web").ok());
  EXPECT_EQ(reg_->GetApp("web").status().code(), Code::kNotFound);
  EXPECT_EQ(reg_->GetMachine(a.id).status().code(), Code::kNotFound);
  EXPECT_EQ(reg_->GetMachine(b.id).status().code(), Code::kNotFound);
  EXPECT_TRUE(reg_->GetMachine(keep.id).ok());
  auto ips = reg_->ListIps(std::nullopt);
  ASSERT_EQ(ips->size(), 1u);
  EXPECT_EQ((*ips)[0].address, ip3.address);
  EXPECT_EQ(store_->Range(keys::ReleasedPrefix())->kvs.size(), 2u);
  // Nothing else of "web" is left anywhere: indexes, releases, slots.
  auto everything = store_->Range("");
  ASSERT_TRUE(everything.ok());
  for (const KeyValue& kv : everything->kvs) {
    if (kv.key.rfind("/released/", 0) == 0) continue;
    EXPECT_EQ(kv.key.find("/web/"), std::string::npos) << kv.key;
    EXPECT_NE(kv.value, a.id) << kv.key;
    EXPECT_NE(kv.value, ip1.address) << kv.key;
    EXPECT_NE(kv.value, ip2.address) << kv.key;
    EXPECT_NE(kv.key, keys::Ip(ip1.address));
  }
  EXPECT_EQ(store_->Range(keys::LinkSlotPrefix(host_.id))->kvs.size(), 1u);
  EXPECT_TRUE(reg_->CurrentRelease("web2")->has_value());
  // The name is free again.
  App again = MustApp("web");
  EXPECT_EQ(again.current_release, 0);
}

// --- load state ---------------------------------------------------------------------------------

TEST_F(RegistryTest, LoadStateReadsEverythingAtOneRevision) {
  ASSERT_TRUE(reg_->CreateOrg("acme").ok());
  MustApp("web");
  MustApp("db", "acme", std::nullopt);
  ASSERT_TRUE(reg_->CreateRelease("web", R"({"v":1})", "").ok());
  ASSERT_TRUE(reg_->CreateRelease("web", R"({"v":2})", "").ok());
  Machine m = MustMachine("web");
  MustMachine("db");
  ASSERT_TRUE(reg_->AllocateFlycast("web", std::nullopt, std::nullopt).ok());
  auto v = reg_->LoadState();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->revision, *store_->Revision());
  EXPECT_EQ(v->hosts.size(), 1u);
  EXPECT_EQ(v->hosts[0].id, host_.id);
  EXPECT_EQ(v->orgs.size(), 2u);
  EXPECT_EQ(v->networks.size(), 2u);
  EXPECT_EQ(v->apps.size(), 2u);
  EXPECT_EQ(v->machines.size(), 2u);
  EXPECT_EQ(v->ips.size(), 1u);
  ASSERT_EQ(v->current_releases.size(), 1u);
  EXPECT_EQ(v->current_releases[0].version, 2);
  EXPECT_EQ(v->current_releases[0].config_json, R"({"v":2})");
  for (const Machine& x : v->machines) {
    if (x.id == m.id) {
      EXPECT_EQ(x.mod_revision, m.mod_revision);
    }
  }
}

TEST_F(RegistryTest, CorruptRecordsAreReportedNotCrashed) {
  MustApp("web");
  testing::MustPut(store_.get(), keys::App("bad"), "{not json");
  auto v = reg_->LoadState();
  EXPECT_EQ(v.status().code(), Code::kInternal);
  EXPECT_EQ(v.status().message(), "corrupt record at /apps/bad: record is not valid JSON");
  EXPECT_EQ(reg_->GetApp("bad").status().code(), Code::kInternal);
  EXPECT_TRUE(reg_->GetApp("web").ok());
}

}  // namespace
}  // namespace privcast::store

namespace privcast::store {
namespace {

TEST_F(RegistryTest, RegionTableIsSharedThroughTheStore) {
  auto st = reg_->LoadState();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->regions, nullptr);  // nothing stored: callers use the built-in table
  RegionTable t({{"ams", "Amsterdam", 52.31, 4.76}, {"syd", "", -33.94, 151.18}}, {{"ams", "syd", 100}});
  bool changed = false;
  ASSERT_TRUE(reg_->PutRegionTable(t, &changed).ok());
  EXPECT_TRUE(changed);
  ASSERT_TRUE(reg_->PutRegionTable(t, &changed).ok());
  EXPECT_FALSE(changed);  // an equal table is not written again
  st = reg_->LoadState();
  ASSERT_TRUE(st.ok());
  ASSERT_NE(st->regions, nullptr);
  EXPECT_TRUE(*st->regions == t);
  EXPECT_EQ(st->regions->DistanceKm("syd", "ams"), 100);
  // A damaged record is ignored (built-in table), never a failed load.
  TxnRequest bad;
  bad.success.push_back(Op::Put(kRegionTableKey, "{\"regions\":[{\"code\":\"AMS\"}]}"));
  ASSERT_TRUE(store_->Txn(bad).ok());
  st = reg_->LoadState();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->regions, nullptr);
}

TEST(RegionRecordTest, RoundTripAndUntrustedInput) {
  RegionTable t({{"ams", "Amsterdam", 52.31, 4.76}, {"fra", "", 50.03, 8.57}}, {{"fra", "ams", 7.5}});
  auto back = DecodeRegionTable(EncodeRegionTable(t));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(**back == t);
  for (const char* bad :
       {"", "[]", "{\"regions\":1}", "{\"regions\":[{\"code\":\"ams\",\"latitude\":95,\"longitude\":0}]}",
        "{\"regions\":[],\"distances\":[{\"from\":\"ams\",\"to\":\"fra\",\"km\":-1}]}"})
    EXPECT_FALSE(DecodeRegionTable(bad).ok()) << bad;
}

}  // namespace
}  // namespace privcast::store
