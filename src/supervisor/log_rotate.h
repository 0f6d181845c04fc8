// Size limit and rotation of a machine's log file (one tenant's stdout filled the
// data disk).
//
// A machine's stdout and stderr are that file, opened O_APPEND by the machine itself before its
// program runs, so that machines outlive the daemon with nothing of the daemon in their write
// path. A file the writer holds open cannot be renamed away, so rotation is logrotate's
// `copytruncate`: keep rotated copies `<log>.1` … `<log>.<keep>` (newest first), copy the log to
// `<log>.1`, then truncate it to 0; the writer's next O_APPEND write lands at the new end.
// Lines written between the copy and the truncation are lost (the documented cost of
// copytruncate); LogTail readers restart from the beginning of a shrunken file.
//
// Pure file operations, no state; call it off the data path. Thread-safe as the filesystem is.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace privcast::supervisor {

struct LogLimits {
  uint64_t max_bytes = 16ull << 20;  // rotate when the log is larger; 0 = never
  int keep = 2;                      // rotated copies kept (0: the log is only truncated)
};

// Rotates `path` when it is larger than limits.max_bytes. Returns whether it did; a missing
// file is Ok(false).
[[nodiscard]] Result<bool> RotateLogIfLarge(const std::string& path, const LogLimits& limits);

}  // namespace privcast::supervisor
