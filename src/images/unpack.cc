#include "images/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <memory>

namespace privcast::images {
namespace {

constexpr const char* kWhiteoutPrefix = ".wh.";
constexpr const char* kOpaque = ".wh..wh..opq";

struct ReadCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteCloser {
  void operator()(archive* a) const { archive_write_free(a); }
};

// "./a/b", "/a/b", "a//b/" → "a/b"; empty when it names the root; nullopt-like false on "..".
bool CleanPath(const std::string& in, std::string* out) {
  out->clear();
  size_t i = 0;
  while (i <= in.size()) {
    size_t j = in.find('/', i);
    if (j == std::string::npos) j = in.size();
    std::string part = in.substr(i, j - i);
    if (part == "..") return false;
    if (!part.empty() && part != ".") {
      if (!out->empty()) *out += '/';
      *out += part;
    }
    i = j + 1;
  }
  return true;
}

Status MkdirAll(const std::string& root, const std::string& rel) {
  std::string cur = root;
  size_t i = 0;
  while (i < rel.size()) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) j = rel.size();
    cur += "/" + rel.substr(i, j - i);
    struct stat st;
    if (::lstat(cur.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return InvalidArgument("layer: " + rel + " goes through a non-directory");
    } else if (::mkdir(cur.c_str(), 0755) != 0) {
      return ErrnoStatus("mkdir " + cur, errno);
    }
    i = j + 1;
  }
  return Status::Ok();
}

std::string Dirname(const std::string& rel) {
  auto slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

}  // namespace

Status UnpackLayer(const std::string& blob, const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0) return ErrnoStatus("mkdir " + dir, errno);
  std::unique_ptr<archive, ReadCloser> in(archive_read_new());
  std::unique_ptr<archive, WriteCloser> out(archive_write_disk_new());
  if (!in || !out) return Internal("libarchive: out of memory");
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  archive_write_disk_set_options(out.get(), ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                                                ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                                ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  if (archive_read_open_filename(in.get(), blob.c_str(), 1 << 16) != ARCHIVE_OK) {
    return InvalidArgument("layer " + blob + ": " + archive_error_string(in.get()));
  }
  archive_entry* e = nullptr;
  std::string rel, link;
  for (;;) {
    int r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return InvalidArgument("layer " + blob + ": " + archive_error_string(in.get()));
    const char* name = archive_entry_pathname(e);
    if (!name || !CleanPath(name, &rel))
      return InvalidArgument(std::string("layer: refused path ") + (name ? name : "?"));
    if (rel.empty()) continue;  // the root itself: the layer dir keeps 0755 root
    std::string parent = Dirname(rel);
    std::string base = rel.substr(parent.empty() ? 0 : parent.size() + 1);
    if (base.rfind(kWhiteoutPrefix, 0) == 0) {
      PC_RETURN_IF_ERROR(MkdirAll(dir, parent));
      std::string pdir = parent.empty() ? dir : dir + "/" + parent;
      if (base == kOpaque) {
        if (::lsetxattr(pdir.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0)
          return ErrnoStatus("set opaque on " + pdir, errno);
      } else {
        std::string target = pdir + "/" + base.substr(4);
        if (::mknod(target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0 && errno != EEXIST)
          return ErrnoStatus("whiteout " + target, errno);
      }
      continue;
    }
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFCHR || type == AE_IFBLK) continue;  // devices: never from an image
    std::string full = dir + "/" + rel;
    archive_entry_set_pathname(e, full.c_str());
    if (const char* hl = archive_entry_hardlink(e)) {
      if (!CleanPath(hl, &link) || link.empty()) return InvalidArgument(std::string("layer: refused link ") + hl);
      std::string full_link = dir + "/" + link;
      archive_entry_set_hardlink(e, full_link.c_str());
    }
    r = archive_write_header(out.get(), e);
    if (r < ARCHIVE_WARN) return Internal("unpack " + rel + ": " + archive_error_string(out.get()));
    if (archive_entry_size(e) > 0) {
      const void* buf;
      size_t size;
      la_int64_t off;
      for (;;) {
        r = archive_read_data_block(in.get(), &buf, &size, &off);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) return InvalidArgument("layer " + blob + ": " + archive_error_string(in.get()));
        if (archive_write_data_block(out.get(), buf, size, off) < ARCHIVE_WARN)
          return Internal("unpack " + rel + ": " + archive_error_string(out.get()));
      }
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN)
      return Internal("unpack " + rel + ": " + archive_error_string(out.get()));
  }
  if (archive_write_close(out.get()) < ARCHIVE_WARN)
    return Internal(std::string("unpack: ") + archive_error_string(out.get()));
  return Status::Ok();
}

}  // namespace privcast::images
