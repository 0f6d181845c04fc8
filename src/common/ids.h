// Identifiers: machine ids (Fly-style, 14 lowercase hex chars), request ids, and the
// DNS-label rule that app, org and network names follow. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace privcast::ids {

std::string NewMachineId();  // 14 hex chars from the OS random source
bool IsMachineId(std::string_view s);
std::string NewVolumeId();  // "vol_" + 16 of [a-z0-9] (Fly's shape)
bool IsVolumeId(std::string_view s);
// Fly's volume names: 1-30 lowercase letters, digits and '_'.
bool IsVolumeName(std::string_view s);
std::string NewRequestId();  // 26 chars, sortable-ish (time prefix + random)
// A DNS label: 1..63 chars of [a-z0-9-], not starting or ending with '-'.
bool IsDnsLabel(std::string_view s);
// Region codes: exactly 3 lowercase letters.
bool IsRegionCode(std::string_view s);
uint64_t RandomU64();

}  // namespace privcast::ids
