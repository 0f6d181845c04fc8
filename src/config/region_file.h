// The operator's region table file (`privcastd --regions FILE`, ADR 0018): TOML → a validated
// RegionTable, or every error, one line each as `FILE:LINE:COL: key.path: message`.
//
//   base = "fly"              # optional: start from Fly's built-in regions ("none": the default)
//   [regions.ams]             # a region: its code (3 lowercase letters) is the key
//   name = "Amsterdam"        # optional
//   latitude = 52.31          # degrees, -90..90    (required)
//   longitude = 4.76          # degrees, -180..180  (required)
//   [[distances]]             # optional: an explicit distance for one pair, both ways
//   between = ["ams", "syd"]
//   km = 100                  # >= 0
//
// A region of the file replaces the base's region of the same code. Distances may name any
// region of the result. Unknown keys are errors (a misspelt `latitude` must not silently put a
// region at 0,0). Nothing throws on any input; stateless and thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/region_table.h"
#include "common/result.h"

namespace privcast::config {

inline constexpr size_t kMaxRegionFileBytes = 1 << 20;

// Errors are Code::kInvalidArgument, one line per error in file order.
Result<std::shared_ptr<const RegionTable>> ParseRegionFile(std::string_view text, std::string_view filename);
// Reads `path` (kNotFound / kIo when it cannot) and parses it, naming it `path` in messages.
Result<std::shared_ptr<const RegionTable>> LoadRegionFile(const std::string& path);

}  // namespace privcast::config
