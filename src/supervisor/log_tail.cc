#include "supervisor/log_tail.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace privcast::supervisor {

Result<LogTail> LogTail::Open(const std::string& path, size_t last_lines) {
  LogTail t;
  t.path_ = path;
  t.file_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!t.file_) return ErrnoStatus("open " + path, errno);
  t.inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!t.inotify_) return ErrnoStatus("inotify_init1", errno);
  if (::inotify_add_watch(t.inotify_.get(), path.c_str(), IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
    return ErrnoStatus("inotify_add_watch " + path, errno);
  }
  t.cancel_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!t.cancel_) return ErrnoStatus("eventfd", errno);
  struct stat st;
  if (::fstat(t.file_.get(), &st) != 0) return ErrnoStatus("fstat " + path, errno);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (last_lines == kAll) {
    t.offset_ = 0;
  } else {
    // Walk back from the end counting newlines; a trailing '\n' ends the last line.
    uint64_t pos = size;
    size_t seen = 0;
    char buf[4096];
    bool done = last_lines == 0;
    if (pos > 0 && !done) {
      char c;
      if (::pread(t.file_.get(), &c, 1, static_cast<off_t>(pos - 1)) == 1 && c == '\n') --pos;
    }
    uint64_t start = last_lines == 0 ? size : 0;
    while (!done && pos > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof buf, pos));
      if (::pread(t.file_.get(), buf, n, static_cast<off_t>(pos - n)) != static_cast<ssize_t>(n)) {
        return ErrnoStatus("pread " + path, errno);
      }
      for (size_t i = n; i-- > 0;) {
        if (buf[i] == '\n' && ++seen == last_lines) {
          start = pos - n + i + 1;
          done = true;
          break;
        }
      }
      pos -= n;
    }
    t.offset_ = start;
  }
  return t;
}

Result<std::vector<std::string>> LogTail::Read() {
  std::vector<std::string> lines;
  struct stat st;
  if (::fstat(file_.get(), &st) != 0) return ErrnoStatus("fstat " + path_, errno);
  if (static_cast<uint64_t>(st.st_size) < offset_) {  // truncated
    offset_ = 0;
    partial_.clear();
  }
  char buf[16384];
  for (;;) {
    ssize_t n = ::pread(file_.get(), buf, sizeof buf, static_cast<off_t>(offset_));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read " + path_, errno);
    }
    if (n == 0) break;
    offset_ += static_cast<uint64_t>(n);
    partial_.append(buf, static_cast<size_t>(n));
  }
  size_t start = 0;
  for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.emplace_back(partial_, start, nl - start);
  }
  partial_.erase(0, start);
  return lines;
}

Result<bool> LogTail::Wait(Duration timeout) {
  struct pollfd p[2] = {{inotify_.get(), POLLIN, 0}, {cancel_.get(), POLLIN, 0}};
  int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  int r;
  do {
    r = ::poll(p, 2, ms);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return ErrnoStatus("poll", errno);
  if (p[1].revents & POLLIN) return false;
  if (!(p[0].revents & POLLIN)) return false;
  alignas(struct inotify_event) char buf[4096];
  while (::read(inotify_.get(), buf, sizeof buf) > 0) {
  }
  return true;
}

void LogTail::Cancel() {
  uint64_t one = 1;
  (void)!::write(cancel_.get(), &one, sizeof one);
}

}  // namespace privcast::supervisor
