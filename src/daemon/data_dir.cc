#include "daemon/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

namespace privcast::daemon {

Result<DataDir> DataDir::Open(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status(Code::kIo, "cannot create data dir " + path + ": " + ec.message());
  DataDir d;
  d.path_ = std::filesystem::absolute(path).lexically_normal().string();
  if (d.path_.size() > 1 && d.path_.back() == '/') d.path_.pop_back();
  for (const auto& sub : {d.machines_dir(), d.apps_dir(), d.netns_dir()}) {
    std::filesystem::create_directories(sub, ec);
    if (ec) return Status(Code::kIo, "cannot create " + sub + ": " + ec.message());
  }
  std::string lock_path = d.path_ + "/lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("open " + lock_path, errno);
  d.lock_.reset(fd);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return FailedPrecondition("another privcastd (pid " + pid + ") is using data dir " + d.path_ +
                              "; stop it or choose another --data-dir");
  }
  std::string me = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size()))
    return ErrnoStatus("write " + lock_path, errno);
  return d;
}

}  // namespace privcast::daemon
