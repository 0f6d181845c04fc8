// Reading and merging the app's event log and machine logs (daemon/log_merge.h).
#include "daemon/log_merge.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "common/strings.h"
#include "daemon/app_events.h"
#include "daemon/log_stamps.h"

namespace privcast::daemon {

int64_t LeadingTimeMs(const std::string& line) {
  std::optional<int64_t> secs = ParseIsoSeconds(line);
  if (!secs) return -1;
  // Milliseconds when ".mmm" follows (three digits), else 0.
  std::optional<int> ms;
  if (line.size() >= 23 && line[19] == '.') ms = ParseDecimal<int>(std::string_view(line).substr(20, 3));
  return *secs * 1000 + ms.value_or(0);
}

std::vector<LogLine> ReadNewLines(LogSource& s, int64_t now_ms) {
  std::vector<LogLine> out;
  struct stat st {};
  if (::stat(s.path.c_str(), &st) != 0) return out;
  if (static_cast<uint64_t>(st.st_size) < s.offset) s.offset = 0;  // rotated (copytruncate)
  if (static_cast<uint64_t>(st.st_size) == s.offset) return out;
  std::ifstream in(s.path, std::ios::binary);
  if (!in) return out;
  in.seekg(static_cast<std::streamoff>(s.offset));
  std::vector<LogMark> marks;
  if (!s.machine_id.empty()) marks = ReadLogMarks(s.path);
  std::string line;
  int64_t last_ms = 0;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no trailing newline: partial, read again later
    s.offset += line.size() + 1;
    LogLine l;
    if (s.machine_id.empty()) {
      l.unix_ms = LeadingTimeMs(line);
      if (l.unix_ms < 0) l.unix_ms = last_ms;  // keep an odd line beside its neighbours
      l.text = std::move(line);
    } else {
      l.unix_ms = StampFor(marks, s.offset, now_ms);
      l.text = AppEvents::IsoTime(l.unix_ms) + " app[" + s.machine_id + "] " + (s.region.empty() ? "-" : s.region) +
               " [info] " + line;
    }
    last_ms = l.unix_ms;
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<LogLine> MergedHistory(std::vector<LogSource>& sources, int64_t tail, int64_t now_ms) {
  std::vector<LogLine> all;
  for (auto& s : sources)
    for (auto& l : ReadNewLines(s, now_ms)) all.push_back(std::move(l));
  std::stable_sort(all.begin(), all.end(), [](const LogLine& a, const LogLine& b) { return a.unix_ms < b.unix_ms; });
  if (tail >= 0 && all.size() > static_cast<size_t>(tail)) all.erase(all.begin(), all.end() - tail);
  return all;
}

}  // namespace privcast::daemon
