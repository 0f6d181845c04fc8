#include "store/codec.h"

#include <cstdint>
#include <limits>

namespace privcast::store {
namespace {

using nlohmann::json;

// Reads fields of one record, remembering the first error. Never throws: every access is
// guarded by a type check first.
class Reader {
 public:
  Reader(const json& j, const char* record) : j_(j), record_(record) {
    if (!j.is_object()) Fail("", "expected a JSON object");
  }

  void Str(const char* k, std::string* out) {
    const json* v = Find(k);
    if (!v) return;
    if (!v->is_string()) return Fail(k, "expected a string");
    *out = v->get_ref<const std::string&>();
  }
  void I64(const char* k, int64_t* out) {
    const json* v = Find(k);
    if (!v) return;
    if (v->is_number_unsigned()) {
      uint64_t u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return Fail(k, "out of range");
      *out = static_cast<int64_t>(u);
    } else if (v->is_number_integer()) {
      *out = v->get<int64_t>();
    } else {
      Fail(k, "expected an integer");
    }
  }
  void U32(const char* k, uint32_t* out) {
    const json* v = Find(k);
    if (!v) return;
    if (!v->is_number_unsigned()) return Fail(k, "expected a non-negative integer");
    uint64_t u = v->get<uint64_t>();
    if (u > std::numeric_limits<uint32_t>::max()) return Fail(k, "out of range for 32 bits");
    *out = static_cast<uint32_t>(u);
  }
  void Bool(const char* k, bool* out) {
    const json* v = Find(k);
    if (!v) return;
    if (!v->is_boolean()) return Fail(k, "expected a boolean");
    *out = v->get<bool>();
  }
  void StrList(const char* k, std::vector<std::string>* out) {
    const json* v = Find(k);
    if (!v) return;
    if (!v->is_array()) return Fail(k, "expected an array of strings");
    out->clear();
    for (const json& e : *v) {
      if (!e.is_string()) return Fail(k, "expected an array of strings");
      out->push_back(e.get<std::string>());
    }
  }
  void Pairs(const char* k, std::vector<std::pair<std::string, std::string>>* out) {
    const json* v = Find(k);
    if (!v) return;
    if (!v->is_array()) return Fail(k, "expected an array of [name, value] pairs");
    out->clear();
    for (const json& e : *v) {
      if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_string())
        return Fail(k, "expected an array of [name, value] pairs");
      out->emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    }
  }
  void State(const char* k, MachineState* out) {
    const json* v = Find(k);
    if (!v) return;
    if (!v->is_string()) return Fail(k, "expected a machine state name");
    auto s = ParseMachineState(v->get_ref<const std::string&>());
    if (!s) return Fail(k, "unknown machine state \"" + v->get<std::string>() + "\"");
    *out = *s;
  }
  void Require(bool ok, const char* k) {
    if (!ok) Fail(k, "missing or empty");
  }
  Status status() const { return st_; }

 private:
  const json* Find(const char* k) {
    if (!st_.ok() || !j_.is_object()) return nullptr;
    auto it = j_.find(k);
    return it == j_.end() ? nullptr : &*it;
  }
  void Fail(const std::string& k, const std::string& why) {
    if (!st_.ok()) return;
    st_ = InvalidArgument(std::string("bad ") + record_ + " record" + (k.empty() ? "" : ": field \"" + k + "\"") +
                          ": " + why);
  }

  const json& j_;
  const char* record_;
  Status st_;
};

}  // namespace

json RecordToJson(const Host& v) {
  return {{"id", v.id}, {"region", v.region}, {"hostname", v.hostname}, {"created_at", v.created_at}};
}
Status RecordFromJson(const json& j, Host* o) {
  Reader r(j, "host");
  r.U32("id", &o->id);
  r.Str("region", &o->region);
  r.Str("hostname", &o->hostname);
  r.I64("created_at", &o->created_at);
  r.Require(o->id != 0, "id");
  return r.status();
}

json RecordToJson(const Org& v) {
  return {{"slug", v.slug}, {"name", v.name}, {"default_network", v.default_network}, {"created_at", v.created_at}};
}
Status RecordFromJson(const json& j, Org* o) {
  Reader r(j, "org");
  r.Str("slug", &o->slug);
  r.Str("name", &o->name);
  r.Str("default_network", &o->default_network);
  r.I64("created_at", &o->created_at);
  r.Require(!o->slug.empty(), "slug");
  return r.status();
}

json RecordToJson(const Network& v) {
  return {
      {"org", v.org}, {"name", v.name}, {"net32", v.net32}, {"is_default", v.is_default}, {"created_at", v.created_at}};
}
Status RecordFromJson(const json& j, Network* o) {
  Reader r(j, "network");
  r.Str("org", &o->org);
  r.Str("name", &o->name);
  r.U32("net32", &o->net32);
  r.Bool("is_default", &o->is_default);
  r.I64("created_at", &o->created_at);
  r.Require(!o->org.empty(), "org");
  r.Require(!o->name.empty(), "name");
  r.Require(o->net32 != 0, "net32");
  return r.status();
}

json RecordToJson(const App& v) {
  return {{"name", v.name},
          {"org", v.org},
          {"network", v.network},
          {"created_at", v.created_at},
          {"current_release", v.current_release}};
}
Status RecordFromJson(const json& j, App* o) {
  Reader r(j, "app");
  r.Str("name", &o->name);
  r.Str("org", &o->org);
  r.Str("network", &o->network);
  r.I64("created_at", &o->created_at);
  r.I64("current_release", &o->current_release);
  r.Require(!o->name.empty(), "name");
  return r.status();
}

json RecordToJson(const Machine& v) {
  json env = json::array();
  for (const auto& [k, val] : v.env) env.push_back({k, val});
  return {{"id", v.id},
          {"app", v.app},
          {"org", v.org},
          {"network", v.network},
          {"net32", v.net32},
          {"host_id", v.host_id},
          {"machine32", v.machine32},
          {"link_slot", v.link_slot},
          {"region", v.region},
          {"process_group", v.process_group},
          {"state", MachineStateName(v.state)},
          {"release_version", v.release_version},
          {"cmd", v.cmd},
          {"env", env},
          {"image", v.image},
          {"image_id", v.image_id},
          {"auto_destroy", v.auto_destroy},
          {"carries_services", v.carries_services},
          {"created_at", v.created_at},
          {"updated_at", v.updated_at},
          {"last_event", v.last_event}};
}
Status RecordFromJson(const json& j, Machine* o) {
  Reader r(j, "machine");
  r.Str("id", &o->id);
  r.Str("app", &o->app);
  r.Str("org", &o->org);
  r.Str("network", &o->network);
  r.U32("net32", &o->net32);
  r.U32("host_id", &o->host_id);
  r.U32("machine32", &o->machine32);
  r.U32("link_slot", &o->link_slot);
  r.Str("region", &o->region);
  r.Str("process_group", &o->process_group);
  r.State("state", &o->state);
  r.I64("release_version", &o->release_version);
  r.StrList("cmd", &o->cmd);
  r.Pairs("env", &o->env);
  if (j.contains("image")) r.Str("image", &o->image);
  if (j.contains("image_id")) r.Str("image_id", &o->image_id);
  r.Bool("auto_destroy", &o->auto_destroy);
  o->carries_services = o->release_version != 0 && !o->auto_destroy;  // records from before the key
  r.Bool("carries_services", &o->carries_services);
  r.I64("created_at", &o->created_at);
  r.I64("updated_at", &o->updated_at);
  r.Str("last_event", &o->last_event);
  if (o->process_group.empty()) o->process_group = "app";  // Fly's default group
  r.Require(!o->id.empty(), "id");
  r.Require(!o->app.empty(), "app");
  return r.status();
}

json RecordToJson(const IpAssignment& v) {
  json j = {{"address", v.address}, {"app", v.app},     {"type", v.type},     {"org", v.org},
            {"network", v.network}, {"net32", v.net32}, {"region", v.region}, {"created_at", v.created_at}};
  if (!v.service.empty()) j["service"] = v.service;
  return j;
}
Status RecordFromJson(const json& j, IpAssignment* o) {
  Reader r(j, "ip assignment");
  r.Str("address", &o->address);
  r.Str("app", &o->app);
  r.Str("type", &o->type);
  r.Str("org", &o->org);
  r.Str("network", &o->network);
  r.U32("net32", &o->net32);
  r.Str("region", &o->region);
  r.Str("service", &o->service);  // absent in records from before ADR 0013: the whole app
  r.I64("created_at", &o->created_at);
  r.Require(!o->address.empty(), "address");
  r.Require(!o->app.empty(), "app");
  return r.status();
}

json RecordToJson(const Release& v) {
  return {{"app", v.app},
          {"version", v.version},
          {"config_json", v.config_json},
          {"source", v.source},
          {"created_at", v.created_at},
          {"status", v.status},
          {"description", v.description},
          {"user", v.user}};
}
Status RecordFromJson(const json& j, Release* o) {
  Reader r(j, "release");
  r.Str("app", &o->app);
  r.I64("version", &o->version);
  r.Str("config_json", &o->config_json);
  r.Str("source", &o->source);
  r.I64("created_at", &o->created_at);
  o->status = "complete";  // a record from before the key existed was deployed
  r.Str("status", &o->status);
  r.Str("description", &o->description);
  r.Str("user", &o->user);
  r.Require(!o->app.empty(), "app");
  r.Require(o->version > 0, "version");
  return r.status();
}

json RecordToJson(const ReleasedAddress& v) {
  return {{"address", v.address}, {"net32", v.net32}, {"n", v.n}, {"app", v.app}, {"released_at", v.released_at}};
}
Status RecordFromJson(const json& j, ReleasedAddress* o) {
  Reader r(j, "released address");
  r.Str("address", &o->address);
  r.U32("net32", &o->net32);
  r.U32("n", &o->n);
  r.Str("app", &o->app);
  r.I64("released_at", &o->released_at);
  r.Require(o->net32 != 0, "net32");
  return r.status();
}

json RecordToJson(const Volume& v) {
  return {{"id", v.id},
          {"name", v.name},
          {"app", v.app},
          {"region", v.region},
          {"size_gb", v.size_gb},
          {"attached_machine_id", v.attached_machine_id},
          {"attached_path", v.attached_path},
          {"created_at", v.created_at}};
}
Status RecordFromJson(const json& j, Volume* o) {
  Reader r(j, "volume");
  r.Str("id", &o->id);
  r.Str("name", &o->name);
  r.Str("app", &o->app);
  r.Str("region", &o->region);
  r.U32("size_gb", &o->size_gb);
  r.Str("attached_machine_id", &o->attached_machine_id);
  r.Str("attached_path", &o->attached_path);
  r.I64("created_at", &o->created_at);
  r.Require(!o->id.empty(), "id");
  r.Require(!o->app.empty(), "app");
  return r.status();
}

json RecordToJson(const Secret& v) {
  return {{"app", v.app}, {"name", v.name}, {"digest", v.digest}, {"sealed", v.sealed}, {"created_at", v.created_at}};
}
Status RecordFromJson(const json& j, Secret* o) {
  Reader r(j, "secret");
  r.Str("app", &o->app);
  r.Str("name", &o->name);
  r.Str("digest", &o->digest);
  r.Str("sealed", &o->sealed);
  r.I64("created_at", &o->created_at);
  r.Require(!o->app.empty(), "app");
  r.Require(!o->name.empty(), "name");
  return r.status();
}

}  // namespace privcast::store
