// The region table at daemon start (ADR 0018): a table from `--regions FILE` is written to the
// store (once, when it differs from the stored one) so that every host of a cluster routes by
// the same one; without the flag the host uses whatever the store holds (or Fly's built-in
// table). The routing Snapshot follows the stored table on every reload (StateView::regions).
#pragma once

#include <memory>
#include <string>

#include "common/region_table.h"
#include "common/result.h"
#include "store/registry.h"

namespace privcast::daemon {

// `table` null = no --regions. Logs which table is in force and warns when `local_region`
// is not in it (then every other region is equally far: kUnknownKm).
[[nodiscard]] Status ShareRegionTable(store::Registry* registry, const std::shared_ptr<const RegionTable>& table,
                                      const std::string& file, const std::string& local_region);

}  // namespace privcast::daemon
