#include "common/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.h"

namespace privcast {
namespace {

// write(2) until all of `data` is out (EINTR retried).
Status WriteAll(int fd, std::string_view data, const std::string& path) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write " + path, errno);
    if (n == 0) return Internal("short write to " + path);
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    int e = errno;
    std::string msg = "cannot read " + path + ": " + std::strerror(e);
    return Status(e == ENOENT ? Code::kNotFound : Code::kIo, std::move(msg));
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status(Code::kIo, "cannot read " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteFile(const std::string& path, std::string_view data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoStatus("open " + path, errno);
  ssize_t n = ::write(fd.get(), data.data(), data.size());
  if (n < 0) return ErrnoStatus("write " + path, errno);
  if (static_cast<size_t>(n) != data.size()) return Internal("short write to " + path);
  return Status::Ok();
}

Status WriteNewFile(const std::string& path, std::string_view data, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return ErrnoStatus("open " + path, errno);
  return WriteAll(fd.get(), data, path);
}

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return ErrnoStatus("create " + tmp, errno);
  PC_RETURN_IF_ERROR(WriteAll(fd.get(), data, tmp));
  if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) return ErrnoStatus("sync " + tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename " + tmp, errno);
  return Status::Ok();
}

}  // namespace privcast
