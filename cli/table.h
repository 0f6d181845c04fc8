// Human output for the CLI: aligned tables like flyctl's (header row in capitals). Cells are
// padded with spaces, so every column starts at the same offset on every row.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace privcast::cli {

using Row = std::vector<std::string>;

// Header + rows, each column padded to its widest cell, separated by 3 spaces (and no
// trailing blanks). Empty cells print as "" (nothing), so a column can be blank.
std::string FormatTable(const Row& header, const std::vector<Row>& rows);

// "  Key = value" lines with the keys aligned (for `status` and `machine status`).
std::string FormatKeyValues(const std::vector<std::pair<std::string, std::string>>& kvs);

}  // namespace privcast::cli
