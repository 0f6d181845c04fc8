// AppConfig: the typed model of an app's fly.toml (docs/fly-toml.md), with Fly's defaults applied.
//
// Produced by ParseFlyToml (config/load.h) from a file, or by FromJson (config/json.h) from
// a stored release; turned into the proxy's ServiceSpecs by config/services.h. Every field
// holds a validated value: enums are enums, durations are milliseconds, memory is MB,
// signals are numbers. What Fly leaves unset (hard_limit, memory of a [[vm]] without one)
// is std::optional. Keys of sections privcast accepts but does not use are not kept.
//
// Equality (operator==) compares every field that fly.toml can set; `source` (where each key
// was found in the file) is bookkeeping for diagnostics and never takes part in it, so
// FromJson(ToJson(x)) == x holds although JSON does not carry positions.
//
// Thread-safety: plain values; copy freely.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/signal.h"
#include "common/snapshot.h"

namespace privcast::config {

// A position in a source file: 1-based line and column. line == 0 means "unknown".
struct SourcePos {
  int line = 0;
  int column = 0;
  bool operator==(const SourcePos&) const = default;
};

// One error or warning, printed as `file:line:col: path: message`. Parts that are unknown
// are left out: `fly.toml: http_service.force_https: ...` without a position, and
// `path: message` for a config that came from JSON rather than a file.
struct Diagnostic {
  std::string file;
  SourcePos pos;
  std::string path;  // key path: `services[0].ports[1].port`; empty for the whole file
  std::string message;
  std::string ToString() const;
  bool operator==(const Diagnostic&) const = default;
};

// Key path → position of its value (and of the key itself, for unknown-key warnings).
// Deliberately equal to every other SourceMap: see the header comment.
struct SourceMap {
  std::string file;
  std::map<std::string, SourcePos> values;
  SourcePos Find(const std::string& path) const;
  bool operator==(const SourceMap&) const { return true; }
};

enum class RestartPolicy : uint8_t { kAlways, kNever, kOnFailure };
enum class CheckType : uint8_t { kTcp, kHttp };

// A health check. [[services.tcp_checks]] use only the timing fields; http checks
// ([[services.http_checks]], [[http_service.checks]], [checks.<name>] type = "http") use all.
struct CheckConfig {
  int64_t grace_period_ms = 0;
  int64_t interval_ms = 15000;
  int64_t timeout_ms = 2000;
  std::string method = "GET";
  std::string path = "/";
  std::string protocol = "http";  // http | https
  bool tls_skip_verify = false;
  std::string tls_server_name;
  std::vector<std::pair<std::string, std::string>> headers;  // sorted by name
  bool operator==(const CheckConfig&) const = default;
};

// A top-level [checks.<name>] machine check.
struct NamedCheck {
  std::string name;
  CheckType type = CheckType::kTcp;
  std::optional<uint16_t> port;  // unset: the service's internal port
  CheckConfig check;
  std::vector<std::string> processes;
  bool operator==(const NamedCheck&) const = default;
};

struct ConcurrencyConfig {
  ConcurrencyType type = ConcurrencyType::kConnections;
  uint32_t soft_limit = 20;
  std::optional<uint32_t> hard_limit;  // unset: no hard limit
  bool operator==(const ConcurrencyConfig&) const = default;
};

struct HttpOptions {
  bool h2_backend = false;
  bool response_pristine = false;
  std::vector<std::pair<std::string, std::string>> response_headers;  // sorted by name
  bool operator==(const HttpOptions&) const = default;
};

struct TlsOptions {
  std::vector<std::string> alpn;      // e.g. ["h2", "http/1.1"]
  std::vector<std::string> versions;  // TLSv1.2 | TLSv1.3
  bool operator==(const TlsOptions&) const = default;
};

// One [[services.ports]] entry (or one of the two ports [http_service] expands to).
struct PortConfig {
  uint16_t start_port = 0;  // `port = N` gives start_port == end_port == N
  uint16_t end_port = 0;
  std::vector<std::string> handlers;  // subset of http, tls, proxy_proto; empty = raw TCP
  bool force_https = false;
  int proxy_proto_version = 1;  // 1 or 2
  TlsOptions tls_options;
  HttpOptions http_options;
  bool HasHandler(const std::string& h) const;
  bool operator==(const PortConfig&) const = default;
};

// The settings [http_service] and [[services]] share.
struct ServiceCommon {
  uint16_t internal_port = 8080;
  AutoStop auto_stop = AutoStop::kOff;
  bool auto_start = true;
  uint32_t min_machines_running = 0;
  std::vector<std::string> processes;  // empty: every process group
  ConcurrencyConfig concurrency;
  bool operator==(const ServiceCommon&) const = default;
};

struct HttpServiceConfig {
  ServiceCommon common;
  bool force_https = false;
  std::vector<CheckConfig> checks;
  HttpOptions http_options;
  TlsOptions tls_options;
  bool operator==(const HttpServiceConfig&) const = default;
};

struct ServiceConfig {
  // privcast addition: names the service for `<name>.svc.<app>.flycast` (ADR 0013); a DNS
  // label, unique among the app's services. "" = unnamed.
  std::string name;
  std::string protocol = "tcp";  // tcp | udp
  ServiceCommon common;
  std::vector<PortConfig> ports;
  std::vector<CheckConfig> tcp_checks;
  std::vector<CheckConfig> http_checks;
  bool operator==(const ServiceConfig&) const = default;
};

struct VmConfig {
  std::string size;  // e.g. "shared-cpu-1x"; empty = not given
  std::optional<uint32_t> memory_mb;
  std::optional<uint32_t> cpus;
  std::string cpu_kind;                // shared | performance; empty = not given
  std::vector<std::string> processes;  // empty: every process group
  bool persist_rootfs = false;         // keep the machine's writable root layer across starts
  bool operator==(const VmConfig&) const = default;
};

// [[mounts]] / [mounts] (and flyctl's singular [mount]): a volume named `source` mounted at
// `destination` in every machine of `processes` (docs/volumes.md).
struct MountConfig {
  std::string source;                       // volume name: 1-30 of [a-z0-9_]
  std::string destination;                  // absolute path, not "/", nothing under /proc /sys /dev
  std::optional<uint32_t> initial_size_gb;  // a volume deploy creates gets this (default 1)
  std::vector<std::string> processes;       // empty: every process group
  bool operator==(const MountConfig&) const = default;
};

struct RestartConfig {
  RestartPolicy policy = RestartPolicy::kOnFailure;
  uint32_t retries = 10;
  std::vector<std::string> processes;  // empty: every process group
  bool operator==(const RestartConfig&) const = default;
};

struct AppConfig {
  std::string app;             // empty when fly.toml has no `app` (the CLI's -a supplies it)
  std::string primary_region;  // empty when not given
  KillSignal kill_signal;      // SIGINT unless set
  int64_t kill_timeout_ms = 5000;
  std::vector<std::pair<std::string, std::string>> env;        // sorted by name
  std::vector<std::pair<std::string, std::string>> processes;  // group → command, sorted
  std::vector<VmConfig> vm;
  std::vector<RestartConfig> restart;
  std::optional<HttpServiceConfig> http_service;
  std::vector<ServiceConfig> services;
  std::vector<NamedCheck> checks;   // sorted by name
  std::string image;                // [build] image: the OCI image machines run; "" = host /usr
  std::vector<MountConfig> mounts;  // at most one per process group

  SourceMap source;  // not compared, not serialized

  bool operator==(const AppConfig&) const = default;
};

inline constexpr int64_t kMaxKillTimeoutMs = 300'000;

// ---- value grammar shared by the TOML and JSON readers (pure functions, no allocation
// ---- beyond the result; never throw).

// Signal names (kill_signal): KillSignal::FromName in common/signal.h.
// Go-style duration ("5s", "1m30s", "500ms", "1.5h") → milliseconds (sub-millisecond
// remainders truncate). nullopt on bad syntax, negative values or overflow.
std::optional<int64_t> ParseDurationMs(std::string_view s);
// Shortest Go-style spelling of a millisecond duration ("5s", "1m30s", "250ms", "0s").
std::string FormatDurationMs(int64_t ms);
// "256mb", "1gb", "512MiB", "2g", "1024" → MB. nullopt on bad syntax or overflow.
std::optional<uint64_t> ParseMemoryMb(std::string_view s);

// Fly's volume names: 1-30 lowercase letters, digits and '_'.
bool IsVolumeName(std::string_view s);
// "" when `dest` may be a mount's destination, else why not (absolute, not "/", no "." or
// ".." components, not under /proc, /sys or /dev, nor privcast-init's /.privcast-init).
std::string CheckMountDestination(std::string_view dest);

const char* AutoStopName(AutoStop a);                // off | stop | suspend
const char* ConcurrencyTypeName(ConcurrencyType t);  // connections | requests
const char* RestartPolicyName(RestartPolicy p);      // always | never | on-failure
const char* CheckTypeName(CheckType t);              // tcp | http

}  // namespace privcast::config
