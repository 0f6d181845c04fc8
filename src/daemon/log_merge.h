// The lines of `privcast logs` (GET /v1/apps/{app}/logs): the app's event log and its machines'
// logs, read incrementally and merged in time order.
//
// Event lines already read "<iso time> <source> <text>" (AppEvents). A machine's lines are its
// program's bytes; they are shown as flyctl shows them,
//   "<iso time> app[<machine id>] <region> [info] <text>"
// with the time its log's write-time marks give (LogStamps), or the reader's "now" for lines
// newer than the last mark. History is the last `tail` lines of all sources sorted by time
// (stable: a source's own order is kept among equal times).
//
// Plain data and functions; a LogSource belongs to one reader thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace privcast::daemon {

struct LogSource {
  std::string machine_id;  // "" for the app's event log
  std::string region;      // the machine's
  std::string path;
  uint64_t offset = 0;  // bytes consumed so far (whole lines)
};

struct LogLine {
  int64_t unix_ms = 0;
  std::string text;  // formatted, without the newline
};

// Whole lines appended to s.path since s.offset (a partial last line is left for later; a file
// that shrank, i.e. was rotated, is read again from its start), each with its time and format.
std::vector<LogLine> ReadNewLines(LogSource& s, int64_t now_ms);
// The last `tail` lines of all sources, oldest first (tail < 0: all).
std::vector<LogLine> MergedHistory(std::vector<LogSource>& sources, int64_t tail, int64_t now_ms);
// "2026-11-22T03:10:00.123Z" → unix ms; -1 when the line does not start with such a time.
int64_t LeadingTimeMs(const std::string& line);

}  // namespace privcast::daemon
