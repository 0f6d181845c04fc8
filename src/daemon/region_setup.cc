#include "daemon/region_setup.h"

#include "common/log.h"
#include "store/region_record.h"

namespace privcast::daemon {

Status ShareRegionTable(store::Registry* registry, const std::shared_ptr<const RegionTable>& table,
                        const std::string& file, const std::string& local_region) {
  std::shared_ptr<const RegionTable> in_force = table;
  if (table) {
    bool changed = false;
    Status s = registry->PutRegionTable(*table, &changed);
    if (!s.ok()) return Status(s.code(), "store the region table of " + file + ": " + s.message());
    log::Info("daemon", changed ? "region table stored for every host" : "region table unchanged",
              {{"file", file},
               {"regions", static_cast<uint64_t>(table->regions().size())},
               {"distances", static_cast<uint64_t>(table->distances().size())}});
  } else {
    auto st = registry->LoadState();
    if (!st.ok()) return st.status();
    in_force = st->regions ? st->regions : RegionTable::Default();
    log::Info("daemon", st->regions ? "region table from the store" : "region table built in (Fly's regions)",
              {{"regions", static_cast<uint64_t>(in_force->regions().size())}});
  }
  if (!in_force->Find(local_region))
    log::Warn("daemon", "this host's region is not in the region table: every other region counts as equally far",
              {{"region", local_region}});
  return Status::Ok();
}

}  // namespace privcast::daemon
