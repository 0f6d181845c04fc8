#include "daemon/volume_storage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "common/ids.h"
#include "common/log.h"

namespace privcast::daemon {
namespace {

Status MkdirOwned(const std::string& p, mode_t mode) {
  if (::mkdir(p.c_str(), mode) != 0) {
    if (errno == EEXIST) return Status::Ok();
    return ErrnoStatus("mkdir " + p, errno);
  }
  if (::chown(p.c_str(), 0, 0) != 0 || ::chmod(p.c_str(), mode) != 0) return ErrnoStatus("chown " + p, errno);
  return Status::Ok();
}

}  // namespace

std::string VolumeDataDir(const std::string& root, const std::string& volume_id) {
  return root + "/" + volume_id + "/data";
}

Status EnsureVolumeStorage(const std::string& root, const std::string& volume_id) {
  if (!ids::IsVolumeId(volume_id)) return InvalidArgument("bad volume id '" + volume_id + "'");
  PC_RETURN_IF_ERROR(MkdirOwned(root, 0700));
  PC_RETURN_IF_ERROR(MkdirOwned(root + "/" + volume_id, 0700));
  return MkdirOwned(VolumeDataDir(root, volume_id), 0755);
}

int SweepVolumeStorage(const std::string& root, const std::set<std::string>& keep) {
  std::error_code ec;
  std::filesystem::directory_iterator it(root, ec);
  if (ec) return 0;
  int removed = 0;
  for (const auto& e : it) {
    std::string name = e.path().filename().string();
    if (!ids::IsVolumeId(name) || keep.count(name)) continue;
    std::error_code rec;
    std::filesystem::remove_all(e.path(), rec);
    if (rec) {
      log::Warn("daemon", "cannot remove volume storage", {{"path", e.path().string()}, {"error", rec.message()}});
    } else {
      log::Info("daemon", "volume storage removed", {{"volume", name}});
      ++removed;
    }
  }
  return removed;
}

}  // namespace privcast::daemon
