#include "daemon/options.h"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/ids.h"

namespace privcast::daemon {

Result<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  if (text.empty()) return InvalidArgument("empty duration");
  size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  if (i == 0 || i > 12) return InvalidArgument("bad duration \"" + text + "\" (use e.g. 250ms, 30s, 5m)");
  long long n = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  long long ms;
  if (unit.empty() || unit == "s") ms = n * 1000;
  else if (unit == "ms") ms = n;
  else if (unit == "m") ms = n * 60'000;
  else if (unit == "h") ms = n * 3'600'000;
  else return InvalidArgument("bad duration unit in \"" + text + "\" (use ms, s, m or h)");
  return std::chrono::milliseconds(ms);
}

std::optional<DaemonOptions> ParseDaemonArgs(int argc, char** argv, int* exit_code) {
  DaemonOptions o;
  CLI::App app{"privcastd: the privcast daemon (store, API, machines, flycast proxy, internal DNS)"};
  app.name("privcastd");
  std::string autostop_interval = "60s", autostop_idle = "5m", wake_timeout = "30s", drain = "10s";
  bool no_dns = false, no_prewarm = false, no_firewall = false, no_io_uring = false;
  app.add_option("--data-dir", o.data_dir, "state directory (store, machine logs)")->capture_default_str();
  app.add_option("--region", o.region, "this host's region code (3 lowercase letters)")->capture_default_str();
  app.add_option("--api", o.api, "API endpoint, unix:PATH")->capture_default_str();
  app.add_option("--proxy-workers", o.proxy_workers, "proxy worker threads (0 = one per core)");
  app.add_flag("--no-proxy-io-uring", no_io_uring, "proxy: one send() per HTTP write instead of batching them through io_uring");
  app.add_option("--autostop-interval", autostop_interval, "how often the autostop pass runs")->capture_default_str();
  app.add_option("--autostop-idle", autostop_idle, "idle time before a machine may be stopped")->capture_default_str();
  app.add_option("--wake-timeout", wake_timeout, "how long a request waits for a machine to start")->capture_default_str();
  app.add_option("--drain-timeout", drain, "SIGTERM: how long open connections may finish")->capture_default_str();
  app.add_flag("--no-dns", no_dns, "do not run the internal DNS server");
  app.add_option("--dns-listen", o.dns_listen, "extra DNS listener [addr]:port (for the host's own use)");
  app.add_option("--upstream-resolv-conf", o.upstream_resolv_conf, "resolv.conf with the upstream resolvers")->capture_default_str();
  app.add_flag("--no-prewarm", no_prewarm, "do not wake machines on <app>.flycast lookups");
  app.add_flag("--no-firewall", no_firewall, "do not install the nftables isolation table (testing only)");
  app.add_option("--log-level", o.log_level, "debug|info|warn|error")->capture_default_str();
  app.add_flag("--reset-store", o.reset_store,
               "start as a new host even though the store is empty or missing and the data dir shows earlier state");
  app.add_flag("--uninstall", o.uninstall,
               "remove privcast's nftables table from this network namespace and exit (refused while machines run)");
  app.add_option("--instance", o.instance, "name for this daemon's cgroups (default: derived from --data-dir)");
  app.add_option("--id-base", o.id_base, "first host uid/gid of machines' user namespaces (65536 per machine)")
      ->capture_default_str();
  app.add_option("--init", o.init_path, "privcast-init, PID 1 of every machine (default: next to privcastd)");
  app.add_option("--insecure-registry", o.insecure_registries,
                 "a registry HOST[:PORT] pulled over plain HTTP (loopback registries always are); repeatable");
  app.add_option("--skopeo", o.skopeo, "the skopeo binary images are pulled with")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    if (*exit_code != 0) *exit_code = 2;
    return std::nullopt;
  }
  auto bad = [&](const std::string& m) {
    std::fprintf(stderr, "Error: %s\n", m.c_str());
    *exit_code = 2;
    return std::nullopt;
  };
  if (!ids::IsRegionCode(o.region)) return bad("--region must be 3 lowercase letters, e.g. ams");
  if (o.api.rfind("unix:", 0) != 0 || o.api.size() <= 5) return bad("--api must be unix:PATH");
  // Machine ids must never be host users' (< 65536) and the last slot's range must end below
  // (uid_t)-1: id_base + 2^15 × 65536 ≤ 2^32 - 1.
  if (o.id_base < 65536 || o.id_base > 0x7FFF0000u)
    return bad("--id-base must be within 65536..2147418112 (machines get 65536 ids each above it)");
  for (auto [text, out] : {std::pair{&autostop_interval, &o.autostop_interval}, {&autostop_idle, &o.autostop_idle},
                           {&wake_timeout, &o.wake_timeout}, {&drain, &o.drain_timeout}}) {
    auto d = ParseDuration(*text);
    if (!d.ok()) return bad(d.status().message());
    *out = *d;
  }
  o.dns = !no_dns;
  o.prewarm = !no_prewarm;
  o.firewall = !no_firewall;
  o.proxy_batch_writes = !no_io_uring;
  *exit_code = 0;
  return o;
}

}  // namespace privcast::daemon
