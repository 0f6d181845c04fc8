// Where volumes keep their files on this host (docs/volumes.md, ADR 0010):
//
//   <data-dir>/volumes/            0700 root
//   <data-dir>/volumes/<vol id>/   0700 root (nothing of the host walks further)
//   <data-dir>/volumes/<vol id>/data/  the volume's root, 0755, owned 0:0: canonical ids,
//                                  mounted into a machine through an idmapped mount
//
// A volume's storage is created when a machine first starts with it, and removed by the
// control loop once the volume's record is gone (volumes destroy, apps destroy).
// Functions only; call from one thread (the control thread).
#pragma once

#include <set>
#include <string>

#include "common/result.h"

namespace privcast::daemon {

std::string VolumeDataDir(const std::string& root, const std::string& volume_id);
// Creates root, root/<id> and root/<id>/data as above (existing ones are kept as they are).
Status EnsureVolumeStorage(const std::string& root, const std::string& volume_id);
// Removes root/<id> for every volume-id-shaped entry not in `keep` (renamed aside to
// root/.trash-<id> at once, deleted by a detached thread); returns how many.
int SweepVolumeStorage(const std::string& root, const std::set<std::string>& keep);
// The volume ids under root that are not in `known`.
std::set<std::string> UnknownVolumeStorage(const std::string& root, const std::set<std::string>& known);

}  // namespace privcast::daemon
