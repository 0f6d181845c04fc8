#include "daemon/options.h"

#include <algorithm>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/ids.h"
#include "common/strings.h"
#include "store/etcd/etcd_endpoints.h"

namespace privcast::daemon {

Result<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  if (text.empty()) return InvalidArgument("empty duration");
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 12) return InvalidArgument("bad duration \"" + text + "\" (use e.g. 250ms, 30s, 5m)");
  long long n = ParseDecimal<long long>(std::string_view(text).substr(0, i)).value();  // ≤ 12 digits
  std::string unit = text.substr(i);
  long long ms;
  if (unit.empty() || unit == "s") ms = n * 1000;
  else if (unit == "ms") ms = n;
  else if (unit == "m") ms = n * 60'000;
  else if (unit == "h") ms = n * 3'600'000;
  else return InvalidArgument("bad duration unit in \"" + text + "\" (use ms, s, m or h)");
  return std::chrono::milliseconds(ms);
}

Result<uint64_t> ParseSize(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 15) return InvalidArgument("bad size \"" + text + "\" (use e.g. 16M, 512k, 1G)");
  uint64_t n = ParseDecimal<uint64_t>(std::string_view(text).substr(0, i)).value();  // ≤ 15 digits
  std::string unit = text.substr(i);
  int shift = 0;
  if (unit.empty() || unit == "b" || unit == "B") shift = 0;
  else if (unit == "k" || unit == "K") shift = 10;
  else if (unit == "m" || unit == "M") shift = 20;
  else if (unit == "g" || unit == "G") shift = 30;
  else return InvalidArgument("bad size unit in \"" + text + "\" (use k, M or G)");
  return n << shift;
}

Result<HostPort> ParseHostPort(const std::string& flag, const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return InvalidArgument(flag + " wants [addr]:port, got \"" + text + "\"");
  HostPort hp;
  hp.host = text.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']')
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  auto port = ParseDecimal<uint16_t>(std::string_view(text).substr(colon + 1));
  if (!port)
    return InvalidArgument(flag + " \"" + text + "\": the port must be a number from 0 to 65535, got \"" +
                           text.substr(colon + 1) + "\"");
  hp.port = *port;
  return hp;
}

int64_t DefaultProxyFdBudget(uint64_t nofile) {
  if (nofile < 2048) return static_cast<int64_t>(nofile / 2);
  uint64_t reserve = std::clamp<uint64_t>(nofile / 5, 1024, 8192);
  return static_cast<int64_t>(nofile - reserve);
}

namespace {

// What a flag holds before it is checked: durations and sizes as text, the --no-* flags.
struct RawFlags {
  std::string autostop_interval = "60s", autostop_idle = "5m", wake_timeout = "30s", drain = "10s";
  std::string dns_neg_ttl = "300s", dns_servfail_ttl = "5s", api_request_timeout = "10s";
  std::string header_timeout = "10s", body_timeout = "10s";
  std::string log_max = "16M";
  bool no_dns = false, no_prewarm = false, no_firewall = false, no_io_uring = false, no_batch_when_busy = false;
};

void AddApiFlags(CLI::App& app, DaemonOptions& o, RawFlags& r) {
  app.add_option("--data-dir", o.data_dir, "state directory (store, machine logs)")->capture_default_str();
  app.add_option("--region", o.region, "this host's region code (3 lowercase letters)")->capture_default_str();
  app.add_option("--api", o.api, "API endpoint, unix:PATH")->capture_default_str();
  app.add_option("--api-request-timeout", r.api_request_timeout,
                 "API: deadline for a whole request (head and body) from its first byte")
      ->capture_default_str();
  app.add_option("--api-max-connections-per-uid", o.api_max_connections_per_uid,
                 "API: connections one uid other than root and the daemon's may hold")
      ->capture_default_str();
}

void AddProxyFlags(CLI::App& app, DaemonOptions& o, RawFlags& r) {
  app.add_option("--proxy-workers", o.proxy_workers, "proxy worker threads (0 = one per core)");
  app.add_flag("--no-proxy-io-uring", r.no_io_uring,
               "proxy: one send() per HTTP write instead of batching them through io_uring");
  app.add_flag("--no-proxy-batch-when-busy", r.no_batch_when_busy,
               "proxy: workers never switch to SCHED_BATCH under load (ADR 0021)");
  app.add_option("--proxy-max-conns-per-network", o.proxy_max_conns_per_network,
                 "proxy: open client connections per source network; more are reset (0 = unlimited)")
      ->capture_default_str();
  app.add_option("--proxy-conn-rate-per-network", o.proxy_conn_rate_per_network,
                 "proxy: new connections per second per source network; faster ones are reset (0 = unlimited)")
      ->capture_default_str();
  app.add_option("--proxy-conn-burst-per-network", o.proxy_conn_burst_per_network,
                 "proxy: burst of the per-network connection rate (token bucket size)")
      ->capture_default_str();
  app.add_option("--proxy-fd-budget", o.proxy_fd_budget,
                 "proxy: descriptors it may hold before it stops accepting (-1 = from RLIMIT_NOFILE, 0 = none)")
      ->capture_default_str();
  app.add_option("--proxy-header-timeout", r.header_timeout,
                 "proxy: a request head must be complete this long after its first byte")
      ->capture_default_str();
  app.add_option("--proxy-body-timeout", r.body_timeout,
                 "proxy: grace for a request body before the minimum rate applies")
      ->capture_default_str();
  app.add_option("--proxy-body-min-rate", o.proxy_body_min_rate,
                 "proxy: minimum average request body rate, bytes/s (0 = off)")
      ->capture_default_str();
}

void AddLifecycleFlags(CLI::App& app, DaemonOptions& /*o*/, RawFlags& r) {
  app.add_option("--autostop-interval", r.autostop_interval, "how often the autostop pass runs")->capture_default_str();
  app.add_option("--autostop-idle", r.autostop_idle, "idle time before a machine may be stopped")
      ->capture_default_str();
  app.add_option("--wake-timeout", r.wake_timeout, "how long a request waits for a machine to start")
      ->capture_default_str();
  app.add_option("--drain-timeout", r.drain, "SIGTERM: how long open connections may finish")->capture_default_str();
}

void AddDnsFlags(CLI::App& app, DaemonOptions& o, RawFlags& r) {
  app.add_flag("--no-dns", r.no_dns, "do not run the internal DNS server");
  app.add_option("--dns-listen", o.dns_listen, "extra DNS listener [addr]:port (for the host's own use)");
  app.add_option("--upstream-resolv-conf", o.upstream_resolv_conf, "resolv.conf with the upstream resolvers")
      ->capture_default_str();
  app.add_option("--dns-forward-inflight", o.dns_forward_inflight,
                 "forwarded DNS queries each network may have waiting for an upstream (0 = no limit)")
      ->capture_default_str();
  app.add_option("--dns-forward-qps", o.dns_forward_qps,
                 "forwarded DNS queries each network may start per second (0 = no limit)")
      ->capture_default_str();
  app.add_option("--dns-negative-cache-max-ttl", r.dns_neg_ttl,
                 "cap on caching upstream NXDOMAIN/NODATA answers (0 = off)")
      ->capture_default_str();
  app.add_option("--dns-servfail-cache-ttl", r.dns_servfail_ttl,
                 "how long an upstream failure is cached per name (0 = off)")
      ->capture_default_str();
  app.add_flag("--no-prewarm", r.no_prewarm, "do not wake machines on <app>.flycast lookups");
}

void AddHostFlags(CLI::App& app, DaemonOptions& o, RawFlags& r) {
  app.add_flag("--no-firewall", r.no_firewall, "do not install the nftables isolation table (testing only)");
  app.add_option("--log-level", o.log_level, "debug|info|warn|error")->capture_default_str();
  app.add_option("--machine-log-max-size", r.log_max, "rotate a machine's log past this size (0 = never)")
      ->capture_default_str();
  app.add_option("--machine-log-files", o.machine_log_files, "rotated copies of a machine's log kept")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  app.add_flag("--reset-store", o.reset_store,
               "start as a new host even though the store is empty or missing and the data dir shows earlier state");
  app.add_flag("--uninstall", o.uninstall,
               "remove privcast's nftables table from this network namespace and exit (refused while machines run)");
  app.add_option("--instance", o.instance, "name for this daemon's cgroups (default: derived from --data-dir)");
  app.add_option("--id-base", o.id_base, "first host uid/gid of machines' user namespaces (65536 per machine)")
      ->capture_default_str();
  app.add_option("--init", o.init_path, "privcast-init, PID 1 of every machine (default: next to privcastd)");
}

void AddImageFlags(CLI::App& app, DaemonOptions& o, RawFlags& /*r*/) {
  app.add_option("--insecure-registry", o.insecure_registries,
                 "a registry HOST[:PORT] pulled over plain HTTP (loopback registries always are); repeatable");
  app.add_option(
         "--registry-auth-file", o.registry_auth_file,
         "registry credentials for pulls: docker's config.json shape ({\"auths\": {\"HOST[:PORT]\": {\"auth\": base64(user:password)}}})")
      ->check(CLI::ExistingFile);
  app.add_option("--skopeo", o.skopeo, "the skopeo binary images are pulled with")->capture_default_str();
}

void AddStoreFlags(CLI::App& app, DaemonOptions& o, RawFlags& /*r*/) {
  app.add_option(
      "--store", o.store,
      "shared state: sqlite:PATH (default: store.db in --data-dir) or etcd://h1:2379,h2:2379,[fd00::e]:2379");
  app.add_option("--etcd-cacert", o.etcd_cacert, "etcd: CA certificate (PEM) to verify the members with (TLS)");
  app.add_option("--etcd-cert", o.etcd_cert, "etcd: client certificate (PEM)");
  app.add_option("--etcd-key", o.etcd_key, "etcd: client key (PEM)");
  app.add_option("--host-ttl", o.host_ttl, "etcd: seconds of this host's lease; it is down TTL + 1 s after it stops")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  app.add_option("--regions", o.regions,
                 "region table file (TOML: codes, coordinates, distances); stored for every host of the cluster")
      ->check(CLI::ExistingFile);
  app.add_option("--underlay", o.underlay, "this host's address on the network between hosts (cluster)");
}

// The flags by group, in the order --help lists them.
using FlagGroup = void (*)(CLI::App&, DaemonOptions&, RawFlags&);
constexpr FlagGroup kFlagGroups[] = {AddApiFlags,  AddProxyFlags, AddLifecycleFlags, AddDnsFlags,
                                     AddHostFlags, AddImageFlags, AddStoreFlags};

// Checks what CLI11 cannot (ranges that depend on each other, durations, URLs) and fills in
// the values held as text; returns the usage error, if any.
Status FinishOptions(const RawFlags& r, DaemonOptions& o) {
  if (o.proxy_conn_rate_per_network < 0) return InvalidArgument("--proxy-conn-rate-per-network must be ≥ 0");
  if (o.proxy_fd_budget < -1) return InvalidArgument("--proxy-fd-budget must be -1 (automatic), 0 (none) or a count");
  if (!ids::IsRegionCode(o.region)) return InvalidArgument("--region must be 3 lowercase letters, e.g. ams");
  if (o.api.rfind("unix:", 0) != 0 || o.api.size() <= 5) return InvalidArgument("--api must be unix:PATH");
  // Machine ids must never be host users' (< 65536) and the last slot's range must end below
  // (uid_t)-1: id_base + 2^15 × 65536 ≤ 2^32 - 1.
  if (o.id_base < 65536 || o.id_base > 0x7FFF0000u)
    return InvalidArgument("--id-base must be within 65536..2147418112 (machines get 65536 ids each above it)");
  for (auto [text, out] : {std::pair{&r.autostop_interval, &o.autostop_interval},
                           {&r.autostop_idle, &o.autostop_idle},
                           {&r.wake_timeout, &o.wake_timeout},
                           {&r.drain, &o.drain_timeout},
                           {&r.dns_neg_ttl, &o.dns_negative_cache_max_ttl},
                           {&r.dns_servfail_ttl, &o.dns_servfail_cache_ttl},
                           {&r.api_request_timeout, &o.api_request_timeout},
                           {&r.header_timeout, &o.proxy_header_timeout},
                           {&r.body_timeout, &o.proxy_body_timeout}}) {
    PC_ASSIGN_OR_RETURN(*out, ParseDuration(*text));
  }
  if (!o.store.empty()) {
    auto u = store::ParseStoreUrl(o.store);
    if (!u.ok()) return InvalidArgument("--store: " + u.status().message());
    if (u->kind != store::StoreUrl::Kind::kEtcd &&
        !(o.etcd_cacert.empty() && o.etcd_cert.empty() && o.etcd_key.empty()))
      return InvalidArgument("--etcd-cacert/--etcd-cert/--etcd-key need --store etcd://...");
  }
  if (o.etcd_cert.empty() != o.etcd_key.empty()) return InvalidArgument("--etcd-cert and --etcd-key go together");
  if (o.api_request_timeout.count() <= 0) return InvalidArgument("--api-request-timeout must be more than 0");
  if (o.api_max_connections_per_uid < 1) return InvalidArgument("--api-max-connections-per-uid must be at least 1");
  auto size = ParseSize(r.log_max);
  if (!size.ok()) return InvalidArgument("--machine-log-max-size: " + size.status().message());
  o.machine_log_max_bytes = *size;
  // Checked here, not when DNS starts: a typo is a usage error even with --no-dns.
  for (const auto& l : o.dns_listen) PC_RETURN_IF_ERROR(ParseHostPort("--dns-listen", l).status());
  o.dns = !r.no_dns;
  o.prewarm = !r.no_prewarm;
  o.firewall = !r.no_firewall;
  o.proxy_batch_writes = !r.no_io_uring;
  o.proxy_batch_when_busy = !r.no_batch_when_busy;
  return Status::Ok();
}

}  // namespace

std::optional<DaemonOptions> ParseDaemonArgs(int argc, char** argv, int* exit_code) {
  DaemonOptions o;
  RawFlags raw;
  CLI::App app{"privcastd: the privcast daemon (store, API, machines, flycast proxy, internal DNS)"};
  app.name("privcastd");
  for (FlagGroup add : kFlagGroups) add(app, o, raw);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    if (*exit_code != 0) *exit_code = 2;
    return std::nullopt;
  }
  if (Status st = FinishOptions(raw, o); !st.ok()) {
    std::fprintf(stderr, "Error: %s\n", st.message().c_str());
    *exit_code = 2;
    return std::nullopt;
  }
  *exit_code = 0;
  return o;
}

}  // namespace privcast::daemon
