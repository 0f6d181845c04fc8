// LogStamps (write-time marks of machine logs) and the merged `privcast logs` history:
// marks appended as a log grows, reset when it is rotated, thinned when long; a machine line
// gets the time of the first mark at or past its end (or "now"); history is in time order
// across the event log and machine logs, formatted as flyctl shows machine lines.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "daemon/log_merge.h"
#include "daemon/log_stamps.h"

namespace privcast::daemon {
namespace {

namespace fs = std::filesystem;

class LogMergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pc-logmerge-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string P(const std::string& name) { return (dir_ / name).string(); }
  static void Append(const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::app | std::ios::binary);
    f << text;
  }
  fs::path dir_;
};

TEST_F(LogMergeTest, MarksFollowGrowthAndRestartAfterRotation) {
  std::string log = P("m.log");
  LogStamper st;
  st.Mark(log, 1000);  // no file yet: nothing
  EXPECT_TRUE(ReadLogMarks(log).empty());
  Append(log, "a\n");
  st.Mark(log, 2000);
  st.Mark(log, 2500);  // unchanged: no new mark
  Append(log, "bb\n");
  st.Mark(log, 3000);
  auto marks = ReadLogMarks(log);
  ASSERT_EQ(marks.size(), 2u);
  EXPECT_EQ(marks[0].size, 2u);
  EXPECT_EQ(marks[0].unix_ms, 2000);
  EXPECT_EQ(marks[1].size, 5u);
  EXPECT_EQ(StampFor(marks, 2, 9999), 2000) << "line 1 ends at 2";
  EXPECT_EQ(StampFor(marks, 5, 9999), 3000);
  EXPECT_EQ(StampFor(marks, 7, 9999), 9999) << "newer than the last mark: now";
  // copytruncate: the log shrinks; the old marks go.
  std::ofstream(log, std::ios::trunc) << "c\n";
  st.Mark(log, 4000);
  marks = ReadLogMarks(log);
  ASSERT_EQ(marks.size(), 1u);
  EXPECT_EQ(marks[0].size, 2u);
  EXPECT_EQ(marks[0].unix_ms, 4000);
  // A daemon restart (a new stamper) keeps marks that still fit the file.
  LogStamper again;
  Append(log, "d\n");
  again.Mark(log, 5000);
  EXPECT_EQ(ReadLogMarks(log).size(), 2u);
}

TEST_F(LogMergeTest, MarksStayBounded) {
  std::string log = P("chatty.log");
  LogStamper st;
  for (int i = 0; i < static_cast<int>(LogStamper::kMaxMarks) * 3; ++i) {
    Append(log, "x\n");
    st.Mark(log, 1000 + i);
  }
  auto marks = ReadLogMarks(log);
  EXPECT_LE(marks.size(), LogStamper::kMaxMarks);
  EXPECT_EQ(marks.back().unix_ms, 1000 + static_cast<int64_t>(LogStamper::kMaxMarks) * 3 - 1) << "the newest kept";
  for (size_t i = 1; i < marks.size(); ++i) EXPECT_LT(marks[i - 1].size, marks[i].size);
}

TEST_F(LogMergeTest, HistoryIsInTimeOrderAcrossEventsAndMachines) {
  std::string events = P("events.log"), m1 = P("m1.log");
  Append(events,
         "2026-11-22T03:48:00.100Z deploy created machine m1 (app)\n"
         "2026-11-22T03:48:02.000Z deploy release v1 deployed\n");
  int64_t t0 = LeadingTimeMs("2026-11-22T03:48:00.000Z");
  ASSERT_GT(t0, 0);
  LogStamper st;
  Append(m1, "boot\n");
  st.Mark(m1, t0 + 500);
  Append(m1, "later\npartial");
  st.Mark(m1, t0 + 2500);
  std::vector<LogSource> sources = {{"", "", events, 0}, {"m1", "ams", m1, 0}};
  auto h = MergedHistory(sources, -1, t0 + 9000);
  std::vector<std::string> text;
  for (auto& l : h) text.push_back(l.text);
  EXPECT_EQ(text, (std::vector<std::string>{"2026-11-22T03:48:00.100Z deploy created machine m1 (app)",
                                            "2026-11-22T03:48:00.500Z app[m1] ams [info] boot",
                                            "2026-11-22T03:48:02.000Z deploy release v1 deployed",
                                            "2026-11-22T03:48:02.500Z app[m1] ams [info] later"}));
  // The partial line comes once it is whole, stamped "now" (no mark covers it yet).
  Append(m1, " line\n");
  auto more = ReadNewLines(sources[1], t0 + 9000);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].text, "2026-11-22T03:48:09.000Z app[m1] ams [info] partial line");
  // tail keeps the newest lines.
  std::vector<LogSource> again = {{"", "", events, 0}, {"m1", "ams", m1, 0}};
  auto last2 = MergedHistory(again, 2, t0 + 9000);
  ASSERT_EQ(last2.size(), 2u);
  EXPECT_NE(last2[1].text.find("partial line"), std::string::npos);
  EXPECT_TRUE(MergedHistory(again, 0, t0).empty());
}

}  // namespace
}  // namespace privcast::daemon
