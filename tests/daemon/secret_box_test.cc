// SecretBox (ADR 0012): AES-256-GCM round trip, tampering and misplaced values detected,
// the key file's creation and modes, digests; and a store that holds secrets never holds
// their values (the SQLite files are grepped).
#include "daemon/secret_box.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "store/registry.h"
#include "store/store.h"

namespace privcast::daemon {
namespace {

namespace fs = std::filesystem;

std::array<uint8_t, 32> Key(uint8_t fill) {
  std::array<uint8_t, 32> k{};
  k.fill(fill);
  return k;
}

struct TempDir {
  TempDir() {
    char t[] = "/tmp/secret-box-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

std::string Slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(SecretBox, RoundTripWithFreshNonces) {
  auto box = SecretBox::FromKey(Key(1));
  auto a = box.Seal("hunter2\nline two", "web/DB_PASSWORD");
  auto b = box.Seal("hunter2\nline two", "web/DB_PASSWORD");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b) << "a fresh nonce per seal";
  EXPECT_EQ(a->rfind("v1:", 0), 0u);
  EXPECT_EQ(a->find("hunter2"), std::string::npos);
  auto open = box.Open(*a, "web/DB_PASSWORD");
  ASSERT_TRUE(open.ok()) << open.status().ToString();
  EXPECT_EQ(*open, "hunter2\nline two");
  auto empty = box.Seal("", "web/EMPTY");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*box.Open(*empty, "web/EMPTY"), "");
}

TEST(SecretBox, TamperingAndMisplacementAreDetected) {
  auto box = SecretBox::FromKey(Key(1));
  std::string sealed = *box.Seal("value", "web/K");
  for (size_t i = 3; i < sealed.size(); ++i) {
    std::string t = sealed;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(box.Open(t, "web/K").ok()) << "flipped position " << i;
  }
  EXPECT_FALSE(box.Open(sealed, "other/K").ok()) << "moved to another app";
  EXPECT_FALSE(box.Open(sealed, "web/L").ok()) << "moved to another name";
  EXPECT_FALSE(SecretBox::FromKey(Key(2)).Open(sealed, "web/K").ok()) << "another key";
  EXPECT_FALSE(box.Open("v1:", "web/K").ok());
  EXPECT_FALSE(box.Open("value", "web/K").ok());
  EXPECT_FALSE(box.Open(sealed.substr(0, sealed.size() - 4), "web/K").ok()) << "truncated";
}

TEST(SecretBox, DigestIsKeyedAndStable) {
  auto a = SecretBox::FromKey(Key(1)), b = SecretBox::FromKey(Key(2));
  EXPECT_EQ(a.Digest("x"), a.Digest("x"));
  EXPECT_NE(a.Digest("x"), a.Digest("y"));
  EXPECT_NE(a.Digest("x"), b.Digest("x")) << "a digest cannot be checked against guesses without the key";
  EXPECT_EQ(a.Digest("x").size(), 16u);
}

TEST(SecretBox, KeyFileIsCreatedPrivateAndReused) {
  TempDir d;
  std::string path = d.path + "/secrets.key";
  auto first = SecretBox::LoadOrCreate(path);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  auto second = SecretBox::LoadOrCreate(path);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second->Open(*first->Seal("v", "a/K"), "a/K"), "v") << "the same key after a restart";

  ::chmod(path.c_str(), 0644);
  auto loose = SecretBox::LoadOrCreate(path);
  EXPECT_FALSE(loose.ok());
  EXPECT_NE(loose.status().message().find("chmod 600"), std::string::npos) << loose.status().message();
  ::chmod(path.c_str(), 0600);
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << "short"; }
  EXPECT_FALSE(SecretBox::LoadOrCreate(path).ok());
}

TEST(SecretBox, StoreHoldsNoPlaintext) {
  TempDir d;
  const std::string kValue = "plaintext-4b1d-never-stored";
  auto box = SecretBox::FromKey(Key(7));
  {
    auto st = store::OpenSqliteStore({d.path + "/store.db"});
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    FakeClock clock;
    store::Registry reg(st->get(), &clock);
    ASSERT_TRUE(reg.Bootstrap("ams", "test").ok());
    ASSERT_TRUE(reg.CreateApp("web", std::nullopt, std::nullopt).ok());
    store::Secret s{"web", "DB_PASSWORD", box.Digest(kValue), *box.Seal(kValue, "web/DB_PASSWORD"), 1};
    ASSERT_TRUE(reg.SetSecrets("web", {s}).ok());
    auto list = reg.ListSecrets("web");
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ(*box.Open((*list)[0].sealed, "web/DB_PASSWORD"), kValue);
    EXPECT_FALSE(reg.UnsetSecrets("web", {"NOPE"}).ok());
    EXPECT_FALSE(reg.SetSecrets("nope", {s}).ok());
  }
  int files = 0;
  for (auto& e : fs::directory_iterator(d.path)) {
    ++files;
    EXPECT_EQ(Slurp(e.path()).find(kValue), std::string::npos) << e.path();
  }
  EXPECT_GE(files, 1);
}

}  // namespace
}  // namespace privcast::daemon
