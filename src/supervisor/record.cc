#include "supervisor/record.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <sstream>

#include "common/fd.h"
#include "common/file.h"
#include "supervisor/cgroup.h"

namespace privcast::supervisor {

std::string FormatRecord(const RuntimeRecord& r) {
  std::string s = "pid=" + std::to_string(r.pid) + "\nstart_time=" + std::to_string(r.start_time) + "\n";
  for (const auto& c : r.cgroups) s += "cgroup=" + c + "\n";
  return s;
}

Result<RuntimeRecord> ParseRecord(std::string_view text) {
  RuntimeRecord r;
  bool have_pid = false, have_start = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return InvalidArgument("runtime record: bad line");
    std::string_view k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "pid") {
      long p = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), p);
      if (ec != std::errc() || ptr != v.data() + v.size() || p <= 0) return InvalidArgument("runtime record: bad pid");
      r.pid = static_cast<pid_t>(p);
      have_pid = true;
    } else if (k == "start_time") {
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), r.start_time);
      if (ec != std::errc() || ptr != v.data() + v.size()) return InvalidArgument("runtime record: bad start_time");
      have_start = true;
    } else if (k == "cgroup") {
      if (v.empty() || v.front() != '/') return InvalidArgument("runtime record: bad cgroup");
      r.cgroups.emplace_back(v);
    }  // unknown keys: written by a newer privcastd, ignored
  }
  if (!have_pid || !have_start) return InvalidArgument("runtime record: missing pid or start_time");
  return r;
}

Status SaveRecord(const std::string& path, const RuntimeRecord& r) {
  std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return ErrnoStatus("open " + tmp, errno);
  std::string s = FormatRecord(r);
  if (::write(fd.get(), s.data(), s.size()) != static_cast<ssize_t>(s.size())) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("write " + tmp, err);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("rename " + path, err);
  }
  return Status::Ok();
}

Result<RuntimeRecord> LoadRecord(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (::access(path.c_str(), F_OK) != 0) return NotFound("no runtime record at " + path);
    return text.status();
  }
  return ParseRecord(*text);
}

Result<ProcStat> ParseProcStat(std::string_view text) {
  size_t close = text.rfind(')');
  if (close == std::string_view::npos || close + 2 >= text.size()) return InvalidArgument("bad /proc stat");
  std::string rest(text.substr(close + 2));  // starts at field 3
  std::istringstream in(rest);
  std::string field;
  ProcStat st;
  for (int i = 3; i <= 22; ++i) {
    if (!(in >> field)) return InvalidArgument("short /proc stat");
    if (i == 3) st.state = field.empty() ? '?' : field[0];
    if (i == 22) {
      auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), st.start_time);
      if (ec != std::errc()) return InvalidArgument("bad start time in /proc stat");
    }
  }
  return st;
}

Result<ProcStat> ReadProcStat(pid_t pid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text.ok()) return NotFound("no process " + std::to_string(pid));
  return ParseProcStat(*text);
}

}  // namespace privcast::supervisor
