#include "api/codec.h"

#include <pwd.h>

#include <algorithm>
#include <ctime>
#include <limits>
#include <set>

#include "api/backend.h"
#include "common/addr.h"
#include "common/ids.h"

namespace privcast::api {
namespace {

using nlohmann::json;

// Field readers. Each names the field in its error; absent optional fields keep defaults.
class Fields {
 public:
  explicit Fields(const json& obj) : obj_(obj) {}

  Status Allow(std::initializer_list<const char*> names) const {
    std::set<std::string> ok(names.begin(), names.end());
    for (auto it = obj_.begin(); it != obj_.end(); ++it)
      if (!ok.count(it.key())) return InvalidArgument("unknown field '" + it.key() + "'");
    return Status::Ok();
  }

  const json* Find(const char* name) const {
    auto it = obj_.find(name);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  Status String(const char* name, bool required, std::string* out) const {
    const json* v = Find(name);
    if (!v) return required ? InvalidArgument(std::string("field '") + name + "' is required") : Status::Ok();
    if (!v->is_string()) return InvalidArgument(std::string("field '") + name + "' must be a string");
    *out = v->get_ref<const std::string&>();
    if (required && out->empty()) return InvalidArgument(std::string("field '") + name + "' must not be empty");
    return Status::Ok();
  }

  Status OptString(const char* name, std::optional<std::string>* out) const {
    if (!Find(name)) return Status::Ok();
    std::string s;
    PC_RETURN_IF_ERROR(String(name, false, &s));
    if (s.empty()) return Status::Ok();
    *out = std::move(s);
    return Status::Ok();
  }

  Status Bool(const char* name, bool* out) const {
    const json* v = Find(name);
    if (!v) return Status::Ok();
    if (!v->is_boolean()) return InvalidArgument(std::string("field '") + name + "' must be true or false");
    *out = v->get<bool>();
    return Status::Ok();
  }

  Status Int(const char* name, bool required, int64_t lo, int64_t hi, int64_t* out) const {
    const json* v = Find(name);
    if (!v) return required ? InvalidArgument(std::string("field '") + name + "' is required") : Status::Ok();
    if (!v->is_number_integer()) return InvalidArgument(std::string("field '") + name + "' must be an integer");
    int64_t x;
    if (v->is_number_unsigned()) {
      uint64_t u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return InvalidArgument(std::string("field '") + name + "' is out of range");
      x = static_cast<int64_t>(u);
    } else {
      x = v->get<int64_t>();
    }
    if (x < lo || x > hi)
      return InvalidArgument(std::string("field '") + name + "' must be between " + std::to_string(lo) + " and " +
                             std::to_string(hi));
    *out = x;
    return Status::Ok();
  }

  Status StringArray(const char* name, std::vector<std::string>* out) const {
    const json* v = Find(name);
    if (!v) return Status::Ok();
    if (!v->is_array()) return InvalidArgument(std::string("field '") + name + "' must be an array of strings");
    out->clear();
    for (auto& e : *v) {
      if (!e.is_string()) return InvalidArgument(std::string("field '") + name + "' must be an array of strings");
      out->push_back(e.get<std::string>());
    }
    return Status::Ok();
  }

  Status StringMap(const char* name, std::vector<std::pair<std::string, std::string>>* out) const {
    const json* v = Find(name);
    if (!v) return Status::Ok();
    if (!v->is_object()) return InvalidArgument(std::string("field '") + name + "' must be an object of strings");
    out->clear();
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (!it->is_string())
        return InvalidArgument(std::string("field '") + name + "." + it.key() + "' must be a string");
      if (it.key().empty() || it.key().find('=') != std::string::npos)
        return InvalidArgument(std::string("field '") + name + "' has an invalid variable name");
      out->emplace_back(it.key(), it->get<std::string>());
    }
    return Status::Ok();
  }

 private:
  const json& obj_;
};

// The first of several accepted spellings (Fly's "org_slug" and plain "org").
Status OrgField(const Fields& f, std::optional<std::string>* out) {
  PC_RETURN_IF_ERROR(f.OptString("org", out));
  if (!*out) PC_RETURN_IF_ERROR(f.OptString("org_slug", out));
  return Status::Ok();
}

}  // namespace

Result<json> ParseJsonObject(std::string_view body) {
  bool blank = true;
  for (char c : body)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') blank = false;
  if (blank) return json::object();
  json j;
  try {
    j = json::parse(body.begin(), body.end());
  } catch (const json::exception& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." → after "] "
    size_t p = what.find("] ");
    return InvalidArgument("invalid JSON body: " + (p == std::string::npos ? what : what.substr(p + 2)));
  }
  if (!j.is_object()) return InvalidArgument("invalid JSON body: expected an object");
  return j;
}

Result<CreateOrgRequest> DecodeCreateOrg(std::string_view body) {
  PC_ASSIGN_OR_RETURN(json j, ParseJsonObject(body));
  Fields f(j);
  PC_RETURN_IF_ERROR(f.Allow({"slug", "name"}));
  CreateOrgRequest r;
  if (f.Find("slug") || !f.Find("name")) {
    PC_RETURN_IF_ERROR(f.String("slug", true, &r.slug));
  } else {
    PC_RETURN_IF_ERROR(f.String("name", true, &r.slug));
  }
  return r;
}

Result<CreateNetworkRequest> DecodeCreateNetwork(std::string_view body) {
  PC_ASSIGN_OR_RETURN(json j, ParseJsonObject(body));
  Fields f(j);
  PC_RETURN_IF_ERROR(f.Allow({"name", "org", "org_slug"}));
  CreateNetworkRequest r;
  PC_RETURN_IF_ERROR(f.String("name", true, &r.name));
  std::optional<std::string> org;
  PC_RETURN_IF_ERROR(OrgField(f, &org));
  if (!org) return InvalidArgument("field 'org' is required");
  r.org = *org;
  return r;
}

Result<CreateAppRequest> DecodeCreateApp(std::string_view body) {
  PC_ASSIGN_OR_RETURN(json j, ParseJsonObject(body));
  Fields f(j);
  PC_RETURN_IF_ERROR(f.Allow({"app_name", "name", "org", "org_slug", "network"}));
  CreateAppRequest r;
  if (f.Find("app_name") || !f.Find("name")) {
    PC_RETURN_IF_ERROR(f.String("app_name", true, &r.name));
  } else {
    PC_RETURN_IF_ERROR(f.String("name", true, &r.name));
  }
  PC_RETURN_IF_ERROR(OrgField(f, &r.org));
  PC_RETURN_IF_ERROR(f.OptString("network", &r.network));
  return r;
}

// "regions": region codes (3 lowercase letters), each once.
static Status RegionsField(const Fields& f, std::vector<std::string>* out) {
  PC_RETURN_IF_ERROR(f.StringArray("regions", out));
  for (size_t i = 0; i < out->size(); ++i) {
    const std::string& r = (*out)[i];
    if (!ids::IsRegionCode(r))
      return InvalidArgument("field 'regions': '" + r + "' is not a region code (3 lowercase letters, e.g. ams)");
    if (std::find(out->begin(), out->begin() + static_cast<std::ptrdiff_t>(i), r) !=
        out->begin() + static_cast<std::ptrdiff_t>(i))
      return InvalidArgument("field 'regions': " + r + " is listed twice");
  }
  return Status::Ok();
}

Result<ReleaseRequest> DecodeRelease(std::string_view body) {
  PC_ASSIGN_OR_RETURN(json j, ParseJsonObject(body));
  Fields f(j);
  PC_RETURN_IF_ERROR(f.Allow({"source", "path", "flycast", "ha", "image", "regions"}));
  ReleaseRequest r;
  PC_RETURN_IF_ERROR(f.String("source", true, &r.source));
  PC_RETURN_IF_ERROR(f.String("path", false, &r.path));
  if (r.path.empty()) r.path = "fly.toml";
  PC_RETURN_IF_ERROR(f.Bool("flycast", &r.flycast));
  PC_RETURN_IF_ERROR(f.Bool("ha", &r.ha));
  PC_RETURN_IF_ERROR(f.String("image", false, &r.image));
  PC_RETURN_IF_ERROR(RegionsField(f, &r.regions));
  return r;
}

Result<MachineRequest> DecodeMachine(std::string_view body, bool run) {
  PC_ASSIGN_OR_RETURN(json j, ParseJsonObject(body));
  Fields f(j);
  if (run) {
    PC_RETURN_IF_ERROR(f.Allow({"region", "process_group", "cmd", "env", "rm", "auto_destroy", "services", "org",
                                "org_slug", "network", "shell", "tty", "rows", "cols", "image", "mounts"}));
  } else {
    PC_RETURN_IF_ERROR(f.Allow({"region", "process_group", "cmd", "env", "rm", "auto_destroy", "services", "org",
                                "org_slug", "network", "image", "mounts"}));
  }
  MachineRequest r;
  PC_RETURN_IF_ERROR(f.String("region", false, &r.region));
  PC_RETURN_IF_ERROR(f.String("process_group", false, &r.process_group));
  if (r.process_group.empty()) r.process_group = "app";
  PC_RETURN_IF_ERROR(f.StringArray("cmd", &r.cmd));
  PC_RETURN_IF_ERROR(f.StringMap("env", &r.env));
  PC_RETURN_IF_ERROR(f.String("image", false, &r.image));
  PC_RETURN_IF_ERROR(f.Bool("rm", &r.rm));
  bool ad = false;
  PC_RETURN_IF_ERROR(f.Bool("auto_destroy", &ad));
  r.rm = r.rm || ad;
  PC_RETURN_IF_ERROR(f.Bool("services", &r.services));
  PC_RETURN_IF_ERROR(OrgField(f, &r.org));
  PC_RETURN_IF_ERROR(f.OptString("network", &r.network));
  if (r.org && r.network) return InvalidArgument("fields 'org' and 'network' are exclusive: give one");
  if (run) {
    PC_RETURN_IF_ERROR(f.Bool("shell", &r.shell));
    PC_RETURN_IF_ERROR(f.Bool("tty", &r.tty));
    int64_t v = 0;
    PC_RETURN_IF_ERROR(f.Int("rows", false, 0, 65535, &v));
    r.rows = static_cast<uint16_t>(v);
    v = 0;
    PC_RETURN_IF_ERROR(f.Int("cols", false, 0, 65535, &v));
    r.cols = static_cast<uint16_t>(v);
  }
  for (auto& a : r.cmd)
    if (a.find('\0') != std::string::npos) return InvalidArgument("field 'cmd' contains a NUL byte");
  if (auto it = j.find("mounts"); it != j.end() && !it->is_null()) {
    constexpr const char* kShape = "field 'mounts': expected [{\"volume\": \"vol_…\" or a name, \"path\": \"/data\"}]";
    if (!it->is_array()) return InvalidArgument(kShape);
    if (it->size() > 1) return InvalidArgument("field 'mounts': a machine mounts one volume");
    for (const json& m : *it) {
      if (!m.is_object() || !m.contains("volume") || !m["volume"].is_string() || !m.contains("path") ||
          !m["path"].is_string())
        return InvalidArgument(kShape);
      r.volume = m["volume"].get<std::string>();
      r.volume_path = m["path"].get<std::string>();
    }
  }
  return r;
}

Result<VolumeRequest> DecodeVolume(std::string_view body) {
  PC_ASSIGN_OR_RETURN(json j, ParseJsonObject(body));
  Fields f(j);
  PC_RETURN_IF_ERROR(f.Allow({"name", "region", "size_gb", "encrypted", "require_unique_zone"}));
  VolumeRequest r;
  PC_RETURN_IF_ERROR(f.String("name", true, &r.name));
  PC_RETURN_IF_ERROR(f.String("region", false, &r.region));
  int64_t v = 1;
  PC_RETURN_IF_ERROR(f.Int("size_gb", false, 1, 500, &v));
  r.size_gb = static_cast<uint32_t>(v);
  return r;
}

json ToJson(const store::Volume& v) {
  // flyctl's field names (fly volumes list --json); app and path are privcast's.
  return {{"id", v.id},
          {"name", v.name},
          {"state", "created"},
          {"size_gb", v.size_gb},
          {"region", v.region},
          {"zone", ""},
          {"encrypted", false},
          {"attached_machine_id", v.attached_machine_id.empty() ? json(nullptr) : json(v.attached_machine_id)},
          {"attached_alloc_id", nullptr},
          {"created_at", FormatTime(v.created_at)},
          {"host_status", "ok"},
          {"app", v.app},
          {"path", v.attached_path.empty() ? json(nullptr) : json(v.attached_path)}};
}

Result<ScaleRequest> DecodeScale(std::string_view body) {
  PC_ASSIGN_OR_RETURN(json j, ParseJsonObject(body));
  Fields f(j);
  PC_RETURN_IF_ERROR(f.Allow({"count", "regions"}));
  int64_t n = 0;
  PC_RETURN_IF_ERROR(f.Int("count", true, 0, 1000, &n));
  ScaleRequest r{static_cast<int>(n), {}};
  PC_RETURN_IF_ERROR(RegionsField(f, &r.regions));
  return r;
}

Result<IpRequest> DecodeIp(std::string_view body) {
  PC_ASSIGN_OR_RETURN(json j, ParseJsonObject(body));
  Fields f(j);
  PC_RETURN_IF_ERROR(f.Allow({"type", "org", "org_slug", "network", "service"}));
  IpRequest r;
  PC_RETURN_IF_ERROR(f.String("type", false, &r.type));
  if (r.type.empty()) r.type = "private_v6";
  if (r.type != "private_v6")
    return InvalidArgument("field 'type' must be \"private_v6\" (privcast allocates flycast addresses only)");
  PC_RETURN_IF_ERROR(OrgField(f, &r.org));
  PC_RETURN_IF_ERROR(f.OptString("network", &r.network));
  if (r.org && r.network) return InvalidArgument("fields 'org' and 'network' are exclusive: give one");
  std::optional<std::string> service;
  PC_RETURN_IF_ERROR(f.OptString("service", &service));
  if (service && !ids::IsDnsLabel(*service))
    return InvalidArgument("field 'service' must be a service name (a DNS label), got '" + *service + "'");
  r.service = service.value_or("");
  return r;
}

std::string FormatTime(int64_t unix_ms) {
  if (unix_ms <= 0) return "";
  time_t t = static_cast<time_t>(unix_ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json ToJson(const store::Org& o) {
  return {{"slug", o.slug},
          {"name", o.name.empty() ? o.slug : o.name},
          {"default_network", o.default_network},
          {"created_at", FormatTime(o.created_at)}};
}

json ToJson(const store::Network& n) {
  return {{"org", n.org},
          {"name", n.name},
          {"default", n.is_default},
          {"prefix", addr::NetworkCidr(n.net32)},
          {"created_at", FormatTime(n.created_at)}};
}

json ToJson(const store::App& a) {
  return {{"name", a.name},
          {"org", a.org},
          {"network", a.network},
          {"current_release", a.current_release},
          {"created_at", FormatTime(a.created_at)},
          {"status", a.current_release > 0 ? "deployed" : "pending"}};
}

std::string SixPnOf(const store::Machine& m) {
  if (m.net32 == 0) return "";
  return addr::SixPnAddress(m.net32, m.host_id, m.machine32).ToString();
}

json ToJson(const store::Machine& m) {
  json env = json::object();
  for (auto& [k, v] : m.env) env[k] = v;
  return {{"id", m.id},
          {"app", m.app},
          {"org", m.org},
          {"network", m.network},
          {"state", store::MachineStateName(m.state)},
          {"region", m.region},
          {"process_group", m.process_group},
          {"private_ip", SixPnOf(m)},
          {"host_id", m.host_id},
          {"release_version", m.release_version},
          {"cmd", m.cmd},
          {"env", env},
          {"image", m.image},
          {"image_id", m.image_id},
          {"auto_destroy", m.auto_destroy},
          {"services", m.carries_services},
          {"created_at", FormatTime(m.created_at)},
          {"updated_at", FormatTime(m.updated_at)},
          {"last_event", m.last_event}};
}

json ToJson(const ImageView& i) {
  return {{"id", i.id},
          {"refs", i.refs},
          {"size", i.size},
          {"layers", i.layers},
          {"created_at", FormatTime(i.created_at)},
          {"exposed_tcp_ports", i.exposed_tcp_ports},
          {"in_use", i.in_use}};
}

Result<std::string> DecodeImageRef(std::string_view body) {
  PC_ASSIGN_OR_RETURN(json j, ParseJsonObject(body));
  Fields f(j);
  PC_RETURN_IF_ERROR(f.Allow({"ref"}));
  std::string ref;
  PC_RETURN_IF_ERROR(f.String("ref", true, &ref));
  return ref;
}

json ToJson(const store::IpAssignment& ip) {
  return {{"ip", ip.address},    {"app", ip.app},         {"type", ip.type},
          {"version", "v6"},     {"org", ip.org},         {"network", ip.network},
          {"region", ip.region}, {"service", ip.service}, {"created_at", FormatTime(ip.created_at)}};
}

json ToJson(const store::Release& r) {
  return {{"app", r.app},       {"version", r.version},         {"created_at", FormatTime(r.created_at)},
          {"status", r.status}, {"description", r.description}, {"user", r.user}};
}

std::string UserName(int64_t uid) {
  if (uid < 0) return "";
  struct passwd pw {};
  struct passwd* res = nullptr;
  char buf[1024];
  if (::getpwuid_r(static_cast<uid_t>(uid), &pw, buf, sizeof buf, &res) == 0 && res) return pw.pw_name;
  return "uid " + std::to_string(uid);
}

std::string ErrorBody(std::string_view message) {
  json j = {{"error", std::string(message)}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace privcast::api
