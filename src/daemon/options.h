// DaemonOptions: privcastd's command line (docs/cli.md), parsed with CLI11.
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
  std::string api = kDefaultApi;  // "unix:PATH"
  std::string api_socket_path() const { return api.substr(5); }
  std::chrono::milliseconds api_request_timeout{10'000};  // a whole API request, head and body
  int api_max_connections_per_uid = 32;                   // uids other than root and the daemon's
  int proxy_workers = 0;                                  // 0 = one per core
  bool proxy_batch_writes = true;                         // HTTP writes of a turn in one io_uring_enter (ADR 0006)
  bool proxy_batch_when_busy = true;                      // busy workers stop preempting on wakeup (ADR 0021)
  // Fair sharing of the proxy (docs/proxy.md "Fair sharing"). 0 = unlimited.
  uint32_t proxy_max_conns_per_network = 1024;
  double proxy_conn_rate_per_network = 50000;  // new connections per second (token bucket)
  uint32_t proxy_conn_burst_per_network = 100000;
  int64_t proxy_fd_budget = -1;                            // -1 = DefaultProxyFdBudget(RLIMIT_NOFILE), 0 = none
  std::chrono::milliseconds proxy_header_timeout{10'000};  // absolute, from a head's first byte
  std::chrono::milliseconds proxy_body_timeout{10'000};    // grace before body_min_rate applies
  uint32_t proxy_body_min_rate = 1024;                     // bytes/s
  std::chrono::milliseconds autostop_interval{60'000};
  std::chrono::milliseconds autostop_idle{300'000};
  std::chrono::milliseconds wake_timeout{30'000};
  std::chrono::milliseconds drain_timeout{10'000};
  bool dns = true;
  std::vector<std::string> dns_listen;  // extra "addr:port" listeners (host use)
  std::string upstream_resolv_conf = "/etc/resolv.conf";
  // Fair forwarding per client network (docs/dns.md "Fair forwarding"); 0 = no limit.
  size_t dns_forward_inflight = 256;
  uint32_t dns_forward_qps = 1000;
  std::chrono::milliseconds dns_negative_cache_max_ttl{300'000};  // 0 = off
  std::chrono::milliseconds dns_servfail_cache_ttl{5'000};        // 0 = off
  bool prewarm = true;
  bool firewall = true;
  std::string log_level = "info";
  std::string instance;                          // cgroup/netns naming; default from data dir
  uint64_t machine_log_max_bytes = 16ull << 20;  // a machine's log is rotated past this (0 = never)
  int machine_log_files = 2;                     // rotated copies kept per machine
  bool reset_store = false;                      // start as a new host although the data dir shows earlier state
  bool uninstall = false;                        // remove the isolation table and exit (daemon/uninstall.h)
  uint32_t id_base = 524288;                     // first host uid/gid of machines' user namespaces
  std::string init_path;                         // privcast-init; default: next to privcastd
  std::vector<std::string> insecure_registries;  // HOST[:PORT] pulled over plain HTTP (docs/images.md)
  std::string skopeo = "skopeo";                 // the image transport (ADR 0009)
  std::string registry_auth_file;                // registry credentials, docker's config.json shape
  // Shared state (docs/cluster.md): "" = the SQLite file in the data dir; else a
  // store URL, "sqlite:PATH" or "etcd://h1:2379,h2:2379" (store/etcd/etcd_endpoints.h).
  std::string store;
  std::string etcd_cacert, etcd_cert, etcd_key;  // PEM files; TLS to etcd when any is set
  int host_ttl = 5;                              // seconds: the host's etcd lease (down after TTL + 1 s)
  std::string underlay;                          // this host's address on the underlay network
  std::string regions;                           // region table file (ADR 0018); "" = the store's, else Fly's
};

// Parses argv; on --help prints usage and returns exit code 0 via `exit_code`.
// Usage errors print to stderr and set exit_code 2.
std::optional<DaemonOptions> ParseDaemonArgs(int argc, char** argv, int* exit_code);

// "16M", "512k", "1G" (powers of 1024) or a bare number of bytes.
Result<uint64_t> ParseSize(const std::string& text);

// The proxy's share of the process's descriptor limit `nofile` (the soft RLIMIT_NOFILE, which
// privcastd raises to the hard one): everything but a reserve of nofile/5, at least 1024 and at
// most 8192, kept for the API, DNS, the store and the machines' pidfds, logs and probes. Below
// 2048 the proxy gets half.
int64_t DefaultProxyFdBudget(uint64_t nofile);

// "90s", "5m", "250ms", "2h", or a bare integer (seconds).
Result<std::chrono::milliseconds> ParseDuration(const std::string& text);

// A listener flag's "addr:port" / "[v6]:port" (addr may be empty: any). The port is a whole
// decimal number 0-65535 (0: the kernel picks); anything else is an error naming `flag`.
struct HostPort {
  std::string host;  // without brackets
  uint16_t port = 0;
};
Result<HostPort> ParseHostPort(const std::string& flag, const std::string& text);

}  // namespace privcast::daemon
