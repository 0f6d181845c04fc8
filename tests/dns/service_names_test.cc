// <service>.svc.<app>.flycast and _services.<app>.internal (ADR 0013): per-network answers,
// the same NXDOMAIN for other orgs as for names that do not exist, and per-service pre-warm.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/service_scope.h"
#include "dns/resolver.h"
#include "tests/dns/fixture.h"

namespace privcast::dns {
namespace {

using namespace dnstest;  // NOLINT
using ::testing::ElementsAre;

// TwoOrgs plus app "shop" (acme): groups web and api, one service serving both (port 80) and
// a named service "metrics" serving api. shop.flycast, web.svc and api.svc on acme; api.svc
// also granted to beta. The web machine is started, the api machine stopped.
std::shared_ptr<Snapshot> WithShop() {
  auto s = TwoOrgs();
  uint32_t shop = AddApp(*s, "shop", "acme", kAcme);
  ServiceSpec all;
  all.ports.push_back(PortSpec{80, 80});
  ServiceSpec metrics;
  metrics.name = "metrics";
  metrics.processes = {"api"};
  metrics.ports.push_back(PortSpec{9100, 9100});
  s->apps[shop].services = {all, metrics};
  s->apps[shop].process_groups = {"api", "web"};
  AddMachine(*s, shop, "5d5d5d5d5d5d01", "ams", "web", MachineRunState::kStarted, 0x501);
  AddMachine(*s, shop, "5d5d5d5d5d5d02", "ams", "api", MachineRunState::kStopped, 0x502);
  AddFlycast(*s, shop, kAcme, 20);
  auto scoped = [&](uint32_t net, uint32_t n, const std::string& svc) {
    AddFlycast(*s, shop, net, n);
    s->flycast.back().service = svc;
    s->flycast.back().services = *ServiceScope(s->apps[shop].services, s->apps[shop].process_groups, svc);
  };
  scoped(kAcme, 21, "web");
  scoped(kAcme, 22, "api");
  scoped(kBeta, 23, "api");
  s->Index();
  return s;
}

class ServiceNamesTest : public ::testing::Test {
 protected:
  void SetUp() override { zone_ = Zone::Build(WithShop()); }
  Answer Q(ClientView v, const std::string& name, uint16_t type = kTypeAAAA) {
    Answer a = Ask(zone_.get(), v, name, type, ResolveOptions{});
    EXPECT_TRUE(a.parsed) << name;
    return a;
  }
  ZonePtr zone_;
};

TEST_F(ServiceNamesTest, EachServiceNameAnswersItsAddressOnTheClientsNetwork) {
  EXPECT_THAT(Q(Net(kAcme), "web.svc.shop.flycast").Aaaa(), ElementsAre("fdaa:0:10:0:1::15"));
  EXPECT_THAT(Q(Net(kAcme), "api.svc.shop.flycast").Aaaa(), ElementsAre("fdaa:0:10:0:1::16"));
  EXPECT_THAT(Q(Net(kBeta), "api.svc.shop.flycast").Aaaa(), ElementsAre("fdaa:0:20:0:1::17"));
  EXPECT_EQ(Q(Net(kAcme), "api.svc.shop.flycast").msg.answers[0].ttl, kTtlFlycast);
  // The app's own name still answers only the app's address.
  EXPECT_THAT(Q(Net(kAcme), "shop.flycast").Aaaa(), ElementsAre("fdaa:0:10:0:1::14"));
  EXPECT_THAT(Q(Host(), "api.svc.shop.flycast").Aaaa(), ElementsAre("fdaa:0:10:0:1::16", "fdaa:0:20:0:1::17"));
  // Case-insensitive like every name.
  EXPECT_THAT(Q(Net(kAcme), "API.Svc.Shop.flycast").Aaaa(), ElementsAre("fdaa:0:10:0:1::16"));
}

TEST_F(ServiceNamesTest, AnotherOrgGetsTheNxDomainOfANameThatDoesNotExist) {
  auto hidden = Q(Net(kBeta), "web.svc.shop.flycast");
  auto missing = Q(Net(kBeta), "web.svc.nosuchapp.flycast");
  EXPECT_EQ(hidden.rcode(), kNxDomain);
  EXPECT_EQ(missing.rcode(), kNxDomain);
  EXPECT_EQ(hidden.msg.authority, missing.msg.authority);
  EXPECT_EQ(Q(Net(kBeta), "shop.flycast").rcode(), kNxDomain);
  EXPECT_EQ(Q(Net(kBeta), "_services.shop.internal", kTypeTXT).rcode(), kNxDomain);
  // A service without an address, or no service at all: NXDOMAIN; the svc label alone: NODATA
  // where some service address is visible.
  EXPECT_EQ(Q(Net(kAcme), "metrics.svc.shop.flycast").rcode(), kNxDomain);
  EXPECT_EQ(Q(Net(kAcme), "nope.svc.shop.flycast").rcode(), kNxDomain);
  EXPECT_EQ(Q(Net(kAcme), "svc.shop.flycast").rcode(), kNoError);
  EXPECT_EQ(Q(Net(kAcme), "svc.web.flycast").rcode(), kNxDomain);  // web has no service addresses
  EXPECT_EQ(Q(Net(kAcme), "x.api.svc.shop.flycast").rcode(), kNxDomain);
  EXPECT_EQ(Q(Net(kAcme), "api.svc.shop.flycast", kTypeTXT).rcode(), kNoError);  // NODATA
}

TEST_F(ServiceNamesTest, ServicesTxtListsEveryServiceOfTheApp) {
  EXPECT_EQ(Q(Net(kAcme), "_services.shop.internal", kTypeTXT).Txt(), "api,metrics,web");
  EXPECT_EQ(Q(Host(), "_services.shop.internal", kTypeTXT).Txt(), "api,metrics,web");
  EXPECT_EQ(Q(Net(kAcme), "_services.web.internal", kTypeTXT).rcode(), kNoError);  // no services: empty
}

TEST_F(ServiceNamesTest, PrewarmNamesTheServiceWhoseMachinesAreAllStopped) {
  auto api = Q(Net(kAcme), "api.svc.shop.flycast");
  ASSERT_GE(api.outcome.prewarm_app, 0);
  ASSERT_GE(api.outcome.prewarm_service, 0);
  const ZoneApp& app = zone_->apps[api.outcome.prewarm_app];
  EXPECT_EQ(app.name, "shop");
  EXPECT_EQ(app.services[api.outcome.prewarm_service].name, "api");
  // web's machine runs: no pre-warm, though the api machine (same app) is stopped.
  EXPECT_EQ(Q(Net(kAcme), "web.svc.shop.flycast").outcome.prewarm_app, -1);
  EXPECT_EQ(Q(Net(kAcme), "shop.flycast").outcome.prewarm_app, -1);
}

TEST_F(ServiceNamesTest, SerialMovesOnlyForTheNetworkThatSeesANewServiceAddress) {
  auto s = WithShop();
  const uint32_t shop = s->FindApp("shop")->index;
  AddFlycast(*s, shop, kAcme, 30);
  s->flycast.back().service = "metrics";
  s->Index();
  auto z2 = Zone::Build(s);
  EXPECT_NE(zone_->Serial(Net(kAcme)), z2->Serial(Net(kAcme)));
  EXPECT_EQ(zone_->Serial(Net(kBeta)), z2->Serial(Net(kBeta)));
  EXPECT_THAT(Ask(z2.get(), Net(kAcme), "metrics.svc.shop.flycast", kTypeAAAA, ResolveOptions{}).Aaaa(),
              ElementsAre("fdaa:0:10:0:1::1e"));
}

}  // namespace
}  // namespace privcast::dns
