// The cluster's region table in the store (ADR 0018): key /config/regions, JSON
//   {"regions":[{"code","name","latitude","longitude"}...],"distances":[{"from","to","km"}...]}
// written by a daemon started with `--regions FILE` and read by every host with the rest of
// the state (Registry::LoadState → StateView::regions), so all hosts route by one table.
// Absent key = Fly's built-in table. Decode takes untrusted bytes and never throws.
// Pure functions; thread-safe.
#pragma once

#include <memory>
#include <string>

#include "common/region_table.h"
#include "common/result.h"

namespace privcast::store {

inline constexpr const char* kRegionTableKey = "/config/regions";

std::string EncodeRegionTable(const RegionTable& t);
[[nodiscard]] Result<std::shared_ptr<const RegionTable>> DecodeRegionTable(const std::string& json);

}  // namespace privcast::store
