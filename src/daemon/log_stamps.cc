// Write-time marks of machine logs (daemon/log_stamps.h).
#include "daemon/log_stamps.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>

namespace privcast::daemon {

std::string MarksPath(const std::string& log_path) { return log_path + ".ts"; }

std::vector<LogMark> ReadLogMarks(const std::string& log_path) {
  std::vector<LogMark> out;
  std::ifstream in(MarksPath(log_path));
  LogMark m;
  while (in >> m.size >> m.unix_ms) out.push_back(m);
  return out;
}

int64_t StampFor(const std::vector<LogMark>& marks, uint64_t end_offset, int64_t fallback_ms) {
  auto it = std::lower_bound(marks.begin(), marks.end(), end_offset,
                             [](const LogMark& m, uint64_t off) { return m.size < off; });
  return it == marks.end() ? fallback_ms : it->unix_ms;
}

void LogStamper::Retain(const std::set<std::string>& log_paths) {
  for (auto it = last_.begin(); it != last_.end();) it = log_paths.count(it->first) ? std::next(it) : last_.erase(it);
}

void LogStamper::Mark(const std::string& log_path, int64_t now_ms) {
  struct stat st {};
  if (::stat(log_path.c_str(), &st) != 0) return;
  uint64_t size = static_cast<uint64_t>(st.st_size);
  auto it = last_.find(log_path);
  bool known = it != last_.end();
  if (known && it->second == size) return;
  std::string ts = MarksPath(log_path);
  std::vector<LogMark> marks;
  // First sight (daemon start) or a rotated (shrunk) log: the marks on disk may be stale.
  // A shrunk log was rotated: its marks described the copied-away lines, so they all go.
  if (!known) {
    marks = ReadLogMarks(log_path);
    if (!marks.empty() && marks.back().size > size) marks.clear();
  }
  last_[log_path] = size;
  if (known && size >= it->second) {
    // The common case: append one mark. Thin the file when it gets long.
    struct stat ts_st {};
    if (::stat(ts.c_str(), &ts_st) == 0 && static_cast<size_t>(ts_st.st_size) > kMaxMarks * 24) {
      marks = ReadLogMarks(log_path);
      std::vector<LogMark> thin;
      for (size_t i = 0; i < marks.size(); ++i)
        if (i % 2 == 1 || i + 1 == marks.size()) thin.push_back(marks[i]);
      marks = std::move(thin);
    } else {
      std::ofstream out(ts, std::ios::app);
      out << size << " " << now_ms << "\n";
      return;
    }
  }
  marks.push_back({size, now_ms});
  std::ofstream out(ts, std::ios::trunc);
  for (const auto& m : marks) out << m.size << " " << m.unix_ms << "\n";
}

}  // namespace privcast::daemon
