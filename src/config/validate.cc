// Semantic checks and warnings on an AppConfig (declared in config/load.h). Works on the
// model only, so configs read back from JSON get the same checks as fly.toml files;
// positions, when known, come from AppConfig::source.
#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/ids.h"
#include "config/load.h"

namespace privcast::config {
namespace {

class Checker {
 public:
  explicit Checker(const AppConfig& c) : c_(c) {
    if (c_.processes.empty()) {
      groups_.insert("app");
    } else {
      for (const auto& [g, cmd] : c_.processes) groups_.insert(g);
    }
  }

  std::vector<Diagnostic> Run();

 private:
  void Add(const std::string& path, std::string msg) {
    out_.push_back(Diagnostic{c_.source.file, c_.source.Find(path), path, std::move(msg)});
  }
  void Groups(const std::vector<std::string>& groups, const std::string& path);
  void Common(const ServiceCommon& s, const std::string& p);
  void Check(const CheckConfig& c, const std::string& p, bool http);
  void Ports();
  void ServiceName(size_t i);
  void TopLevel();
  void Vms();
  void Mounts();
  void Services();
  void Port(const ServiceConfig& s, const std::string& p, size_t j);
  void NamedChecks();

  const AppConfig& c_;
  std::set<std::string> groups_;
  std::vector<Diagnostic> out_;
};

std::string At(const std::string& p, size_t i) { return p + "[" + std::to_string(i) + "]"; }

void Checker::Groups(const std::vector<std::string>& groups, const std::string& path) {
  for (size_t i = 0; i < groups.size(); ++i) {
    if (groups_.count(groups[i]) != 0) continue;
    if (c_.processes.empty()) {
      Add(At(path, i),
          "process group \"" + groups[i] + "\" does not exist: without [processes] the only group is \"app\"");
    } else {
      std::string names;
      for (const auto& g : groups_) names += (names.empty() ? "" : ", ") + g;
      Add(At(path, i), "process group \"" + groups[i] + "\" is not defined in [processes] (groups: " + names + ")");
    }
  }
}

void Checker::Common(const ServiceCommon& s, const std::string& p) {
  if (s.internal_port == 0) Add(p + ".internal_port", "expected a port number (1-65535), got 0");
  if (s.concurrency.soft_limit == 0) {
    Add(p + ".concurrency.soft_limit", "expected a positive integer, got 0");
  }
  if (s.concurrency.hard_limit && *s.concurrency.hard_limit < s.concurrency.soft_limit) {
    Add(p + ".concurrency.hard_limit", "hard_limit (" + std::to_string(*s.concurrency.hard_limit) +
                                           ") is lower than soft_limit (" + std::to_string(s.concurrency.soft_limit) +
                                           ")");
  }
  Groups(s.processes, p + ".processes");
}

void Checker::Check(const CheckConfig& c, const std::string& p, bool http) {
  if (c.interval_ms <= 0) Add(p + ".interval", "expected a positive duration");
  if (c.timeout_ms <= 0) Add(p + ".timeout", "expected a positive duration");
  if (c.grace_period_ms < 0) Add(p + ".grace_period", "expected a non-negative duration");
  if (!http) return;
  if (c.method.empty()) Add(p + ".method", "expected an HTTP method like \"GET\"");
  if (c.path.empty() || c.path[0] != '/') Add(p + ".path", "expected a path starting with \"/\"");
  if (c.protocol != "http" && c.protocol != "https") {
    Add(p + ".protocol", "expected one of \"http\" or \"https\"");
  }
}

// No external port may be used twice for the same protocol, across [http_service]
// (tcp 80 and 443) and every [[services]] port range.
void Checker::Ports() {
  struct Used {
    std::string protocol;
    uint32_t start, end;
    std::string owner;
  };
  std::vector<Used> used;
  if (c_.http_service) {
    used.push_back({"tcp", 80, 80, "[http_service]"});
    used.push_back({"tcp", 443, 443, "[http_service]"});
  }
  for (size_t i = 0; i < c_.services.size(); ++i) {
    const ServiceConfig& s = c_.services[i];
    for (size_t j = 0; j < s.ports.size(); ++j) {
      const PortConfig& pc = s.ports[j];
      std::string pp = At(At("services", i) + ".ports", j);
      std::string key = pp + (c_.source.Find(pp + ".start_port").line != 0 ? ".start_port" : ".port");
      if (pc.start_port == 0 || pc.start_port > pc.end_port) continue;  // reported elsewhere
      for (const Used& u : used) {
        if (u.protocol != s.protocol || pc.end_port < u.start || pc.start_port > u.end) continue;
        uint32_t clash = std::max<uint32_t>(pc.start_port, u.start);
        Add(key, "external port " + std::to_string(clash) + "/" + s.protocol + " is already used by " + u.owner);
        break;
      }
      used.push_back({s.protocol, pc.start_port, pc.end_port, pp});
    }
  }
}

// `name` of [[services]] (privcast addition, ADR 0013): it becomes the first label of
// `<name>.svc.<app>.flycast`, so a DNS label; unique among the app's named services; and a
// name that is also a process group must mean the same machines (serve exactly that group),
// else `<name>.svc.<app>.flycast` would be ambiguous.
void Checker::ServiceName(size_t i) {
  const ServiceConfig& s = c_.services[i];
  if (s.name.empty() && c_.source.Find(At("services", i) + ".name").line == 0) return;
  const std::string path = At("services", i) + ".name";
  if (!ids::IsDnsLabel(s.name)) {
    Add(path, "invalid service name \"" + s.name +
                  "\": service names are DNS labels (1-63 lowercase letters, digits and '-', not "
                  "starting or ending with '-')");
    return;
  }
  if (s.name == "svc") {
    Add(path, "service name \"svc\" is reserved (it is the label of <service>.svc.<app>.flycast)");
    return;
  }
  for (size_t k = 0; k < i; ++k)
    if (c_.services[k].name == s.name) {
      Add(path, "service name \"" + s.name + "\" is already used by services[" + std::to_string(k) + "]");
      return;
    }
  if (groups_.count(s.name) != 0 && !(s.common.processes.size() == 1 && s.common.processes[0] == s.name)) {
    Add(path, "service name \"" + s.name + "\" is also a process group: give this service processes = [\"" + s.name +
                  "\"] or another name (<name>.svc.<app>.flycast must mean one set of machines)");
  }
}

std::vector<Diagnostic> Checker::Run() {
  TopLevel();
  Vms();
  Mounts();
  for (size_t i = 0; i < c_.restart.size(); ++i) {
    Groups(c_.restart[i].processes, At("restart", i) + ".processes");
  }
  if (c_.http_service) {
    const HttpServiceConfig& hs = *c_.http_service;
    Common(hs.common, "http_service");
    for (size_t i = 0; i < hs.checks.size(); ++i) {
      Check(hs.checks[i], At("http_service.checks", i), true);
    }
  }
  Services();
  NamedChecks();
  Ports();
  std::stable_sort(out_.begin(), out_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    int la = a.pos.line == 0 ? INT32_MAX : a.pos.line;
    int lb = b.pos.line == 0 ? INT32_MAX : b.pos.line;
    if (la != lb) return la < lb;
    return a.pos.column < b.pos.column;
  });
  return std::move(out_);
}

// The sections of Run, in the order Run checks them.
void Checker::TopLevel() {
  if (!c_.app.empty() && !ids::IsDnsLabel(c_.app)) {
    // Templates (fly-apps examples, scaffolding tools) write `app = "{APP_NAME}"` or
    // similar and expect -a to name the app.
    bool placeholder = c_.app.find_first_of("{}$<>%") != std::string::npos;
    Add("app", "invalid app name \"" + c_.app +
                   "\": app names are DNS labels (1-63 lowercase letters, digits and '-', not "
                   "starting or ending with '-')" +
                   (placeholder ? "; this looks like a template's placeholder: pass -a APP" : ""));
  }
  if (!c_.primary_region.empty() && !ids::IsRegionCode(c_.primary_region)) {
    Add("primary_region",
        "expected a region code of 3 lowercase letters like \"ams\", got \"" + c_.primary_region + "\"");
  }
  if (c_.kill_timeout_ms < 0 || c_.kill_timeout_ms > kMaxKillTimeoutMs) {
    Add("kill_timeout", "expected at most 300s, got " + FormatDurationMs(c_.kill_timeout_ms));
  }
  for (const auto& [k, v] : c_.env) {
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos) {
      Add("env", "invalid environment variable name \"" + k + "\"");
    }
  }
  for (const auto& [g, cmd] : c_.processes) {
    if (!ids::IsDnsLabel(g)) Add("processes." + g, "a process group name must be a DNS label");
    if (cmd.empty()) Add("processes." + g, "expected a non-empty command string");
  }
}

void Checker::Vms() {
  for (size_t i = 0; i < c_.vm.size(); ++i) {
    const VmConfig& vm = c_.vm[i];
    std::string p = At("vm", i);
    if (vm.memory_mb && (*vm.memory_mb == 0 || *vm.memory_mb > 1024 * 1024)) {
      Add(p + ".memory", "expected a memory size between 1mb and 1024gb");
    }
    if (vm.cpus && (*vm.cpus == 0 || *vm.cpus > 128)) Add(p + ".cpus", "expected 1-128 CPUs");
    if (!vm.cpu_kind.empty() && vm.cpu_kind != "shared" && vm.cpu_kind != "performance") {
      Add(p + ".cpu_kind", "expected one of \"shared\" or \"performance\"");
    }
    Groups(vm.processes, p + ".processes");
  }
}

void Checker::Mounts() {
  // A machine mounts at most one volume (as on Fly): one mount per process group.
  std::map<std::string, size_t> mounted;  // group ("" = every group) → mount index
  for (size_t i = 0; i < c_.mounts.size(); ++i) {
    const MountConfig& m = c_.mounts[i];
    std::string p = At("mounts", i);
    if (!IsVolumeName(m.source)) Add(p + ".source", "expected a volume name: 1-30 lowercase letters, digits and '_'");
    if (std::string why = CheckMountDestination(m.destination); !why.empty())
      Add(p + ".destination", "destination " + why);
    Groups(m.processes, p + ".processes");
    std::vector<std::string> gs = m.processes;
    if (gs.empty()) gs.push_back("");
    for (const auto& g : gs) {
      for (const auto& [other, j] : mounted) {
        if (other == g || other.empty() || g.empty()) {
          Add(p, "a machine mounts one volume: process group" +
                     (g.empty() && other.empty() ? "s" : " \"" + (g.empty() ? other : g) + "\"") + " already mount" +
                     (g.empty() && other.empty() ? "" : "s") + " " + At("mounts", j) +
                     " (give each mount its own processes)");
          break;
        }
      }
      mounted.emplace(g, i);
    }
  }
}

void Checker::Services() {
  for (size_t i = 0; i < c_.services.size(); ++i) {
    const ServiceConfig& s = c_.services[i];
    std::string p = At("services", i);
    if (s.protocol != "tcp" && s.protocol != "udp") {
      Add(p + ".protocol", "expected one of \"tcp\" or \"udp\"");
    }
    Common(s.common, p);
    ServiceName(i);
    for (size_t j = 0; j < s.ports.size(); ++j) Port(s, p, j);
    for (size_t j = 0; j < s.tcp_checks.size(); ++j) {
      Check(s.tcp_checks[j], At(p + ".tcp_checks", j), false);
    }
    for (size_t j = 0; j < s.http_checks.size(); ++j) {
      Check(s.http_checks[j], At(p + ".http_checks", j), true);
    }
  }
}

void Checker::Port(const ServiceConfig& s, const std::string& p, size_t j) {
  const PortConfig& pc = s.ports[j];
  std::string pp = At(p + ".ports", j);
  if (pc.start_port == 0) Add(pp + ".port", "expected a port number (1-65535), got 0");
  if (pc.start_port > pc.end_port) {
    Add(pp + ".start_port", "start_port (" + std::to_string(pc.start_port) + ") is greater than end_port (" +
                                std::to_string(pc.end_port) + ")");
  }
  std::set<std::string> seen;
  for (size_t k = 0; k < pc.handlers.size(); ++k) {
    const std::string& h = pc.handlers[k];
    if (h != "http" && h != "tls" && h != "proxy_proto") {
      Add(At(pp + ".handlers", k), "unknown handler \"" + h + "\"");
    } else if (!seen.insert(h).second) {
      Add(At(pp + ".handlers", k), "duplicate handler \"" + h + "\"");
    }
  }
  if (s.protocol == "udp" && !pc.handlers.empty()) {
    Add(pp + ".handlers", "udp services take no handlers (they are raw datagrams)");
  }
  if (pc.proxy_proto_version != 1 && pc.proxy_proto_version != 2) {
    Add(pp + ".proxy_proto_options.version", "expected one of \"v1\" or \"v2\"");
  }
}

void Checker::NamedChecks() {
  std::set<std::string> check_names;
  for (const NamedCheck& nc : c_.checks) {
    std::string p = "checks." + nc.name;
    if (nc.name.empty() || !check_names.insert(nc.name).second) {
      Add(p, "check names must be unique and non-empty");
    }
    if (nc.port && *nc.port == 0) Add(p + ".port", "expected a port number (1-65535), got 0");
    Check(nc.check, p, nc.type == CheckType::kHttp);
    Groups(nc.processes, p + ".processes");
  }
}

}  // namespace

std::vector<Diagnostic> ValidateAppConfig(const AppConfig& config) { return Checker(config).Run(); }

std::vector<Diagnostic> ConfigWarnings(const AppConfig& c) {
  std::vector<Diagnostic> out;
  auto check = [&](const ServiceCommon& s, const std::string& p) {
    if (s.auto_stop == AutoStop::kOff || s.auto_start) return;
    std::string path = p + ".auto_start_machines";
    out.push_back(Diagnostic{c.source.file, c.source.Find(path), path,
                             std::string("auto_stop_machines = \"") + AutoStopName(s.auto_stop) +
                                 "\" with auto_start_machines = false: once stopped, machines "
                                 "are never started again by the proxy"});
  };
  if (c.http_service) check(c.http_service->common, "http_service");
  for (size_t i = 0; i < c.services.size(); ++i) check(c.services[i].common, At("services", i));
  return out;
}

std::vector<Diagnostic> DeployWarnings(const AppConfig& c, bool has_public_ips) {
  std::vector<Diagnostic> out;
  if (has_public_ips) return out;
  const std::string msg =
      "force_https = true on an app whose only addresses are private: private clients will get "
      "a 301 to an https URL with no certificate; set force_https = false";
  auto add = [&](const std::string& path) { out.push_back(Diagnostic{c.source.file, c.source.Find(path), path, msg}); };
  if (c.http_service && c.http_service->force_https) add("http_service.force_https");
  for (size_t i = 0; i < c.services.size(); ++i) {
    for (size_t j = 0; j < c.services[i].ports.size(); ++j) {
      if (c.services[i].ports[j].force_https) {
        add(At(At("services", i) + ".ports", j) + ".force_https");
      }
    }
  }
  return out;
}

}  // namespace privcast::config
