#include "daemon/volume_storage.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <thread>
#include <vector>

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

std::set<std::string> UnknownVolumeStorage(const std::string& root, const std::set<std::string>& known) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
    std::string name = e.path().filename().string();
    if (ids::IsVolumeId(name) && !known.count(name)) out.insert(name);
  }
  return out;
}

int SweepVolumeStorage(const std::string& root, const std::set<std::string>& keep) {
  std::error_code ec;
  std::filesystem::directory_iterator it(root, ec);
  if (ec) return 0;
  // A volume's files may take long to delete: the control thread only renames them aside
  // (one rename), a thread of their own deletes them. Leftovers of a daemon that stopped
  // meanwhile are deleted by the next sweep.
  std::vector<std::filesystem::path> trash;
  int removed = 0;
  for (const auto& e : it) {
    std::string name = e.path().filename().string();
    if (name.rfind(".trash-", 0) == 0) {
      trash.push_back(e.path());
      continue;
    }
    if (!ids::IsVolumeId(name) || keep.count(name)) continue;
    std::filesystem::path aside = e.path().parent_path() / (".trash-" + name);
    std::error_code rec;
    std::filesystem::rename(e.path(), aside, rec);
    if (rec) {
      log::Warn("daemon", "cannot remove volume storage", {{"path", e.path().string()}, {"error", rec.message()}});
      continue;
    }
    log::Info("daemon", "volume storage removed", {{"volume", name}});
    trash.push_back(aside);
    ++removed;
  }
  if (!trash.empty()) {
    std::thread([trash = std::move(trash)] {
      for (const auto& p : trash) {
        std::error_code rec;
        std::filesystem::remove_all(p, rec);
      }
    }).detach();
  }
  return removed;
}

}  // namespace privcast::daemon
