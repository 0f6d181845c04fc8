#include "store/etcd/etcd_endpoints.h"

#include <gtest/gtest.h>

#include "store/etcd/etcd_store.h"

namespace privcast::store {
namespace {

TEST(StoreUrl, EtcdNamesIpv4AndBracketedIpv6) {
  auto u = ParseStoreUrl("etcd://h1:2379,10.0.0.2,[fd00:77::e]:2380");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(u->kind, StoreUrl::Kind::kEtcd);
  ASSERT_EQ(u->endpoints.size(), 3u);
  EXPECT_EQ(u->endpoints[0].Target(), "h1:2379");
  EXPECT_EQ(u->endpoints[1].Target(), "10.0.0.2:2379");
  EXPECT_EQ(u->endpoints[2].host, "fd00:77::e");
  EXPECT_EQ(u->endpoints[2].Target(), "[fd00:77::e]:2380");
}

TEST(StoreUrl, SqliteWithOrWithoutScheme) {
  auto a = ParseStoreUrl("sqlite:/var/lib/privcast/state.db");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, StoreUrl::Kind::kSqlite);
  EXPECT_EQ(a->sqlite_path, "/var/lib/privcast/state.db");
  EXPECT_EQ(ParseStoreUrl("/x/state.db")->sqlite_path, "/x/state.db");
}

TEST(StoreUrl, ErrorsNameTheBadPart) {
  struct {
    const char* url;
    const char* says;
  } cases[] = {
      {"etcd://", "no etcd endpoints"},
      {"etcd://a,,b", "empty endpoint"},
      {"etcd://fd00::e:2379", "brackets"},
      {"etcd://[fd00::e", "missing ']'"},
      {"etcd://[nope]:1", "not an IPv6 address"},
      {"etcd://h:99999", "bad port"},
      {"etcd://h:x", "bad port"},
      {"etcd://bad host", "bad host name"},
      {"redis://h", "unknown scheme"},
      {"sqlite:", "needs a path"},
  };
  for (const auto& c : cases) {
    auto u = ParseStoreUrl(c.url);
    ASSERT_FALSE(u.ok()) << c.url;
    EXPECT_EQ(u.status().code(), Code::kInvalidArgument) << c.url;
    EXPECT_NE(u.status().message().find(c.says), std::string::npos) << c.url << ": " << u.status().message();
  }
}

TEST(PrefixEnd, EtcdRangeEnds) {
  EXPECT_EQ(PrefixEnd("/a/"), "/a0");
  EXPECT_EQ(PrefixEnd(std::string("/p\xff", 3)), "/q");
  EXPECT_EQ(PrefixEnd(""), std::string(1, '\0'));
}

}  // namespace
}  // namespace privcast::store
