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
  if (known && it->second.size == size) return;
  std::string ts = MarksPath(log_path);
  std::vector<LogMark> marks;
  if (!known) {
    // First sight (a daemon start): the marks on disk still hold unless the log shrank.
    marks = ReadLogMarks(log_path);
    if (!marks.empty() && marks.back().size > size) marks.clear();
  } else if (size > it->second.size && it->second.marks < kMaxMarks) {
    // The common case: the log grew; append one mark.
    std::ofstream out(ts, std::ios::app);
    out << size << " " << now_ms << "\n";
    it->second = {size, it->second.marks + 1};
    return;
  } else if (size > it->second.size) {
    // Too many marks: drop every other old one (older lines get coarser times).
    auto all = ReadLogMarks(log_path);
    for (size_t i = 0; i < all.size(); ++i)
      if (i % 2 == 1 || i + 1 == all.size()) marks.push_back(all[i]);
  }
  // (A known log that shrank was rotated: its marks described the copied-away lines; none kept.)
  marks.push_back({size, now_ms});
  std::ofstream out(ts, std::ios::trunc);
  for (const auto& m : marks) out << m.size << " " << m.unix_ms << "\n";
  last_[log_path] = {size, marks.size()};
}

}  // namespace privcast::daemon
