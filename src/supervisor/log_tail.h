// LogTail: reads a machine's log file (its stdout+stderr, docs/supervisor.md#logs) as lines,
// optionally following appends with inotify — what `privcast logs [-f]` needs.
//
//   auto t = LogTail::Open(path, /*last_lines=*/100);   // start 100 lines from the end
//   for (;;) {
//     for (auto& line : *t->Read()) send(line);         // complete lines only
//     if (!*t->Wait(std::chrono::seconds(1))) ...       // false: timeout or Cancel()
//   }
//
// A partial last line is held back until its newline arrives. When the file shrinks
// (truncated or replaced) reading restarts from its beginning. fd() is the inotify fd, for
// a caller that multiplexes many tails in its own epoll (readable = call Read()).
// Thread-safety: one thread uses a LogTail; Cancel() may be called from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/fd.h"
#include "common/result.h"

namespace privcast::supervisor {

class LogTail {
 public:
  static constexpr size_t kAll = static_cast<size_t>(-1);
  // The file must exist (Supervisor::Start creates it). last_lines: how many existing lines
  // the first Read returns (kAll = whole file, 0 = only what is appended from now on).
  static Result<LogTail> Open(const std::string& path, size_t last_lines);

  LogTail(LogTail&&) = default;
  LogTail& operator=(LogTail&&) = default;

  // Complete lines (without '\n') available since the last call.
  Result<std::vector<std::string>> Read();
  // Blocks until the file changed (true), or timeout / Cancel() (false).
  Result<bool> Wait(Duration timeout);
  void Cancel();
  int fd() const { return inotify_.get(); }

 private:
  LogTail() = default;
  std::string path_;
  UniqueFd file_;
  UniqueFd inotify_;
  UniqueFd cancel_;  // eventfd
  uint64_t offset_ = 0;
  std::string partial_;
};

}  // namespace privcast::supervisor
