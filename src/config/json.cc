#include "config/json.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "config/load.h"

namespace privcast::config {
namespace {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;

// ---------------------------------------------------------------- writing

ojson Pairs(const std::vector<std::pair<std::string, std::string>>& v) {
  ojson o = ojson::object();
  for (const auto& [k, val] : v) o[k] = val;
  return o;
}

ojson Strings(const std::vector<std::string>& v) {
  ojson a = ojson::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

ojson CheckJ(const CheckConfig& c) {
  ojson o;
  o["grace_period_ms"] = c.grace_period_ms;
  o["interval_ms"] = c.interval_ms;
  o["timeout_ms"] = c.timeout_ms;
  o["method"] = c.method;
  o["path"] = c.path;
  o["protocol"] = c.protocol;
  o["tls_skip_verify"] = c.tls_skip_verify;
  o["tls_server_name"] = c.tls_server_name;
  o["headers"] = Pairs(c.headers);
  return o;
}

ojson Checks(const std::vector<CheckConfig>& v) {
  ojson a = ojson::array();
  for (const auto& c : v) a.push_back(CheckJ(c));
  return a;
}

ojson HttpOptionsJ(const HttpOptions& h) {
  ojson o;
  o["h2_backend"] = h.h2_backend;
  o["response_pristine"] = h.response_pristine;
  o["response_headers"] = Pairs(h.response_headers);
  return o;
}

ojson TlsOptionsJ(const TlsOptions& t) {
  ojson o;
  o["alpn"] = Strings(t.alpn);
  o["versions"] = Strings(t.versions);
  return o;
}

void CommonJ(const ServiceCommon& c, ojson* o) {
  (*o)["internal_port"] = c.internal_port;
  (*o)["auto_stop_machines"] = AutoStopName(c.auto_stop);
  (*o)["auto_start_machines"] = c.auto_start;
  (*o)["min_machines_running"] = c.min_machines_running;
  (*o)["processes"] = Strings(c.processes);
  ojson cc;
  cc["type"] = ConcurrencyTypeName(c.concurrency.type);
  cc["soft_limit"] = c.concurrency.soft_limit;
  cc["hard_limit"] = c.concurrency.hard_limit ? ojson(*c.concurrency.hard_limit) : ojson(nullptr);
  (*o)["concurrency"] = cc;
}

// ---------------------------------------------------------------- reading

// Reads fields with a key path for messages; the first error sticks and later reads no-op.
class Reader {
 public:
  Status status;

  bool ok() const { return status.ok(); }

  bool Fail(const std::string& path, const std::string& what) {
    if (status.ok()) status = InvalidArgument(path + ": expected " + what);
    return false;
  }

  // The value at key, or nullptr when absent (or null, for optional fields).
  const json* Field(const json& o, const char* key) {
    if (!ok() || !o.is_object()) return nullptr;
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return nullptr;
    return &*it;
  }

  static std::string Join(const std::string& p, const char* key) {
    return p.empty() ? std::string(key) : p + "." + key;
  }
  static std::string At(const std::string& p, size_t i) { return p + "[" + std::to_string(i) + "]"; }

  void Str(const json& o, const char* key, const std::string& p, std::string* out) {
    const json* v = Field(o, key);
    if (v == nullptr) return;
    if (!v->is_string()) {
      Fail(Join(p, key), "a string");
      return;
    }
    *out = v->get<std::string>();
  }

  void Bool(const json& o, const char* key, const std::string& p, bool* out) {
    const json* v = Field(o, key);
    if (v == nullptr) return;
    if (!v->is_boolean()) {
      Fail(Join(p, key), "true or false");
      return;
    }
    *out = v->get<bool>();
  }

  template <typename T>
  bool Int(const json& o, const char* key, const std::string& p, int64_t min, int64_t max, T* out) {
    const json* v = Field(o, key);
    if (v == nullptr) return false;
    bool in_range = false;
    if (v->is_number_unsigned()) {
      uint64_t u = v->get<uint64_t>();
      in_range = u <= static_cast<uint64_t>(INT64_MAX) && static_cast<int64_t>(u) >= min &&
                 static_cast<int64_t>(u) <= max;
    } else if (v->is_number_integer()) {
      int64_t s = v->get<int64_t>();
      in_range = s >= min && s <= max;
    }
    if (!in_range) {
      return Fail(Join(p, key), "an integer in " + std::to_string(min) + ".." + std::to_string(max));
    }
    *out = static_cast<T>(v->get<int64_t>());
    return true;
  }

  void StrVec(const json& o, const char* key, const std::string& p, std::vector<std::string>* out) {
    const json* v = Field(o, key);
    if (v == nullptr) return;
    if (!v->is_array()) {
      Fail(Join(p, key), "an array of strings");
      return;
    }
    std::vector<std::string> r;
    for (size_t i = 0; i < v->size(); ++i) {
      if (!(*v)[i].is_string()) {
        Fail(At(Join(p, key), i), "a string");
        return;
      }
      r.push_back((*v)[i].get<std::string>());
    }
    *out = std::move(r);
  }

  void PairVec(const json& o, const char* key, const std::string& p,
               std::vector<std::pair<std::string, std::string>>* out) {
    const json* v = Field(o, key);
    if (v == nullptr) return;
    if (!v->is_object()) {
      Fail(Join(p, key), "an object of strings");
      return;
    }
    std::vector<std::pair<std::string, std::string>> r;
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->is_string()) {
        Fail(Join(p, key) + "." + it.key(), "a string");
        return;
      }
      r.emplace_back(it.key(), it->get<std::string>());
    }
    std::sort(r.begin(), r.end());
    *out = std::move(r);
  }

  template <typename E, typename F>
  void Enum(const json& o, const char* key, const std::string& p, E* out, F name_of, std::initializer_list<E> values) {
    const json* v = Field(o, key);
    if (v == nullptr) return;
    if (v->is_string()) {
      for (E e : values) {
        if (v->get<std::string>() == name_of(e)) {
          *out = e;
          return;
        }
      }
    }
    std::string names;
    for (E e : values) names += (names.empty() ? "" : ", ") + std::string(name_of(e));
    Fail(Join(p, key), "one of " + names);
  }

  // Calls fn(element, path) for each object of the array at key.
  template <typename F>
  void Objects(const json& o, const char* key, const std::string& p, F&& fn) {
    const json* v = Field(o, key);
    if (v == nullptr) return;
    if (!v->is_array()) {
      Fail(Join(p, key), "an array of objects");
      return;
    }
    for (size_t i = 0; i < v->size() && ok(); ++i) {
      if (!(*v)[i].is_object()) {
        Fail(At(Join(p, key), i), "an object");
        return;
      }
      fn((*v)[i], At(Join(p, key), i));
    }
  }

  const json* Object(const json& o, const char* key, const std::string& p) {
    const json* v = Field(o, key);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) {
      Fail(Join(p, key), "an object");
      return nullptr;
    }
    return v;
  }

  void Check(const json& o, const std::string& p, CheckConfig* c) {
    Int(o, "grace_period_ms", p, 0, INT64_MAX, &c->grace_period_ms);
    Int(o, "interval_ms", p, 0, INT64_MAX, &c->interval_ms);
    Int(o, "timeout_ms", p, 0, INT64_MAX, &c->timeout_ms);
    Str(o, "method", p, &c->method);
    Str(o, "path", p, &c->path);
    Str(o, "protocol", p, &c->protocol);
    Bool(o, "tls_skip_verify", p, &c->tls_skip_verify);
    Str(o, "tls_server_name", p, &c->tls_server_name);
    PairVec(o, "headers", p, &c->headers);
  }

  void Checks(const json& o, const char* key, const std::string& p, std::vector<CheckConfig>* out) {
    Objects(o, key, p, [&](const json& e, const std::string& ep) {
      out->emplace_back();
      Check(e, ep, &out->back());
    });
  }

  void HttpOpts(const json& o, const char* key, const std::string& p, HttpOptions* h) {
    const json* v = Object(o, key, p);
    if (v == nullptr) return;
    std::string hp = Join(p, key);
    Bool(*v, "h2_backend", hp, &h->h2_backend);
    Bool(*v, "response_pristine", hp, &h->response_pristine);
    PairVec(*v, "response_headers", hp, &h->response_headers);
  }

  void TlsOpts(const json& o, const char* key, const std::string& p, TlsOptions* t) {
    const json* v = Object(o, key, p);
    if (v == nullptr) return;
    std::string tp = Join(p, key);
    StrVec(*v, "alpn", tp, &t->alpn);
    StrVec(*v, "versions", tp, &t->versions);
  }

  void Common(const json& o, const std::string& p, ServiceCommon* c) {
    Int(o, "internal_port", p, 0, 65535, &c->internal_port);
    Enum(o, "auto_stop_machines", p, &c->auto_stop, AutoStopName,
         {AutoStop::kOff, AutoStop::kStop, AutoStop::kSuspend});
    Bool(o, "auto_start_machines", p, &c->auto_start);
    Int(o, "min_machines_running", p, 0, UINT32_MAX, &c->min_machines_running);
    StrVec(o, "processes", p, &c->processes);
    if (const json* cc = Object(o, "concurrency", p)) {
      std::string cp = Join(p, "concurrency");
      Enum(*cc, "type", cp, &c->concurrency.type, ConcurrencyTypeName,
           {ConcurrencyType::kConnections, ConcurrencyType::kRequests});
      Int(*cc, "soft_limit", cp, 0, UINT32_MAX, &c->concurrency.soft_limit);
      uint32_t hard = 0;
      if (Int(*cc, "hard_limit", cp, 1, UINT32_MAX, &hard)) c->concurrency.hard_limit = hard;
    }
  }

  void App(const json& o, AppConfig* c) {
    if (!o.is_object()) {
      Fail("config", "a JSON object");
      return;
    }
    Str(o, "app", "", &c->app);
    if (o.contains("image")) Str(o, "image", "", &c->image);
    Str(o, "primary_region", "", &c->primary_region);
    if (const json* v = Field(o, "kill_signal")) {
      std::optional<KillSignal> sig = v->is_string() ? KillSignal::FromName(v->get<std::string>()) : std::nullopt;
      if (!sig) Fail("kill_signal", "a signal name like \"SIGINT\"");
      else c->kill_signal = *sig;
    }
    Int(o, "kill_timeout_ms", "", 0, kMaxKillTimeoutMs, &c->kill_timeout_ms);
    PairVec(o, "env", "", &c->env);
    PairVec(o, "processes", "", &c->processes);
    Vms(o, c);
    if (o.contains("mounts")) Mounts(o, c);
    Restarts(o, c);
    if (const json* hs = Object(o, "http_service", "")) HttpService(*hs, c);
    Services(o, c);
    NamedChecks(o, c);
    std::sort(c->checks.begin(), c->checks.end(),
              [](const NamedCheck& a, const NamedCheck& b) { return a.name < b.name; });
  }

  // The sections of App, in the order App reads them (the first error wins).
  void Vms(const json& o, AppConfig* c) {
    Objects(o, "vm", "", [&](const json& e, const std::string& p) {
      VmConfig vm;
      Str(e, "size", p, &vm.size);
      uint32_t n = 0;
      if (Int(e, "memory_mb", p, 1, 1024 * 1024, &n)) vm.memory_mb = n;
      if (Int(e, "cpus", p, 1, 128, &n)) vm.cpus = n;
      Str(e, "cpu_kind", p, &vm.cpu_kind);
      StrVec(e, "processes", p, &vm.processes);
      if (e.contains("persist_rootfs")) Bool(e, "persist_rootfs", p, &vm.persist_rootfs);
      c->vm.push_back(std::move(vm));
    });
  }

  void Mounts(const json& o, AppConfig* c) {
    Objects(o, "mounts", "", [&](const json& e, const std::string& p) {
      MountConfig m;
      Str(e, "source", p, &m.source);
      Str(e, "destination", p, &m.destination);
      uint32_t n = 0;
      if (e.contains("initial_size_gb") && Int(e, "initial_size_gb", p, 1, 500, &n)) m.initial_size_gb = n;
      StrVec(e, "processes", p, &m.processes);
      c->mounts.push_back(std::move(m));
    });
  }

  void Restarts(const json& o, AppConfig* c) {
    Objects(o, "restart", "", [&](const json& e, const std::string& p) {
      RestartConfig r;
      Enum(e, "policy", p, &r.policy, RestartPolicyName,
           {RestartPolicy::kAlways, RestartPolicy::kNever, RestartPolicy::kOnFailure});
      Int(e, "retries", p, 0, UINT32_MAX, &r.retries);
      StrVec(e, "processes", p, &r.processes);
      c->restart.push_back(std::move(r));
    });
  }

  void HttpService(const json& hs, AppConfig* c) {
    HttpServiceConfig h;
    Common(hs, "http_service", &h.common);
    Bool(hs, "force_https", "http_service", &h.force_https);
    Checks(hs, "checks", "http_service", &h.checks);
    HttpOpts(hs, "http_options", "http_service", &h.http_options);
    TlsOpts(hs, "tls_options", "http_service", &h.tls_options);
    c->http_service = std::move(h);
  }

  void Services(const json& o, AppConfig* c) {
    Objects(o, "services", "", [&](const json& e, const std::string& p) {
      ServiceConfig s;
      Str(e, "name", p, &s.name);
      Str(e, "protocol", p, &s.protocol);
      Common(e, p, &s.common);
      Objects(e, "ports", p, [&](const json& pe, const std::string& pp) { s.ports.push_back(Port(pe, pp)); });
      Checks(e, "tcp_checks", p, &s.tcp_checks);
      Checks(e, "http_checks", p, &s.http_checks);
      c->services.push_back(std::move(s));
    });
  }

  PortConfig Port(const json& pe, const std::string& pp) {
    PortConfig port;
    Int(pe, "start_port", pp, 0, 65535, &port.start_port);
    Int(pe, "end_port", pp, 0, 65535, &port.end_port);
    StrVec(pe, "handlers", pp, &port.handlers);
    Bool(pe, "force_https", pp, &port.force_https);
    Int(pe, "proxy_proto_version", pp, 1, 2, &port.proxy_proto_version);
    TlsOpts(pe, "tls_options", pp, &port.tls_options);
    HttpOpts(pe, "http_options", pp, &port.http_options);
    return port;
  }

  void NamedChecks(const json& o, AppConfig* c) {
    Objects(o, "checks", "", [&](const json& e, const std::string& p) {
      NamedCheck nc;
      Str(e, "name", p, &nc.name);
      Enum(e, "type", p, &nc.type, CheckTypeName, {CheckType::kTcp, CheckType::kHttp});
      uint16_t port = 0;
      if (Int(e, "port", p, 1, 65535, &port)) nc.port = port;
      Check(e, p, &nc.check);
      StrVec(e, "processes", p, &nc.processes);
      c->checks.push_back(std::move(nc));
    });
  }
};

// The sections of ToJson; ojson keeps insertion order, so each builds its keys in the order
// the stored JSON has always had.
ojson VmsJ(const std::vector<VmConfig>& vms_in) {
  ojson vms = ojson::array();
  for (const VmConfig& vm : vms_in) {
    ojson v;
    v["size"] = vm.size;
    v["memory_mb"] = vm.memory_mb ? ojson(*vm.memory_mb) : ojson(nullptr);
    v["cpus"] = vm.cpus ? ojson(*vm.cpus) : ojson(nullptr);
    v["cpu_kind"] = vm.cpu_kind;
    v["processes"] = Strings(vm.processes);
    if (vm.persist_rootfs) v["persist_rootfs"] = true;  // absent = false (releases stored before it)
    vms.push_back(v);
  }
  return vms;
}

ojson MountsJ(const std::vector<MountConfig>& mounts) {
  ojson ms = ojson::array();
  for (const MountConfig& m : mounts) {
    ojson v;
    v["source"] = m.source;
    v["destination"] = m.destination;
    if (m.initial_size_gb) v["initial_size_gb"] = *m.initial_size_gb;
    v["processes"] = Strings(m.processes);
    ms.push_back(v);
  }
  return ms;
}

ojson RestartsJ(const std::vector<RestartConfig>& rs) {
  ojson restarts = ojson::array();
  for (const RestartConfig& r : rs) {
    ojson v;
    v["policy"] = RestartPolicyName(r.policy);
    v["retries"] = r.retries;
    v["processes"] = Strings(r.processes);
    restarts.push_back(v);
  }
  return restarts;
}

ojson HttpServiceJ(const HttpServiceConfig& h) {
  ojson hs;
  CommonJ(h.common, &hs);
  hs["force_https"] = h.force_https;
  hs["checks"] = Checks(h.checks);
  hs["http_options"] = HttpOptionsJ(h.http_options);
  hs["tls_options"] = TlsOptionsJ(h.tls_options);
  return hs;
}

ojson PortJ(const PortConfig& p) {
  ojson pj;
  pj["start_port"] = p.start_port;
  pj["end_port"] = p.end_port;
  pj["handlers"] = Strings(p.handlers);
  pj["force_https"] = p.force_https;
  pj["proxy_proto_version"] = p.proxy_proto_version;
  pj["tls_options"] = TlsOptionsJ(p.tls_options);
  pj["http_options"] = HttpOptionsJ(p.http_options);
  return pj;
}

ojson ServicesJ(const std::vector<ServiceConfig>& ss) {
  ojson services = ojson::array();
  for (const ServiceConfig& s : ss) {
    ojson v;
    if (!s.name.empty()) v["name"] = s.name;  // absent for unnamed services (older releases too)
    v["protocol"] = s.protocol;
    CommonJ(s.common, &v);
    ojson ports = ojson::array();
    for (const PortConfig& p : s.ports) ports.push_back(PortJ(p));
    v["ports"] = ports;
    v["tcp_checks"] = Checks(s.tcp_checks);
    v["http_checks"] = Checks(s.http_checks);
    services.push_back(v);
  }
  return services;
}

ojson NamedChecksJ(const std::vector<NamedCheck>& ncs) {
  ojson checks = ojson::array();
  for (const NamedCheck& nc : ncs) {
    ojson v = CheckJ(nc.check);
    v["name"] = nc.name;
    v["type"] = CheckTypeName(nc.type);
    v["port"] = nc.port ? ojson(*nc.port) : ojson(nullptr);
    v["processes"] = Strings(nc.processes);
    checks.push_back(v);
  }
  return checks;
}

}  // namespace

std::string ToJson(const AppConfig& c) {
  ojson o;
  o["app"] = c.app;
  if (!c.image.empty()) o["image"] = c.image;  // absent = no image (releases stored before it)
  o["primary_region"] = c.primary_region;
  o["kill_signal"] = c.kill_signal.name();
  o["kill_timeout_ms"] = c.kill_timeout_ms;
  o["env"] = Pairs(c.env);
  o["processes"] = Pairs(c.processes);
  o["vm"] = VmsJ(c.vm);
  if (!c.mounts.empty()) o["mounts"] = MountsJ(c.mounts);  // absent = none (releases stored before volumes)
  o["restart"] = RestartsJ(c.restart);
  if (c.http_service) o["http_service"] = HttpServiceJ(*c.http_service);
  else o["http_service"] = nullptr;
  o["services"] = ServicesJ(c.services);
  o["checks"] = NamedChecksJ(c.checks);
  // Strings from fly.toml are valid UTF-8 (toml++ checks); replace rather than throw for a
  // model built some other way.
  return o.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

Result<AppConfig> FromJson(std::string_view text) {
  try {
    json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return InvalidArgument("config: invalid JSON");
    AppConfig c;
    Reader r;
    r.App(doc, &c);
    if (!r.ok()) return r.status;
    std::vector<Diagnostic> errs = ValidateAppConfig(c);
    if (!errs.empty()) return InvalidArgument(errs.front().ToString());
    return c;
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("config: cannot decode JSON: ") + e.what());
  }
}

}  // namespace privcast::config
