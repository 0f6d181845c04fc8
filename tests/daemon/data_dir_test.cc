// DataDir: modes of the directory and the store files, and the evidence of earlier state that
// keeps a lost store from being taken for a first start.
#include "daemon/data_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace privcast::daemon {
namespace {

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/privcast-datadir-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  static unsigned Mode(const std::string& path) {
    struct stat sb {};
    EXPECT_EQ(::stat(path.c_str(), &sb), 0) << path;
    return sb.st_mode & 07777;
  }
  std::string root_;
};

TEST_F(DataDirTest, DirectoryIsPrivateEvenWhenItExistedLooser) {
  std::string dir = root_ + "/data";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  auto d = DataDir::Open(dir);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(Mode(dir), 0700u);
  auto fresh = DataDir::Open(root_ + "/new/nested");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(Mode(root_ + "/new/nested"), 0700u);
}

TEST_F(DataDirTest, StoreFilesAreOwnerOnly) {
  auto d = DataDir::Open(root_ + "/data");
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->SecureStoreFiles().ok());
  EXPECT_EQ(Mode(d->store_path()), 0600u);
  for (const char* suffix : {"-wal", "-shm"}) {
    std::string f = d->store_path() + suffix;
    std::ofstream(f) << "x";
    ::chmod(f.c_str(), 0644);
  }
  ::chmod(d->store_path().c_str(), 0644);
  ASSERT_TRUE(d->SecureStoreFiles().ok());
  for (const char* suffix : {"", "-wal", "-shm"}) EXPECT_EQ(Mode(d->store_path() + suffix), 0600u) << suffix;
}

TEST_F(DataDirTest, PriorStateNamesWhatShowsAnEarlierDaemon) {
  auto d = DataDir::Open(root_ + "/data");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->PriorState(), "");
  ASSERT_TRUE(d->RecordHostId(0x5f3a2b10).ok());
  EXPECT_EQ(d->PriorState(), "host-id 5f3a2b10");
  std::filesystem::create_directories(d->machines_dir() + "/148e123a1b2c01");
  std::filesystem::create_directories(d->tls_dir());
  std::ofstream(d->tls_dir() + "/ca.key") << "k";
  EXPECT_EQ(d->PriorState(), "host-id 5f3a2b10, 1 machine directory, a TLS CA");
}

}  // namespace
}  // namespace privcast::daemon
