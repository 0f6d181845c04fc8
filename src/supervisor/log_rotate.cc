#include "supervisor/log_rotate.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/fd.h"

namespace privcast::supervisor {
namespace {

std::string Rotated(const std::string& path, int n) { return path + "." + std::to_string(n); }

// Copies `from` up to its end as the copy reaches it into a new `to` (replacing it atomically),
// so that only what is written between the copy's last read and the truncation is lost.
Status CopyAll(int from, const std::string& to) {
  std::string tmp = to + ".tmp";
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!out) return ErrnoStatus("open " + tmp, errno);
  loff_t in_off = 0;
  for (;;) {
    ssize_t n = ::copy_file_range(from, &in_off, out.get(), nullptr, 1 << 30, 0);
    if (n < 0) {
      int e = errno;
      ::unlink(tmp.c_str());
      return ErrnoStatus("copy_file_range into " + tmp, e);
    }
    if (n == 0) break;
  }
  if (::rename(tmp.c_str(), to.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("rename " + tmp, e);
  }
  return Status::Ok();
}

}  // namespace

Result<bool> RotateLogIfLarge(const std::string& path, const LogLimits& limits) {
  if (limits.max_bytes == 0) return false;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return errno == ENOENT ? Result<bool>(false) : Result<bool>(ErrnoStatus("open " + path, errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat " + path, errno);
  if (static_cast<uint64_t>(st.st_size) <= limits.max_bytes) return false;
  if (limits.keep > 0) {
    ::unlink(Rotated(path, limits.keep).c_str());
    for (int i = limits.keep - 1; i >= 1; --i) ::rename(Rotated(path, i).c_str(), Rotated(path, i + 1).c_str());
    PC_RETURN_IF_ERROR(CopyAll(fd.get(), Rotated(path, 1)));
  }
  if (::ftruncate(fd.get(), 0) != 0) return ErrnoStatus("truncate " + path, errno);
  return true;
}

}  // namespace privcast::supervisor
