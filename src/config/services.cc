#include "config/services.h"

#include <algorithm>
#include <string_view>

namespace privcast::config {
namespace {

bool Serves(const std::vector<std::string>& processes, const std::string& group) {
  return processes.empty() || std::find(processes.begin(), processes.end(), group) != processes.end();
}

HttpCheckSpec ToHttpCheck(const CheckConfig& c) {
  HttpCheckSpec h;
  h.interval_ms = c.interval_ms;
  h.timeout_ms = c.timeout_ms;
  h.grace_period_ms = c.grace_period_ms;
  h.method = c.method;
  h.path = c.path;
  h.protocol = c.protocol;
  h.headers = c.headers;
  return h;
}

TcpCheckSpec ToTcpCheck(const CheckConfig& c) {
  TcpCheckSpec t;
  t.interval_ms = c.interval_ms;
  t.timeout_ms = c.timeout_ms;
  t.grace_period_ms = c.grace_period_ms;
  return t;
}

// tls_options → PortSpec: ALPN as given; versions → the range they span (default 1.2–1.3).
void FillTls(const TlsOptions& t, PortSpec* p) {
  p->tls_alpn = t.alpn;
  if (t.versions.empty()) return;
  p->tls_min_version = 0xffff;
  p->tls_max_version = 0;
  for (const std::string& v : t.versions) {
    uint16_t wire = v == "TLSv1.3" ? 0x0304 : 0x0303;
    p->tls_min_version = std::min(p->tls_min_version, wire);
    p->tls_max_version = std::max(p->tls_max_version, wire);
  }
}

void FillCommon(const ServiceCommon& c, ServiceSpec* s) {
  s->internal_port = c.internal_port;
  s->concurrency = c.concurrency.type;
  s->soft_limit = c.concurrency.soft_limit;
  s->hard_limit = c.concurrency.hard_limit.value_or(0);
  s->auto_stop = c.auto_stop;
  s->auto_start = c.auto_start;
  s->min_machines_running = c.min_machines_running;
  s->processes = c.processes;
}

struct Preset {
  std::string_view name;
  uint32_t cpus;
  uint32_t memory_mb;
  const char* kind;
};
// Fly's machine size presets (default memory per size).
constexpr Preset kPresets[] = {
    {"shared-cpu-1x", 1, 256, "shared"},           {"shared-cpu-2x", 2, 512, "shared"},
    {"shared-cpu-4x", 4, 1024, "shared"},          {"shared-cpu-8x", 8, 2048, "shared"},
    {"performance-1x", 1, 2048, "performance"},    {"performance-2x", 2, 4096, "performance"},
    {"performance-4x", 4, 8192, "performance"},    {"performance-8x", 8, 16384, "performance"},
    {"performance-16x", 16, 32768, "performance"},
};

// Index of the entry that applies to `group`, or -1. An entry naming the group beats a
// catch-all; among equals the later one wins.
template <typename T>
int Pick(const std::vector<T>& v, const std::string& group) {
  int named = -1, all = -1;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].processes.empty()) all = static_cast<int>(i);
    else if (Serves(v[i].processes, group)) named = static_cast<int>(i);
  }
  return named >= 0 ? named : all;
}

}  // namespace

std::vector<ServiceSpec> ToServiceSpecs(const AppConfig& c) {
  std::vector<ServiceSpec> out;
  if (c.http_service) {
    const HttpServiceConfig& h = *c.http_service;
    ServiceSpec s;
    s.protocol = "tcp";
    FillCommon(h.common, &s);
    PortSpec p80;
    p80.start_port = p80.end_port = 80;
    p80.http = true;
    p80.force_https = h.force_https;
    PortSpec p443;
    p443.start_port = p443.end_port = 443;
    p443.http = true;
    p443.tls = true;
    FillTls(h.tls_options, &p443);
    s.ports = {p80, p443};
    for (const CheckConfig& ck : h.checks) s.http_checks.push_back(ToHttpCheck(ck));
    s.response_pristine = h.http_options.response_pristine;
    s.response_headers = h.http_options.response_headers;
    s.h2_backend = h.http_options.h2_backend;
    out.push_back(std::move(s));
  }
  for (const ServiceConfig& sc : c.services) {
    ServiceSpec s;
    s.name = sc.name;
    s.protocol = sc.protocol;
    FillCommon(sc.common, &s);
    bool have_http_options = false;
    for (const PortConfig& pc : sc.ports) {
      PortSpec p;
      p.start_port = pc.start_port;
      p.end_port = pc.end_port;
      p.http = pc.HasHandler("http");
      p.tls = pc.HasHandler("tls");
      p.proxy_proto = pc.HasHandler("proxy_proto");
      p.proxy_proto_version = pc.proxy_proto_version;
      p.force_https = pc.force_https;
      if (p.tls) FillTls(pc.tls_options, &p);
      s.ports.push_back(p);
      // ServiceSpec carries response options per service: the first http port's win.
      if (p.http && !have_http_options) {
        have_http_options = true;
        s.response_pristine = pc.http_options.response_pristine;
        s.response_headers = pc.http_options.response_headers;
        s.h2_backend = pc.http_options.h2_backend;
      }
    }
    for (const CheckConfig& ck : sc.tcp_checks) s.tcp_checks.push_back(ToTcpCheck(ck));
    for (const CheckConfig& ck : sc.http_checks) s.http_checks.push_back(ToHttpCheck(ck));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> ProcessGroups(const AppConfig& c) {
  if (c.processes.empty()) return {"app"};
  std::vector<std::string> out;
  for (const auto& [g, cmd] : c.processes) out.push_back(g);
  std::sort(out.begin(), out.end());
  return out;
}

std::string CommandFor(const AppConfig& c, const std::string& group) {
  for (const auto& [g, cmd] : c.processes)
    if (g == group) return cmd;
  return "";
}

bool GroupHasServices(const AppConfig& c, const std::string& group) {
  if (c.http_service && Serves(c.http_service->common.processes, group)) return true;
  for (const ServiceConfig& s : c.services)
    if (Serves(s.common.processes, group)) return true;
  return false;
}

std::vector<ServiceSpec> ServicesForGroup(const AppConfig& c, const std::string& group) {
  std::vector<ServiceSpec> out;
  for (ServiceSpec& s : ToServiceSpecs(c))
    if (Serves(s.processes, group)) out.push_back(std::move(s));
  return out;
}

VmSize VmFor(const AppConfig& c, const std::string& group) {
  VmSize out;
  int i = Pick(c.vm, group);
  if (i < 0) return out;
  const VmConfig& vm = c.vm[static_cast<size_t>(i)];
  for (const Preset& p : kPresets) {
    if (vm.size == p.name) {
      out.memory_mb = p.memory_mb;
      out.cpus = p.cpus;
      out.cpu_kind = p.kind;
    }
  }
  if (vm.memory_mb) out.memory_mb = *vm.memory_mb;
  if (vm.cpus) out.cpus = *vm.cpus;
  if (!vm.cpu_kind.empty()) out.cpu_kind = vm.cpu_kind;
  return out;
}

uint32_t MemoryMbFor(const AppConfig& c, const std::string& group) { return VmFor(c, group).memory_mb; }

uint32_t CpusFor(const AppConfig& c, const std::string& group) { return VmFor(c, group).cpus; }

bool PersistRootfsFor(const AppConfig& c, const std::string& group) {
  int i = Pick(c.vm, group);
  return i >= 0 && c.vm[static_cast<size_t>(i)].persist_rootfs;
}

const MountConfig* MountFor(const AppConfig& c, const std::string& group) {
  int i = Pick(c.mounts, group);
  return i < 0 ? nullptr : &c.mounts[static_cast<size_t>(i)];
}

RestartConfig RestartFor(const AppConfig& c, const std::string& group) {
  int i = Pick(c.restart, group);
  if (i < 0) return RestartConfig{};
  return c.restart[static_cast<size_t>(i)];
}

}  // namespace privcast::config
