// RotateLogIfLarge: copytruncate rotation of a machine's log, with an O_APPEND writer that keeps
// its descriptor (as a machine does) and a LogTail reader that follows the file.
#include "supervisor/log_rotate.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "supervisor/log_tail.h"

namespace privcast::supervisor {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class LogRotateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/privcast-logrotate-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/m.log";
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  void Write(const std::string& s) { ASSERT_EQ(::write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  std::string dir_, path_;
  int fd_ = -1;
};

TEST_F(LogRotateTest, SmallLogIsLeftAlone) {
  Write("one\n");
  auto r = RotateLogIfLarge(path_, {.max_bytes = 100, .keep = 2});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(*r);
  EXPECT_EQ(Slurp(path_), "one\n");
  EXPECT_FALSE(std::filesystem::exists(path_ + ".1"));
  EXPECT_FALSE(*RotateLogIfLarge(dir_ + "/missing.log", {}));
}

TEST_F(LogRotateTest, RotatesKeepingNewestCopiesAndTheWriterGoesOnAtTheStart) {
  auto t = LogTail::Open(path_, LogTail::kAll);
  ASSERT_TRUE(t.ok());
  for (int round = 1; round <= 4; ++round) {
    std::string line = "round " + std::to_string(round) + " " + std::string(60, 'x') + "\n";
    Write(line);
    Write(line);
    auto seen = t->Read();
    ASSERT_TRUE(seen.ok());
    EXPECT_EQ(seen->size(), 2u) << "round " << round;
    auto r = RotateLogIfLarge(path_, {.max_bytes = 100, .keep = 2});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(*r);
    EXPECT_EQ(std::filesystem::file_size(path_), 0u);
    EXPECT_EQ(Slurp(path_ + ".1"), line + line);
    // A follower wakes on the truncation (inotify) and starts over at the new beginning.
    auto after = t->Read();
    ASSERT_TRUE(after.ok());
    EXPECT_TRUE(after->empty());
  }
  EXPECT_NE(Slurp(path_ + ".2").find("round 3"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".3"));  // keep = 2
  Write("after\n");  // the machine's descriptor is still good: O_APPEND lands at the new end
  EXPECT_EQ(Slurp(path_), "after\n");
  auto seen = t->Read();  // the follower restarts from the beginning of the shrunken file
  ASSERT_TRUE(seen.ok());
  ASSERT_EQ(seen->size(), 1u);
  EXPECT_EQ((*seen)[0], "after");
}

TEST_F(LogRotateTest, KeepZeroOnlyTruncatesAndZeroMaxNeverRotates) {
  Write(std::string(200, 'y') + "\n");
  EXPECT_FALSE(*RotateLogIfLarge(path_, {.max_bytes = 0, .keep = 2}));
  EXPECT_TRUE(*RotateLogIfLarge(path_, {.max_bytes = 100, .keep = 0}));
  EXPECT_EQ(std::filesystem::file_size(path_), 0u);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".1"));
}

}  // namespace
}  // namespace privcast::supervisor
