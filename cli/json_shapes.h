// flyctl's JSON shapes for privcast's `--json` output (docs/cli.md "JSON shapes").
//
// Each function takes the object as privcastd's API returns it (docs/api.md) and returns it
// with flyctl's field names and nesting ADDED beside privcast's own: `ips list --json` rows get
// `Address`, `Type`, `Region`, `CreatedAt`, `Network.Name`, `Network.Organization.Slug`...;
// machines get `name`, `config.metadata.fly_process_group`, `image_ref`, `instance_id`...
// Nothing privcast printed before is renamed or removed, so scripts reading either keep working.
//
// Also the small parsers flyctl users type: durations (`10s`, `1m`, `1m30s`, `500ms`; a bare
// number is seconds, as privcast accepted before), and the relative times of human tables.
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace privcast::cli {

// fly-go's IPAddress (flyctl `ips list --json`): ID, Address, Type, Region, CreatedAt,
// Network{Name, Organization{Slug}}, ServiceName.
nlohmann::json FlyIp(const nlohmann::json& ip);
// fly-go's Machine (flyctl `machine list/status --json`): id, name, state, region,
// instance_id, private_ip, image_ref{registry,repository,tag,digest}, created_at, updated_at,
// config{image, env, init.cmd, auto_destroy, metadata{fly_process_group, fly_release_version,
// fly_platform_version}}, checks[{name,status}] when the API gave check results.
nlohmann::json FlyMachine(const nlohmann::json& m);
// flyctl's app (`apps list --json`, `status --json`): ID, Name, Status, Deployed, Hostname,
// Version, Organization{Slug, Name}; for status also Machines[FlyMachine].
nlohmann::json FlyApp(const nlohmann::json& a);
nlohmann::json FlyStatus(const nlohmann::json& s);

// One line of `GET /logs` ("<time> <source> <text>", machine lines "<time> app[<id>] <region>
// [<level>] <text>") as flyctl's log entry: {timestamp, message, level, instance, region,
// meta{instance, region, event{provider}}}; privcast adds "source" ("app" or the event source,
// e.g. "proxy").
nlohmann::json FlyLogEntry(const std::string& line);

// "10s" → 10, "1m" → 60, "1m30s" → 90, "1h" → 3600, "500ms" → 1 (rounded up: a wait of
// 500ms still waits), "0" / "0s" → 0, "45" → 45 (a bare number is seconds). nullopt when
// malformed or negative.
std::optional<int64_t> ParseDurationSeconds(const std::string& s);

// "2026-11-22T03:41:02Z" relative to now_unix (seconds): "0s ago" (< 1 s or in the future),
// "42s ago", "2m ago", "3h5m ago", "4d ago" (flyctl's format.RelativeTime style). Returns the
// input when it is not such a timestamp ("" stays "").
std::string RelativeTime(const std::string& iso, int64_t now_unix);
// The unix seconds of "YYYY-MM-DDTHH:MM:SS[.fff]Z"; nullopt otherwise.
std::optional<int64_t> ParseIsoTime(const std::string& iso);

}  // namespace privcast::cli
