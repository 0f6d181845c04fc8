// ImageStore with a fake skopeo (a shell script): pull failures surface skopeo's own message in
// one line, lookups never wait for a pull in progress (the control thread resolves images at
// every machine start), the operator's auth file reaches skopeo, and a deploy's Resolve reads
// a tag again but not a digest the store has (which Find matches by manifest).
#include "images/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

namespace privcast::images {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pc-imgstore-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string FakeSkopeo(const std::string& body) {
    std::string p = dir_ + "/skopeo";
    std::ofstream(p) << "#!/bin/sh\n" << body << "\n";
    ::chmod(p.c_str(), 0755);
    return p;
  }

  std::unique_ptr<ImageStore> Open(const std::string& skopeo) {
    ImageStoreOptions o;
    o.root = dir_ + "/images";
    o.skopeo = skopeo;
    auto s = ImageStore::Open(o);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }

  std::string dir_;
};

TEST_F(StoreTest, PullErrorIsSkopeosMessageInOneLine) {
  auto store = Open(FakeSkopeo(
      "echo 'time=\"2026-12-06T00:00:00Z\" level=fatal msg=\"initializing source docker://127.0.0.1:5000/x:v1: "
      "reading manifest v1 in 127.0.0.1:5000/x: manifest unknown\"' >&2; exit 1"));
  ASSERT_TRUE(store);
  auto r = store->Pull("127.0.0.1:5000/x:v1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "pull 127.0.0.1:5000/x:v1: initializing source docker://127.0.0.1:5000/x:v1: reading manifest v1 in "
            "127.0.0.1:5000/x: manifest unknown");
  EXPECT_TRUE(store->List().empty());
  EXPECT_FALSE(store->Pull("Bad Ref").ok());
}

TEST_F(StoreTest, RegistryErrorListsStayOneReadableLine) {
  auto store = Open(FakeSkopeo(
      "printf '%s\\n' 'time=\"2026-12-06T00:00:00Z\" level=fatal msg=\"reading manifest v1 in r/x: errors:\\ndenied: "
      "requested access to the resource is denied\\nunauthorized: authentication required\\n\"' >&2; exit 1"));
  ASSERT_TRUE(store);
  auto r = store->Pull("127.0.0.1:5000/x:v1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "pull 127.0.0.1:5000/x:v1: reading manifest v1 in r/x: errors: denied: requested access to the resource "
            "is denied; unauthorized: authentication required");
}

TEST_F(StoreTest, SkopeoGetsTheOperatorsAuthFileAndNothingOfRootsHome) {
  auto store = Open(FakeSkopeo("echo \"level=fatal msg=\\\"auth=$REGISTRY_AUTH_FILE home=$HOME\\\"\" >&2; exit 1"));
  ASSERT_TRUE(store);
  ::setenv("REGISTRY_AUTH_FILE", "/etc/privcast/auth.json", 1);
  auto r = store->Pull("registry.local:5000/x:v1");
  ::unsetenv("REGISTRY_AUTH_FILE");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "pull registry.local:5000/x:v1: auth=/etc/privcast/auth.json home=" + dir_ + "/images/tmp");
}

TEST_F(StoreTest, RegistryAuthFileIsCheckedAtOpenAndGivenToSkopeo) {
  ImageStoreOptions o;
  o.root = dir_ + "/images";
  o.skopeo = FakeSkopeo("echo \"level=fatal msg=\\\"auth=$REGISTRY_AUTH_FILE\\\"\" >&2; exit 1");
  o.auth_file = dir_ + "/missing.json";
  auto missing = ImageStore::Open(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("registry auth file " + o.auth_file), std::string::npos);
  o.auth_file = dir_ + "/bad.json";
  std::ofstream(o.auth_file) << "{\"user\": \"x\"}";
  auto bad = ImageStore::Open(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("config.json shape"), std::string::npos) << bad.status().message();
  o.auth_file = dir_ + "/auth.json";
  std::ofstream(o.auth_file) << R"({"auths": {"registry.local:5000": {"auth": "dTpw"}}})";
  auto store = ImageStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().message();
  // The flag wins over the environment privcastd was started with.
  ::setenv("REGISTRY_AUTH_FILE", "/etc/privcast/other.json", 1);
  auto r = (*store)->Pull("registry.local:5000/x:v1");
  ::unsetenv("REGISTRY_AUTH_FILE");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "pull registry.local:5000/x:v1: auth=" + o.auth_file);
}

TEST_F(StoreTest, ADigestReferenceFindsTheImagePulledByTagAndResolveReadsTagsAgain) {
  // skopeo counts its runs and fails (nothing is reachable): Resolve of a tag must ask it,
  // Resolve of a digest the store has must not.
  auto store = Open(FakeSkopeo("echo run >> " + dir_ + "/runs; echo 'level=fatal msg=\"unreachable\"' >&2; exit 1"));
  ASSERT_TRUE(store);
  const std::string id = "sha256:" + std::string(64, 'c'), manifest = "sha256:" + std::string(64, 'd');
  std::ofstream(dir_ + "/images/images/" + std::string(64, 'c') + ".json")
      << R"({"id": ")" << id << R"(", "manifest_digest": ")" << manifest
      << R"(", "refs": ["registry.local:5000/team/app:v1"], "layers": [], "config": {}})";
  auto by_digest = store->Find("registry.local:5000/team/app:v1@" + manifest);
  ASSERT_TRUE(by_digest.ok()) << by_digest.status().message();
  EXPECT_EQ(by_digest->id, id);
  EXPECT_TRUE(store->Find("registry.local:5000/team/app@" + manifest).ok());
  EXPECT_FALSE(store->Find("registry.local:5000/team/app@sha256:" + std::string(64, 'e')).ok());
  EXPECT_TRUE(store->Resolve("registry.local:5000/team/app@" + manifest).ok());
  EXPECT_FALSE(fs::exists(dir_ + "/runs")) << "a digest the store has is not fetched again";
  auto tag = store->Resolve("registry.local:5000/team/app:v1");
  ASSERT_FALSE(tag.ok()) << "a tag is read again at its source";
  EXPECT_EQ(tag.status().message(), "pull registry.local:5000/team/app:v1: unreachable");
  EXPECT_TRUE(fs::exists(dir_ + "/runs"));
}

TEST_F(StoreTest, MissingSkopeoSaysHowToInstallIt) {
  auto store = Open(dir_ + "/no-such-skopeo");
  ASSERT_TRUE(store);
  auto r = store->Pull("nginx");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("skopeo"), std::string::npos) << r.status().message();
}

TEST_F(StoreTest, LookupsDoNotWaitForAPull) {
  std::string flag = dir_ + "/go";
  std::string started = dir_ + "/started";
  // The fake transfer says it runs, waits (bounded) until the test lets it go, then fails.
  auto store = Open(FakeSkopeo("touch " + started + "; i=0; while [ ! -e " + flag +
                               " ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
                               "echo 'level=fatal msg=\"done\"' >&2; exit 1"));
  ASSERT_TRUE(store);
  auto pull = std::async(std::launch::async, [&] { return store->Pull("127.0.0.1:5000/slow:v1"); });
  // The pull holds its lock while its skopeo runs (up to 10 s unless released): wait for that.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::access(started.c_str(), F_OK) != 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(::access(started.c_str(), F_OK), 0) << "the fake skopeo never ran";
  auto t0 = std::chrono::steady_clock::now();
  auto found = store->Find("127.0.0.1:5000/slow:v1");
  auto listed = store->List();
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), Code::kNotFound);
  EXPECT_TRUE(listed.empty());
  EXPECT_EQ(pull.wait_for(std::chrono::seconds(0)), std::future_status::timeout) << "the pull must still be running";
  std::ofstream(flag) << "";
  auto r = pull.get();
  EXPECT_FALSE(r.ok());
  EXPECT_LT(waited, std::chrono::seconds(5));
}

}  // namespace
}  // namespace privcast::images
