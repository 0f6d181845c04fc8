#include "common/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace privcast {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/privcast-file-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const char* f : {"/a", "/a.tmp", "/knob"}) ::unlink((dir_ + f).c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(FileTest, MissingFileIsNotFoundNamingThePath) {
  auto r = ReadFile(dir_ + "/a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().message(), "cannot read " + dir_ + "/a: No such file or directory");
}

TEST_F(FileTest, WriteNewFileCreatesThenTruncates) {
  ASSERT_TRUE(WriteNewFile(dir_ + "/a", "first, longer", 0600).ok());
  ASSERT_TRUE(WriteNewFile(dir_ + "/a", "second", 0600).ok());
  EXPECT_EQ(ReadFile(dir_ + "/a").value(), "second");
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(FileTest, WriteFileNeedsAnExistingFile) {
  EXPECT_FALSE(WriteFile(dir_ + "/knob", "1").ok());
  ASSERT_TRUE(WriteNewFile(dir_ + "/knob", "").ok());
  ASSERT_TRUE(WriteFile(dir_ + "/knob", "max").ok());
  EXPECT_EQ(ReadFile(dir_ + "/knob").value(), "max");
}

TEST_F(FileTest, WriteFileAtomicReplacesAndLeavesNoTemp) {
  ASSERT_TRUE(WriteNewFile(dir_ + "/a", "old").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/a", "new", 0644).ok());
  EXPECT_EQ(ReadFile(dir_ + "/a").value(), "new");
  EXPECT_NE(::access((dir_ + "/a.tmp").c_str(), F_OK), 0);
}

TEST_F(FileTest, LargeFilesReadWhole) {
  std::string big(100000, 'x');
  big[99999] = 'y';
  ASSERT_TRUE(WriteNewFile(dir_ + "/a", big).ok());
  EXPECT_EQ(ReadFile(dir_ + "/a").value(), big);
}

}  // namespace
}  // namespace privcast
