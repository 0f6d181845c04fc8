// Whole-file helpers shared by every module (the one place that opens, reads and writes
// small files with raw syscalls: cgroup and /proc knobs, state files, certificates, config).
//
// Errors are Status values naming the path and the failed call (no exceptions, no errno
// left for the caller to read). A missing file is kNotFound; other OS failures are kIo.
//
// Thread-safety: free functions with no shared state; concurrent calls on different paths
// are fine, on the same path they race like the syscalls they wrap.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/result.h"

namespace privcast {

// The whole file. kNotFound "cannot read PATH: <strerror>" when it does not exist, kIo when
// another open or read fails.
Result<std::string> ReadFile(const std::string& path);

// One write(2) of `data` into an existing file (no create, no truncate): the way cgroup and
// /proc knobs take a value. A short write is an error.
[[nodiscard]] Status WriteFile(const std::string& path, std::string_view data);

// Creates or truncates `path` with `mode` (before the umask) and writes all of `data`.
[[nodiscard]] Status WriteNewFile(const std::string& path, std::string_view data, mode_t mode = 0644);

// Replaces `path` atomically: writes PATH.tmp (created with `mode`), fsyncs it, renames it
// over `path`. A reader sees the old content or the new, never a part.
[[nodiscard]] Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode);

}  // namespace privcast
