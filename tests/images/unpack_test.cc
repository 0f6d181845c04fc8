#include "images/unpack.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace privcast::images {
namespace {

namespace fs = std::filesystem;

class UnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (owners, trusted xattrs, mknod)";
    char tmpl[] = "/tmp/pc-unpack-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ + "/src/etc/sub");
    fs::create_directories(dir_ + "/src/var/cache");
    std::ofstream(dir_ + "/src/etc/passwd") << "root:x:0:0::/root:/bin/sh\n";
    std::ofstream(dir_ + "/src/etc/.wh.gone") << "";
    std::ofstream(dir_ + "/src/var/cache/.wh..wh..opq") << "";
    ASSERT_EQ(::chown((dir_ + "/src/etc/passwd").c_str(), 33, 34), 0);
    ASSERT_EQ(::symlink("/etc/passwd", (dir_ + "/src/link").c_str()), 0);
    ASSERT_EQ(::link((dir_ + "/src/etc/passwd").c_str(), (dir_ + "/src/etc/hard").c_str()), 0);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string dir_;
};

TEST_F(UnpackTest, WhiteoutsOwnersLinks) {
  std::string tar = dir_ + "/layer.tar.gz";
  ASSERT_EQ(std::system(("tar -C " + dir_ + "/src --numeric-owner -czf " + tar + " .").c_str()), 0);
  ASSERT_TRUE(UnpackLayer(tar, dir_ + "/out").ok());
  struct stat st;
  ASSERT_EQ(::lstat((dir_ + "/out/etc/passwd").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 33u);
  EXPECT_EQ(st.st_gid, 34u);
  EXPECT_EQ(st.st_nlink, 2u);  // the hard link points inside the layer
  ASSERT_EQ(::lstat((dir_ + "/out/etc/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_NE(::access((dir_ + "/out/etc/.wh.gone").c_str(), F_OK), 0);
  char v[4] = {};
  EXPECT_EQ(::lgetxattr((dir_ + "/out/var/cache").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(v[0], 'y');
  ASSERT_EQ(::lstat((dir_ + "/out/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

TEST_F(UnpackTest, NothingLandsOutside) {
  // ../escape via a name rewritten by tar's --transform (tar itself refuses to create one).
  std::ofstream(dir_ + "/src/evil") << "x";
  std::string tar = dir_ + "/evil.tar";
  ASSERT_EQ(std::system(("tar -C " + dir_ + "/src -cf " + tar + " --transform 's,^evil$,../../evil,' evil").c_str()),
            0);
  EXPECT_FALSE(UnpackLayer(tar, dir_ + "/out2").ok());
  EXPECT_NE(::access((dir_ + "/evil").c_str(), F_OK), 0);
  EXPECT_FALSE(UnpackLayer(dir_ + "/missing.tar", dir_ + "/out3").ok());
}

}  // namespace
}  // namespace privcast::images
