#include "daemon/app_events.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>

#include "common/log.h"
#include "common/mutex.h"

namespace privcast::daemon {

std::string AppEvents::IsoTime(int64_t unix_ms) {
  time_t secs = static_cast<time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

void AppEvents::Append(const std::string& app, const std::string& source, const std::string& text) {
  std::string line = IsoTime(clock_->WallUnixMillis()) + " " + source + " " + text + "\n";
  MutexLock l(&mu_);
  std::string path = PathFor(app);
  std::error_code ec;
  std::filesystem::create_directories(apps_dir_ + "/" + app, ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    log::Warn("daemon", "cannot append app event", {{"app", app}, {"path", path}});
    return;
  }
  ssize_t r = ::write(fd, line.data(), line.size());
  (void)r;
  ::close(fd);
}

}  // namespace privcast::daemon
