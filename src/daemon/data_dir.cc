#include "daemon/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "common/file.h"
#include "common/strings.h"

namespace privcast::daemon {

Result<DataDir> DataDir::Open(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status(Code::kIo, "cannot create data dir " + path + ": " + ec.message());
  struct stat sb {};
  if (::stat(path.c_str(), &sb) != 0) return ErrnoStatus("stat " + path, errno);
  if ((sb.st_mode & 077) != 0 && ::chmod(path.c_str(), 0700) != 0) return ErrnoStatus("chmod 0700 " + path, errno);
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

Status DataDir::SecureStoreFiles() const {
  std::string db = store_path();
  int fd = ::open(db.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("open " + db, errno);
  ::close(fd);
  for (const std::string& f : {db, db + "-wal", db + "-shm"})
    if (::chmod(f.c_str(), 0600) != 0 && errno != ENOENT) return ErrnoStatus("chmod 0600 " + f, errno);
  return Status::Ok();
}

std::string DataDir::PriorState() const {
  std::vector<std::string> seen;
  if (auto id = ReadFile(host_id_path()); id.ok()) {
    std::string_view hex = Trim(*id, " \n");
    if (!hex.empty()) seen.push_back("host-id " + std::string(hex));
  }
  std::error_code ec;
  size_t machines = 0;
  for (auto it = std::filesystem::directory_iterator(machines_dir(), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++machines;
  if (machines) seen.push_back(std::to_string(machines) + " machine director" + (machines == 1 ? "y" : "ies"));
  if (std::filesystem::exists(tls_dir() + "/ca.key", ec)) seen.push_back("a TLS CA");
  std::string out;
  for (const auto& s : seen) out += (out.empty() ? "" : ", ") + s;
  return out;
}

Status DataDir::RecordHostId(uint32_t host_id) const {
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x\n", host_id);
  return WriteFileAtomic(host_id_path(), hex, 0644);
}

}  // namespace privcast::daemon
