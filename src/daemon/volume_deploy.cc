// MachineManager's volume part (docs/volumes.md): the attachment view the control thread
// starts machines with, the storage sweep, and what a deploy does for a group with [mounts].
#include <algorithm>

#include "common/log.h"
#include "daemon/machine_manager.h"
#include "daemon/volume_storage.h"

namespace privcast::daemon {

void MachineManager::SyncVolumes() {
  volumes_.clear();
  std::set<std::string> ids;
  for (const auto& v : state_.volumes) {
    ids.insert(v.id);
    if (!v.attached_machine_id.empty()) volumes_[v.attached_machine_id] = v;
  }
  // Storage of volumes whose records went while this daemon watched (volumes destroy, apps
  // destroy). Not at the first sync: storage the store does not know (a store reset with
  // --reset-store, a crash between the record's deletion and the sweep) is kept for the
  // operator, never deleted on a guess.
  bool gone = false;
  for (const auto& id : volume_ids_) gone = gone || !ids.count(id);
  if (!volumes_synced_ && !opts_.volume_root.empty()) {
    for (const auto& id : UnknownVolumeStorage(opts_.volume_root, ids))
      log::Warn("daemon", "volume storage without a volume record is kept",
                {{"volume", id}, {"root", opts_.volume_root}});
  }
  volume_ids_ = std::move(ids);
  volumes_synced_ = true;
  if (gone && !opts_.volume_root.empty()) (void)SweepVolumeStorage(opts_.volume_root, volume_ids_);
}

// A machine of group `g` (existing: machine_id; new: spec) gets its volume as flyctl's deploy
// does: the one it has, else an unattached volume of the app named [mounts] source in this
// region (oldest first), else a new one of initial_size (default 1 GB).
Status MachineManager::GiveVolume(const store::App& app, const AppPlan::Group& g, const std::string& machine_id,
                                  store::MachineSpec* spec) {
  if (!g.mount) return Status::Ok();
  const AppPlan::Mount& mt = *g.mount;
  if (!machine_id.empty()) {
    auto it = volumes_.find(machine_id);
    if (it != volumes_.end()) {
      if (it->second.attached_path == mt.destination) return Status::Ok();
      auto v = registry_->AttachVolume(it->second.id, machine_id, mt.destination);  // the path moved
      if (!v.ok()) return v.status();
      it->second = *v;
      return Status::Ok();
    }
  }
  store::Volume* pick = nullptr;
  for (auto& v : state_.volumes) {
    if (v.app != app.name || v.name != mt.source || !v.attached_machine_id.empty() || v.region != opts_.region)
      continue;
    if (!pick || v.created_at < pick->created_at) pick = &v;
  }
  if (!pick) {
    auto v = registry_->CreateVolume(app.name, mt.source, opts_.region, mt.initial_size_gb);
    if (!v.ok())
      return Status(v.status().code(),
                    "create volume " + mt.source + " for group " + g.name + ": " + v.status().message());
    NoteEvent(app.name, "deploy",
              "created volume " + v->id + " (" + mt.source + ", " + std::to_string(mt.initial_size_gb) +
                  "GB) for group " + g.name);
    volume_ids_.insert(v->id);
    state_.volumes.push_back(*v);
    pick = &state_.volumes.back();
  }
  if (machine_id.empty()) {
    spec->volume_id = pick->id;
    spec->volume_path = mt.destination;
    pick->attached_machine_id = "(being created)";  // claimed for this deploy; NoteAttached sets the id
    return Status::Ok();
  }
  auto v = registry_->AttachVolume(pick->id, machine_id, mt.destination);
  if (!v.ok()) return v.status();
  *pick = *v;
  volumes_[machine_id] = *v;
  NoteEvent(app.name, "deploy", "attached volume " + v->id + " (" + v->name + ") to machine " + machine_id);
  return Status::Ok();
}

void MachineManager::NoteAttached(const store::MachineSpec& spec, const std::string& machine_id) {
  if (spec.volume_id.empty()) return;
  for (auto& v : state_.volumes) {
    if (v.id != spec.volume_id) continue;
    v.attached_machine_id = machine_id;
    v.attached_path = spec.volume_path;
    volumes_[machine_id] = v;
    return;
  }
  // Not in this view (machine run --volume): read it.
  auto v = registry_->GetVolume(spec.volume_id);
  if (v.ok()) volumes_[machine_id] = *v;
}

Result<std::vector<LaunchPlan::Volume>> MachineManager::VolumesFor(const store::Machine& m) {
  std::vector<LaunchPlan::Volume> out;
  auto it = volumes_.find(m.id);
  if (it == volumes_.end()) return out;
  if (opts_.volume_root.empty())
    return FailedPrecondition("machine " + m.id + " has a volume but the daemon has no volume storage");
  PC_RETURN_IF_ERROR(EnsureVolumeStorage(opts_.volume_root, it->second.id));
  out.push_back(LaunchPlan::Volume{VolumeDataDir(opts_.volume_root, it->second.id), it->second.attached_path});
  return out;
}

}  // namespace privcast::daemon
