// DaemonOptions: privcastd's command line (BRIEF §3), parsed with CLI11.
// Defaults are documented in docs/daemon.md. Values only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace privcast::daemon {

inline constexpr const char* kDefaultDataDir = "/var/lib/privcast";
inline constexpr const char* kDefaultApi = "unix:/run/privcast/privcastd.sock";  // = api::kDefaultSocketPath
inline constexpr const char* kDefaultRegion = "ams";

struct DaemonOptions {
  std::string data_dir = kDefaultDataDir;
  std::string region = kDefaultRegion;
  std::string api = kDefaultApi;            // "unix:PATH"
  std::string api_socket_path() const { return api.substr(5); }
  int proxy_workers = 0;                    // 0 = one per core
  bool proxy_batch_writes = true;           // HTTP writes of a turn in one io_uring_enter (ADR 0006)
  std::chrono::milliseconds autostop_interval{60'000};
  std::chrono::milliseconds autostop_idle{300'000};
  std::chrono::milliseconds wake_timeout{30'000};
  std::chrono::milliseconds drain_timeout{10'000};
  bool dns = true;
  std::vector<std::string> dns_listen;      // extra "addr:port" listeners (host use)
  std::string upstream_resolv_conf = "/etc/resolv.conf";
  bool prewarm = true;
  bool firewall = true;
  std::string log_level = "info";
  std::string instance;                     // cgroup/netns naming; default from data dir
  bool reset_store = false;                 // start as a new host although the data dir shows earlier state
  bool uninstall = false;                   // remove the isolation table and exit (daemon/uninstall.h)
  uint32_t id_base = 524288;                // first host uid/gid of machines' user namespaces
  std::string init_path;                    // privcast-init; default: next to privcastd
  std::vector<std::string> insecure_registries;  // HOST[:PORT] pulled over plain HTTP (docs/images.md)
  std::string skopeo = "skopeo";            // the image transport (ADR 0008)
};

// Parses argv; on --help prints usage and returns exit code 0 via `exit_code`.
// Usage errors print to stderr and set exit_code 2.
std::optional<DaemonOptions> ParseDaemonArgs(int argc, char** argv, int* exit_code);

// "90s", "5m", "250ms", "2h", or a bare integer (seconds).
Result<std::chrono::milliseconds> ParseDuration(const std::string& text);

}  // namespace privcast::daemon
