#include <gtest/gtest.h>

#include "images/store.h"

namespace privcast::images {
namespace {

TEST(ImageConfig, TheFieldsThatDriveAMachine) {
  auto c = ParseImageConfig(R"({"architecture":"amd64","config":{"Entrypoint":["/bin/srv"],"Cmd":["-p","80"],
    "Env":["PATH=/bin","A=b"],"WorkingDir":"/app","User":"www:www",
    "ExposedPorts":{"8080/tcp":{},"53/udp":{},"80":{}}},"rootfs":{"type":"layers","diff_ids":[]}})");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->entrypoint, std::vector<std::string>{"/bin/srv"});
  EXPECT_EQ(c->cmd, (std::vector<std::string>{"-p", "80"}));
  EXPECT_EQ(c->env, (std::vector<std::string>{"PATH=/bin", "A=b"}));
  EXPECT_EQ(c->working_dir, "/app");
  EXPECT_EQ(c->user, "www:www");
  EXPECT_EQ(c->exposed_tcp_ports, (std::vector<uint16_t>{80, 8080}));
}

TEST(ImageConfig, EmptyAndBroken) {
  auto c = ParseImageConfig(R"({"rootfs":{}})");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->cmd.empty());
  EXPECT_FALSE(ParseImageConfig("{").ok());
  EXPECT_FALSE(ParseImageConfig("[]").ok());
}

TEST(LookupUser, NamesNumbersAndGroups) {
  const std::string passwd = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n";
  const std::string group = "root:x:0:\nstaff:x:50:\nwww:x:34:\n";
  EXPECT_EQ(LookupUser("", passwd, group)->first, 0u);
  EXPECT_EQ(*LookupUser("www", passwd, group), std::make_pair(33u, 34u));
  EXPECT_EQ(*LookupUser("www:staff", passwd, group), std::make_pair(33u, 50u));
  EXPECT_EQ(*LookupUser("33", passwd, group), std::make_pair(33u, 34u));
  EXPECT_EQ(*LookupUser("1000:1000", passwd, group), std::make_pair(1000u, 1000u));
  EXPECT_FALSE(LookupUser("nobody", passwd, group).ok());
  EXPECT_FALSE(LookupUser("www:wheel", passwd, group).ok());
  EXPECT_FALSE(LookupUser("70000", passwd, group).ok());
}

}  // namespace
}  // namespace privcast::images
