// The runtime record: what a later privcastd needs to adopt a running machine.
//
// Stored as <state dir>/runtime, text "key=value" lines, written atomically (temp + rename):
//   pid=<main pid>
//   start_time=<field 22 of /proc/<pid>/stat, clock ticks since boot>
//   cgroup=<absolute dir>        (one line per cgroup directory)
// pid + start_time identify one process across pid reuse; cgroup lines are checked against
// the process's membership before adoption. Values only; thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace privcast::supervisor {

struct RuntimeRecord {
  pid_t pid = -1;
  uint64_t start_time = 0;
  std::vector<std::string> cgroups;

  bool operator==(const RuntimeRecord&) const = default;
};

std::string FormatRecord(const RuntimeRecord& r);
Result<RuntimeRecord> ParseRecord(std::string_view text);
Status SaveRecord(const std::string& path, const RuntimeRecord& r);
Result<RuntimeRecord> LoadRecord(const std::string& path);

struct ProcStat {
  char state = '?';         // field 3: R, S, D, Z, X, ...
  uint64_t start_time = 0;  // field 22
};
// Parses /proc/<pid>/stat (the comm field may hold spaces and parentheses).
Result<ProcStat> ParseProcStat(std::string_view text);
Result<ProcStat> ReadProcStat(pid_t pid);

}  // namespace privcast::supervisor
