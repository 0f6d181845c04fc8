#include "images/reference.h"

#include <gtest/gtest.h>

namespace privcast::images {
namespace {

std::string Canon(const std::string& r) {
  auto s = ParseImageSource(r);
  EXPECT_TRUE(s.ok()) << r << ": " << s.status().message();
  return s.ok() ? s->canonical : "";
}

TEST(Reference, DockerHubDefaults) {
  EXPECT_EQ(Canon("nginx"), "docker.io/library/nginx:latest");
  EXPECT_EQ(Canon("nginx:1.25"), "docker.io/library/nginx:1.25");
  EXPECT_EQ(Canon("nginxdemos/hello"), "docker.io/nginxdemos/hello:latest");
  EXPECT_EQ(Canon("docker.io/library/nginx:1.25"), "docker.io/library/nginx:1.25");
  EXPECT_EQ(Canon("index.docker.io/library/nginx"), "docker.io/library/nginx:latest");
  EXPECT_EQ(Canon("docker://nginx"), "docker.io/library/nginx:latest");
}

TEST(Reference, OtherRegistries) {
  auto s = ParseImageSource("registry.local:5000/team/app:tag");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->registry, "registry.local:5000");
  EXPECT_EQ(s->canonical, "registry.local:5000/team/app:tag");
  EXPECT_EQ(s->transport, "docker://registry.local:5000/team/app:tag");
  EXPECT_FALSE(s->plain_http);
  EXPECT_EQ(Canon("localhost/app"), "localhost/app:latest");
}

TEST(Reference, Digests) {
  std::string d = "sha256:" + std::string(64, 'a');
  auto s = ParseImageSource("nginx@" + d);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->canonical, "docker.io/library/nginx@" + d);
  auto t = ParseImageSource("nginx:1.25@" + d);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->canonical, "docker.io/library/nginx:1.25@" + d);
  EXPECT_EQ(t->transport, "docker://docker.io/library/nginx@" + d);  // skopeo wants one of them
  EXPECT_FALSE(ParseImageSource("nginx@sha256:abc").ok());
}

TEST(Reference, PlainHttpOnlyForLoopbackOrListed) {
  EXPECT_TRUE(ParseImageSource("127.0.0.1:5000/a")->plain_http);
  EXPECT_TRUE(ParseImageSource("127.3.4.5:5000/a")->plain_http);
  EXPECT_TRUE(ParseImageSource("localhost:5000/a")->plain_http);
  EXPECT_TRUE(ParseImageSource("[::1]:5000/a")->plain_http);
  EXPECT_FALSE(ParseImageSource("128.0.0.1:5000/a")->plain_http);
  EXPECT_FALSE(ParseImageSource("127.example.com/a")->plain_http);
  EXPECT_FALSE(ParseImageSource("registry.local:5000/a")->plain_http);
  EXPECT_TRUE(ParseImageSource("registry.local:5000/a", {"registry.local:5000"})->plain_http);
  EXPECT_FALSE(ParseImageSource("registry.local/a", {"registry.local:5000"})->plain_http);
}

TEST(Reference, LocalSources) {
  EXPECT_EQ(ParseImageSource("oci:/x/layout:v1")->kind, ImageSource::kOciLayout);
  EXPECT_EQ(ParseImageSource("oci-archive:/x/a.tar")->kind, ImageSource::kOciArchive);
  EXPECT_EQ(ParseImageSource("docker-archive:/x/a.tar")->transport, "docker-archive:/x/a.tar");
  EXPECT_FALSE(ParseImageSource("oci:relative").ok());
}

TEST(Reference, BadOnesSayWhy) {
  for (const char* bad : {"", "Nginx", "nginx:", "nginx:-x", "a//b", "-a", "nginx@sha1:00", "a b"}) {
    auto s = ParseImageSource(bad);
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.status().message().find('\n'), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace privcast::images
