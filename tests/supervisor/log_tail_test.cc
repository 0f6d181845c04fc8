// LogTail: last-N lines, partial lines, follow with inotify, truncation, cancel.
#include "supervisor/log_tail.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

namespace privcast::supervisor {
namespace {

using Lines = std::vector<std::string>;

class LogTailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pcs-logtail-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/m.log";
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ASSERT_GE(fd_, 0);
  }
  void TearDown() override {
    ::close(fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  void Append(const std::string& s) { ASSERT_EQ(::write(fd_, s.data(), s.size()), (ssize_t)s.size()); }
  std::string dir_, path_;
  int fd_ = -1;
};

TEST_F(LogTailTest, LastLines) {
  Append("one\ntwo\nthree\nfour\n");
  EXPECT_EQ(*LogTail::Open(path_, 2)->Read(), (Lines{"three", "four"}));
  EXPECT_EQ(*LogTail::Open(path_, LogTail::kAll)->Read(), (Lines{"one", "two", "three", "four"}));
  EXPECT_EQ(*LogTail::Open(path_, 10)->Read(), (Lines{"one", "two", "three", "four"}));
  EXPECT_EQ(*LogTail::Open(path_, 0)->Read(), Lines{});
}

TEST_F(LogTailTest, PartialLineHeldBack) {
  auto t = LogTail::Open(path_, LogTail::kAll);
  ASSERT_TRUE(t.ok());
  Append("abc");
  EXPECT_EQ(*t->Read(), Lines{});
  Append("def\nghi");
  EXPECT_EQ(*t->Read(), Lines{"abcdef"});
  Append("\n");
  EXPECT_EQ(*t->Read(), Lines{"ghi"});
}

TEST_F(LogTailTest, FollowWakesOnAppend) {
  auto t = LogTail::Open(path_, 0);
  ASSERT_TRUE(t.ok());
  std::thread writer([this] { Append("late line\n"); });
  Lines got;
  for (int i = 0; i < 100 && got.empty(); ++i) {
    auto r = t->Read();
    ASSERT_TRUE(r.ok());
    got = *r;
    if (got.empty()) {
      ASSERT_TRUE(t->Wait(std::chrono::seconds(5)).ok());
    }
  }
  writer.join();
  EXPECT_EQ(got, Lines{"late line"});
}

TEST_F(LogTailTest, TruncationRestarts) {
  Append("old\n");
  auto t = LogTail::Open(path_, LogTail::kAll);
  EXPECT_EQ(*t->Read(), Lines{"old"});
  ASSERT_EQ(::ftruncate(fd_, 0), 0);
  Append("n\n");
  EXPECT_EQ(*t->Read(), Lines{"n"});
}

TEST_F(LogTailTest, CancelEndsWait) {
  auto t = LogTail::Open(path_, 0);
  ASSERT_TRUE(t.ok());
  std::thread c([&] { t->Cancel(); });
  auto r = t->Wait(std::chrono::seconds(30));
  c.join();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
}

}  // namespace
}  // namespace privcast::supervisor
