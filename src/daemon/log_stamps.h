// LogStamps: when each line of a machine's log was written, for `privcast logs` (its
// machine lines carry a timestamp and interleave in time with the proxy's events).
//
// A machine writes its log file itself (O_APPEND, nothing of the daemon in its write path,
// docs/supervisor.md#logs), so its lines carry no time. The daemon's log check (every
// --log-check-interval, 500 ms) records marks in a sidecar file `<log>.ts`, one line
// "<size> <unix_ms>" each time the log has grown: a line that ends at offset E was written after
// the last mark below E and no later than the first mark at or above E, so its time is that
// mark's, within one check interval. Lines newer than the last mark are stamped "now" by the
// reader. A log that shrank was rotated (copytruncate): its marks restart. The sidecar is kept
// small: past kMaxMarks marks, every other old mark is dropped (coarser times for old lines).
//
// LogStamper is used from one thread (the control loop); ReadLogMarks/StampFor from any.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace privcast::daemon {

struct LogMark {
  uint64_t size = 0;
  int64_t unix_ms = 0;
};

class LogStamper {
 public:
  static constexpr size_t kMaxMarks = 4096;
  // Records a mark for `log_path` when its size changed since the last call.
  void Mark(const std::string& log_path, int64_t now_ms);
  // Forgets every log but these (the machines that still exist).
  void Retain(const std::set<std::string>& log_paths);

 private:
  struct Seen {
    uint64_t size = 0;  // at the last mark
    size_t marks = 0;   // in the sidecar
  };
  std::map<std::string, Seen> last_;  // by log path
};

std::string MarksPath(const std::string& log_path);
// The marks of `log_path` in file order (sizes ascending); empty when there are none.
std::vector<LogMark> ReadLogMarks(const std::string& log_path);
// The time of a line ending at `end_offset` (see above); `fallback_ms` when no mark covers it.
int64_t StampFor(const std::vector<LogMark>& marks, uint64_t end_offset, int64_t fallback_ms);

}  // namespace privcast::daemon
