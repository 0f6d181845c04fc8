// The tables machines and flycast addresses appear in, shared by the commands that list
// them (machine list, scale count, status, ips). Input: the daemon's JSON records, read
// tolerantly (cli/json_fields.h). Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/table.h"

namespace privcast::cli {

// The ips table: flyctl's columns (VERSION IP TYPE NETWORK ORG REGION CREATED AT, the time
// relative: "2m ago"), plus SERVICE only when some row has a per-service address, so the
// table of an app without them stays exactly flyctl's.
std::string IpTable(const std::vector<nlohmann::json>& ips);

// machine list's columns (ID STATE REGION HOST PROCESS GROUP IP ADDRESS RELEASE CREATED
// LAST UPDATED) and one machine's row.
extern const Row kMachineHeader;
Row MachineRow(const nlohmann::json& m);

// The host a machine is placed on (its host32 in hex, as in /hosts/ and the 6PN address);
// "-" when the record has none.
std::string HostOf(const nlohmann::json& m);

}  // namespace privcast::cli
