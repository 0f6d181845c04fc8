// fly.toml → AppConfig. The only translation unit that includes toml++ (it is heavy to
// compile). toml++ is the distro's shared build, which throws; every call into it is
// wrapped here so nothing escapes the module.
#include "config/load.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>

#include <sstream>
#include <toml++/toml.h>

#include "common/ids.h"

namespace privcast::config {
namespace {

bool IsBareKey(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  return true;
}

// A short printable rendering of untrusted text for messages (never more than ~40 chars).
std::string Printable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && out.size() < 40; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (out.size() >= 40 && s.size() > 40) out += "...";
  return out;
}

std::string Quoted(std::string_view s) { return "\"" + Printable(s) + "\""; }

// Go's strconv.Atoi, which flyctl applies to ports written as strings: an optional sign,
// then decimal digits only (no spaces, no underscores, no base prefix).
std::optional<int64_t> GoAtoi(std::string_view s) {
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s[0] < '0' || s[0] > '9') return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return neg ? -v : v;
}

std::string Join(const std::string& parent, std::string_view key) {
  std::string k = IsBareKey(key) ? std::string(key) : Quoted(key);
  return parent.empty() ? k : parent + "." + k;
}

std::string At(const std::string& parent, size_t i) { return parent + "[" + std::to_string(i) + "]"; }

SourcePos PosOf(const toml::source_region& r) {
  return SourcePos{static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}

std::string FormatDouble(double d) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d);
  if (res.ec != std::errc()) return "a number";
  return std::string(buf, res.ptr);
}

// What a value is, for "expected X, got Y".
std::string Describe(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return Quoted(n.as_string()->get());
    case toml::node_type::integer:
      return std::to_string(n.as_integer()->get());
    case toml::node_type::floating_point:
      return FormatDouble(n.as_floating_point()->get());
    case toml::node_type::boolean:
      return n.as_boolean()->get() ? "true" : "false";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

template <typename E>
struct EnumName {
  std::string_view name;
  E value;
};

template <typename E, size_t N>
std::string EnumChoices(const EnumName<E> (&names)[N]) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (i > 0) out += (i + 1 == N) ? " or " : ", ";
    out += "\"" + std::string(names[i].name) + "\"";
  }
  return out;
}

constexpr EnumName<AutoStop> kAutoStop[] = {{"off", AutoStop::kOff},
                                            {"stop", AutoStop::kStop},
                                            {"suspend", AutoStop::kSuspend}};
constexpr EnumName<ConcurrencyType> kConcurrency[] = {{"connections", ConcurrencyType::kConnections},
                                                      {"requests", ConcurrencyType::kRequests}};
constexpr EnumName<RestartPolicy> kRestart[] = {{"always", RestartPolicy::kAlways},
                                                {"never", RestartPolicy::kNever},
                                                {"on-failure", RestartPolicy::kOnFailure}};
constexpr EnumName<CheckType> kCheckType[] = {{"tcp", CheckType::kTcp}, {"http", CheckType::kHttp}};
constexpr EnumName<int> kProtocol[] = {{"tcp", 0}, {"udp", 1}};
constexpr EnumName<int> kCheckProtocol[] = {{"http", 0}, {"https", 1}};
constexpr EnumName<int> kProxyProto[] = {{"v1", 1}, {"v2", 2}};
constexpr EnumName<int> kCpuKind[] = {{"shared", 0}, {"performance", 1}};
constexpr EnumName<int> kTlsVersion[] = {{"TLSv1.2", 0}, {"TLSv1.3", 1}};

// A key privcast accepts (flyctl knows it) but does not act on, and why: every one of them
// is named in a warning, so nobody believes a setting took effect when it did not.
struct Ignored {
  std::string_view key;
  std::string_view why;
};

constexpr std::string_view kNoMachineChecks = "machine checks (run before a deploy) are not run";
constexpr Ignored kRestartLimit = {"restart_limit", "a failing check never restarts a machine"};

class Loader {
 public:
  Loader(std::string file, AppConfig* cfg) : file_(std::move(file)), cfg_(cfg) { cfg_->source.file = file_; }

  void Root(const toml::table& root);
  void KillSettings(const toml::table& root);
  void ProcessesKey(const toml::table& root);
  void Build(const toml::table& root);

  std::vector<Diagnostic> errors;
  // Errors about a key that is absent from its table ("missing key"). Kept apart because
  // when the file has a syntax error, the part before it is checked for errors too, and
  // there a key may only be missing because it comes after the cut.
  std::vector<Diagnostic> absence_errors;
  std::vector<Diagnostic> warnings;

 private:
  void Err(const toml::source_region& at, const std::string& path, std::string msg) {
    errors.push_back(Diagnostic{file_, PosOf(at), path, std::move(msg)});
  }
  void Missing(const toml::source_region& at, const std::string& path, std::string msg) {
    absence_errors.push_back(Diagnostic{file_, PosOf(at), path, std::move(msg)});
  }
  void Warn(const toml::source_region& at, const std::string& path, std::string msg) {
    warnings.push_back(Diagnostic{file_, PosOf(at), path, std::move(msg)});
  }
  void IgnoredWarn(const toml::source_region& at, const std::string& path, std::string_view why) {
    Warn(at, path, "accepted and ignored: " + std::string(why));
  }
  void Expected(const toml::node& n, const std::string& path, const std::string& what) {
    Err(n.source(), path, "expected " + what + ", got " + Describe(n));
  }
  void Mark(const toml::node& n, const std::string& path) { cfg_->source.values[path] = PosOf(n.source()); }

  // Warn about every key of `t` that privcast does not act on: the known-but-ignored ones
  // with their reason, the rest as unknown.
  void Keys(const toml::table& t, const std::string& path, std::initializer_list<std::string_view> known,
            std::initializer_list<Ignored> ignored = {}) {
    for (auto&& [k, v] : t) {
      std::string_view name = k.str();
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      auto ig = std::find_if(ignored.begin(), ignored.end(), [&](const Ignored& i) { return i.key == name; });
      if (ig != ignored.end()) {
        IgnoredWarn(k.source(), Join(path, name), ig->why);
      } else {
        Warn(k.source(), Join(path, name), "unknown key, ignored");
      }
    }
  }

  const toml::node* Get(const toml::table& t, std::string_view key, const std::string& parent, std::string* path) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return nullptr;
    *path = Join(parent, key);
    Mark(*n, *path);
    return n;
  }

  bool Str(const toml::table& t, std::string_view key, const std::string& parent, std::string* out) {
    std::string path;
    const toml::node* n = Get(t, key, parent, &path);
    if (n == nullptr) return false;
    if (!n->is_string()) {
      Expected(*n, path, "a string");
      return false;
    }
    *out = n->as_string()->get();
    return true;
  }

  bool Bool(const toml::table& t, std::string_view key, const std::string& parent, bool* out) {
    std::string path;
    const toml::node* n = Get(t, key, parent, &path);
    if (n == nullptr) return false;
    if (!n->is_boolean()) {
      Expected(*n, path, "true or false");
      return false;
    }
    *out = n->as_boolean()->get();
    return true;
  }

  bool IntNode(const toml::node& n, const std::string& path, int64_t min, int64_t max, const std::string& what,
               int64_t* out) {
    if (!n.is_integer() || n.as_integer()->get() < min || n.as_integer()->get() > max) {
      Expected(n, path, what);
      return false;
    }
    *out = n.as_integer()->get();
    return true;
  }

  bool Int(const toml::table& t, std::string_view key, const std::string& parent, int64_t min, int64_t max,
           const std::string& what, int64_t* out) {
    std::string path;
    const toml::node* n = Get(t, key, parent, &path);
    if (n == nullptr) return false;
    return IntNode(*n, path, min, max, what, out);
  }

  bool U32(const toml::table& t, std::string_view key, const std::string& parent, bool positive, uint32_t* out) {
    int64_t v = 0;
    if (!Int(t, key, parent, positive ? 1 : 0, UINT32_MAX, positive ? "a positive integer" : "a non-negative integer",
             &v))
      return false;
    *out = static_cast<uint32_t>(v);
    return true;
  }

  // A port number. `coerce`: also as flyctl reads `port` and `internal_port` of
  // [[services]] (castToInt in its internal/appconfig/patches.go): a decimal string ("443")
  // or a float truncated toward zero, like Go's int().
  bool Port(const toml::table& t, std::string_view key, const std::string& parent, uint16_t* out, bool coerce = false) {
    std::string path;
    const toml::node* n = Get(t, key, parent, &path);
    if (n == nullptr) return false;
    std::optional<int64_t> v;
    if (n->is_integer()) {
      v = n->as_integer()->get();
    } else if (coerce && n->is_string()) {
      v = GoAtoi(n->as_string()->get());
    } else if (coerce && n->is_floating_point()) {
      double d = n->as_floating_point()->get();
      if (std::isfinite(d) && d > -1e9 && d < 1e9) v = static_cast<int64_t>(d);
    }
    if (!v || *v < 1 || *v > 65535) {
      Expected(*n, path, "a port number (1-65535)");
      return false;
    }
    *out = static_cast<uint16_t>(*v);
    return true;
  }

  // A duration: a Go-style string ("10s", "1m30s") or an integer in `int_unit_ms` units
  // (kill_timeout counts seconds, legacy check timings count milliseconds).
  bool Duration(const toml::table& t, std::string_view key, const std::string& parent, int64_t int_unit_ms,
                int64_t* out, const toml::node** node = nullptr) {
    std::string path;
    const toml::node* n = Get(t, key, parent, &path);
    if (n == nullptr) return false;
    if (node != nullptr) *node = n;
    const std::string what = std::string("a duration like \"10s\" or an integer number of ") +
                             (int_unit_ms == 1000 ? "seconds" : "milliseconds");
    if (n->is_integer()) {
      int64_t v = n->as_integer()->get();
      if (v < 0 || v > INT64_MAX / int_unit_ms / 1000) {
        Expected(*n, path, what);
        return false;
      }
      *out = v * int_unit_ms;
      return true;
    }
    if (n->is_string()) {
      auto ms = ParseDurationMs(n->as_string()->get());
      if (!ms) {
        Expected(*n, path, what);
        return false;
      }
      *out = *ms;
      return true;
    }
    Expected(*n, path, what);
    return false;
  }

  template <typename E, size_t N>
  bool Enum(const toml::node& n, const std::string& path, const EnumName<E> (&names)[N], E* out) {
    if (n.is_string()) {
      for (const auto& e : names) {
        if (n.as_string()->get() == e.name) {
          *out = e.value;
          return true;
        }
      }
    }
    Expected(n, path, "one of " + EnumChoices(names));
    return false;
  }

  template <typename E, size_t N>
  bool Enum(const toml::table& t, std::string_view key, const std::string& parent, const EnumName<E> (&names)[N],
            E* out) {
    std::string path;
    const toml::node* n = Get(t, key, parent, &path);
    if (n == nullptr) return false;
    return Enum(*n, path, names, out);
  }

  // An array of strings; each element's position is recorded as path[i].
  bool StrArray(const toml::table& t, std::string_view key, const std::string& parent, std::vector<std::string>* out) {
    std::string path;
    const toml::node* n = Get(t, key, parent, &path);
    if (n == nullptr) return false;
    if (!n->is_array()) {
      Expected(*n, path, "an array of strings");
      return false;
    }
    const toml::array& arr = *n->as_array();
    std::vector<std::string> v;
    bool ok = true;
    for (size_t i = 0; i < arr.size(); ++i) {
      const toml::node& e = arr[i];
      std::string ep = At(path, i);
      Mark(e, ep);
      if (!e.is_string()) {
        Expected(e, ep, "a string");
        ok = false;
        continue;
      }
      v.push_back(e.as_string()->get());
    }
    if (ok) *out = std::move(v);
    return ok;
  }

  // What a table of name → string accepts besides strings.
  enum class MapValues {
    kStrings,  // only strings (check headers)
    kScalars,  // numbers and booleans become strings, as Fly does for [env]
    // flyctl takes any value (HTTPResponseOptions.Headers is a map[string]any in its
    // api/machine_types.go): numbers become their decimal text, an array of strings its
    // values joined by ", " (one field line, RFC 9110 5.3); a boolean is accepted and
    // ignored with a warning (privcast does not remove headers).
    kResponseHeaders,
  };

  // One value of such a table as text; nullopt when it is ignored or refused (*ok = false).
  std::optional<std::string> MapValue(const toml::node& val, const std::string& path, MapValues rule, bool* ok) {
    if (val.is_string()) return std::string(val.as_string()->get());
    if (rule != MapValues::kStrings && val.is_integer()) {
      return std::to_string(val.as_integer()->get());
    }
    if (rule != MapValues::kStrings && val.is_floating_point()) {
      return FormatDouble(val.as_floating_point()->get());
    }
    if (rule == MapValues::kScalars && val.is_boolean()) {
      return std::string(val.as_boolean()->get() ? "true" : "false");
    }
    if (rule == MapValues::kResponseHeaders && val.is_boolean()) {
      IgnoredWarn(val.source(), path, "a boolean header value neither sets nor removes a header");
      return std::nullopt;
    }
    if (rule == MapValues::kResponseHeaders && val.is_array() && val.as_array()->empty()) {
      IgnoredWarn(val.source(), path, "an empty array sets no value");
      return std::nullopt;
    }
    if (rule == MapValues::kResponseHeaders && val.is_array()) {
      std::string joined;
      const toml::array& arr = *val.as_array();
      for (size_t i = 0; i < arr.size(); ++i) {
        if (!arr[i].is_string()) {
          Expected(arr[i], At(path, i), "a string");
          *ok = false;
          return std::nullopt;
        }
        joined.append(i == 0 ? "" : ", ").append(arr[i].as_string()->get());
      }
      return joined;
    }
    Expected(val, path, rule == MapValues::kResponseHeaders ? "a string, a number or an array of strings" : "a string");
    *ok = false;
    return std::nullopt;
  }

  bool StrMap(const toml::node& n, const std::string& path, MapValues rule,
              std::vector<std::pair<std::string, std::string>>* out) {
    if (!n.is_table()) {
      Expected(n, path, "a table");
      return false;
    }
    std::vector<std::pair<std::string, std::string>> v;
    bool ok = true;
    for (auto&& [k, val] : *n.as_table()) {
      std::string kp = Join(path, k.str());
      Mark(val, kp);
      if (auto s = MapValue(val, kp, rule, &ok)) {
        v.emplace_back(std::string(k.str()), std::move(*s));
      }
    }
    std::sort(v.begin(), v.end());
    if (ok) *out = std::move(v);
    return ok;
  }

  const toml::table* SubTable(const toml::table& t, std::string_view key, const std::string& parent,
                              std::string* path) {
    const toml::node* n = Get(t, key, parent, path);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) {
      Expected(*n, *path, "a table");
      return nullptr;
    }
    return n->as_table();
  }

  // [[key]] (an array of tables) or, leniently, a single [key] table as one element.
  template <typename F>
  void Tables(const toml::table& t, std::string_view key, const std::string& parent, F&& fn) {
    std::string path;
    const toml::node* n = Get(t, key, parent, &path);
    if (n == nullptr) return;
    if (n->is_table()) {
      Mark(*n, At(path, 0));
      fn(*n->as_table(), At(path, 0));
      return;
    }
    if (!n->is_array()) {
      Expected(*n, path, "an array of tables ([[" + path + "]])");
      return;
    }
    const toml::array& arr = *n->as_array();
    for (size_t i = 0; i < arr.size(); ++i) {
      std::string ep = At(path, i);
      Mark(arr[i], ep);
      if (!arr[i].is_table()) {
        Expected(arr[i], ep, "a table");
        continue;
      }
      fn(*arr[i].as_table(), ep);
    }
  }

  void AutoStopKey(const toml::table& t, const std::string& parent, AutoStop* out) {
    std::string path;
    const toml::node* n = Get(t, "auto_stop_machines", parent, &path);
    if (n == nullptr) return;
    if (n->is_boolean()) {  // the old spelling: true = "stop", false = "off"
      *out = n->as_boolean()->get() ? AutoStop::kStop : AutoStop::kOff;
      return;
    }
    if (n->is_string()) {
      for (const auto& e : kAutoStop) {
        if (n->as_string()->get() == e.name) {
          *out = e.value;
          return;
        }
      }
    }
    Expected(*n, path, "one of " + EnumChoices(kAutoStop) + " (or true/false)");
  }

  void Common(const toml::table& t, const std::string& p, bool legacy, ServiceCommon* c);
  void Concurrency(const toml::table& t, const std::string& p, ConcurrencyConfig* c);
  void LegacyConcurrency(const toml::node& n, const std::string& p, ConcurrencyConfig* c);
  void Check(const toml::table& t, const std::string& p, bool http, CheckConfig* c);
  void CheckFields(const toml::table& t, const std::string& p, bool http, CheckConfig* c);
  void HttpOpts(const toml::table& t, const std::string& p, HttpOptions* o);
  void TlsOpts(const toml::table& t, const std::string& p, TlsOptions* o);
  void PortEntry(const toml::table& t, const std::string& p, PortConfig* port);
  void HttpService(const toml::table& t, const std::string& p);
  void Service(const toml::table& t, const std::string& p, ServiceConfig* s);
  void Vm(const toml::table& t, const std::string& p, VmConfig* vm);
  void Restart(const toml::table& t, const std::string& p, RestartConfig* r);
  void Mount(const toml::table& t, const std::string& p, MountConfig* m);
  void Processes(const toml::table& t, const std::string& p);
  void NamedChecks(const toml::table& t, const std::string& p);

  std::string file_;
  AppConfig* cfg_;
};

void Loader::Root(const toml::table& root) {
  Keys(root, "",
       {"app", "primary_region", "kill_signal", "kill_timeout", "env", "processes", "vm", "restart", "http_service",
        "services", "checks", "build", "mounts", "mount"},
       {{"deploy", "privcast has no release_command or deploy strategies"},
        {"statics",
         "privcast's proxy does not serve static files: the app must serve these "
         "paths itself"},
        {"metrics", "privcast does not scrape metrics"},
        {"files", "privcast does not write files into machines"},
        {"experimental", "experimental settings are not supported"},
        {"console_command", "ssh console runs a shell"},
        {"swap_size_mb", "machines get no swap"},
        {"host_dedication_id", "privcast has no dedicated hosts"},
        {"machine_checks", kNoMachineChecks}});
  AppConfig& c = *cfg_;
  Str(root, "app", "", &c.app);
  Str(root, "primary_region", "", &c.primary_region);

  std::string path;
  KillSettings(root);
  if (const toml::node* n = Get(root, "env", "", &path)) {
    StrMap(*n, path, MapValues::kScalars, &c.env);
  }
  ProcessesKey(root);
  Build(root);
  Tables(root, "vm", "", [&](const toml::table& t, const std::string& p) {
    c.vm.emplace_back();
    Vm(t, p, &c.vm.back());
  });
  // flyctl reads a singular [mount] as [[mounts]] (patchMounts in its appconfig).
  for (const char* key : {"mounts", "mount"}) {
    Tables(root, key, "", [&](const toml::table& t, const std::string& p) {
      c.mounts.emplace_back();
      Mount(t, p, &c.mounts.back());
    });
  }
  Tables(root, "restart", "", [&](const toml::table& t, const std::string& p) {
    c.restart.emplace_back();
    Restart(t, p, &c.restart.back());
  });
  if (const toml::table* t = SubTable(root, "http_service", "", &path)) HttpService(*t, path);
  Tables(root, "services", "", [&](const toml::table& t, const std::string& p) {
    c.services.emplace_back();
    Service(t, p, &c.services.back());
  });
  if (const toml::table* t = SubTable(root, "checks", "", &path)) NamedChecks(*t, path);
}

// kill_signal and kill_timeout (part of Root).
void Loader::KillSettings(const toml::table& root) {
  AppConfig& c = *cfg_;
  std::string path;
  if (const toml::node* n = Get(root, "kill_signal", "", &path)) {
    std::optional<KillSignal> sig = n->is_string() ? KillSignal::FromName(n->as_string()->get()) : std::nullopt;
    if (!sig) {
      Expected(*n, path,
               "a signal name (SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGKILL, SIGSTOP "
               "or SIGHUP)");
    } else {
      c.kill_signal = *sig;
    }
  }
  const toml::node* kt = nullptr;
  int64_t kill_ms = 0;
  if (Duration(root, "kill_timeout", "", 1000, &kill_ms, &kt)) {
    if (kill_ms > kMaxKillTimeoutMs) {
      Err(kt->source(), "kill_timeout", "expected at most 300s, got " + FormatDurationMs(kill_ms));
    } else {
      c.kill_timeout_ms = kill_ms;
    }
  }
}

// The top-level `processes` key (part of Root): a table of groups, or flyctl's empty array.
void Loader::ProcessesKey(const toml::table& root) {
  std::string path;
  if (const toml::node* n = Get(root, "processes", "", &path)) {
    if (n->is_table()) {
      Processes(*n->as_table(), path);
    } else if (n->is_array()) {
      // flyctl drops an array here (patchProcesses: its API answers [] for an app without
      // groups, and `fly config save` writes that as `processes = []`): one group, "app".
      if (!n->as_array()->empty()) {
        IgnoredWarn(n->source(), path,
                    "an array defines no process groups (flyctl drops it too): use a "
                    "[processes] table");
      }
    } else {
      Expected(*n, path, "a table ([processes])");
    }
  }
}

// [build] (part of Root).
void Loader::Build(const toml::table& root) {
  std::string path;
  if (const toml::table* t = SubTable(root, "build", "", &path)) {
    // Only a prebuilt image: privcast builds nothing (docs/images.md).
    constexpr std::string_view kNoBuild = "privcast builds no image: give a prebuilt one as [build] image";
    Keys(*t, path, {"image"},
         {{"dockerfile", kNoBuild},
          {"builder", kNoBuild},
          {"buildpacks", kNoBuild},
          {"args", kNoBuild},
          {"build-target", kNoBuild},
          {"ignorefile", kNoBuild},
          {"image_label", kNoBuild},
          {"builtin", kNoBuild},
          {"settings", kNoBuild},
          {"buildpacks_docker_host", kNoBuild},
          {"compress", kNoBuild},
          {"compression", kNoBuild},
          {"dockerignorefile", kNoBuild}});
    Str(*t, "image", path, &cfg_->image);
  }
}

void Loader::Processes(const toml::table& t, const std::string& p) {
  for (auto&& [k, v] : t) {
    std::string kp = Join(p, k.str());
    Mark(v, kp);
    // A bad group is still recorded (with whatever command it has), so that the services
    // naming it are not also reported as naming a group that does not exist.
    std::string cmd = v.is_string() ? std::string(v.as_string()->get()) : std::string();
    cfg_->processes.emplace_back(std::string(k.str()), cmd);
    if (!ids::IsDnsLabel(k.str())) {
      Err(k.source(), kp, "a process group name must be 1-63 lowercase letters, digits or '-' (a DNS label)");
    } else if (cmd.empty()) {
      Expected(v, kp, "a non-empty command string");
    }
  }
  std::sort(cfg_->processes.begin(), cfg_->processes.end());
}

void Loader::Common(const toml::table& t, const std::string& p, bool legacy, ServiceCommon* c) {
  // flyctl patches the legacy shapes of [[services]] only (a string internal_port, a
  // "soft,hard" concurrency): [http_service] is decoded as it is.
  Port(t, "internal_port", p, &c->internal_port, legacy);
  AutoStopKey(t, p, &c->auto_stop);
  Bool(t, "auto_start_machines", p, &c->auto_start);
  U32(t, "min_machines_running", p, false, &c->min_machines_running);
  StrArray(t, "processes", p, &c->processes);
  std::string path;
  const toml::node* n = Get(t, "concurrency", p, &path);
  if (n == nullptr) return;
  if (n->is_table()) {
    Concurrency(*n->as_table(), path, &c->concurrency);
  } else if (legacy && n->is_string()) {
    LegacyConcurrency(*n, path, &c->concurrency);
  } else {
    Expected(*n, path, legacy ? "a table, or limits \"soft,hard\" like \"20,25\"" : "a table");
  }
}

// `concurrency = "20,25"`: soft and hard limits of requests (flyctl's _patchService).
void Loader::LegacyConcurrency(const toml::node& n, const std::string& p, ConcurrencyConfig* c) {
  std::string_view v = n.as_string()->get();
  size_t comma = v.find(',');
  std::optional<int64_t> soft, hard;
  if (comma != std::string_view::npos) {
    soft = GoAtoi(v.substr(0, comma));
    hard = GoAtoi(v.substr(comma + 1));
  }
  if (!soft || !hard || *soft < 1 || *hard < 1 || *soft > UINT32_MAX || *hard > UINT32_MAX) {
    Expected(n, p, "a table, or limits \"soft,hard\" like \"20,25\"");
    return;
  }
  c->type = ConcurrencyType::kRequests;
  c->soft_limit = static_cast<uint32_t>(*soft);
  c->hard_limit = static_cast<uint32_t>(*hard);
}

void Loader::Concurrency(const toml::table& t, const std::string& p, ConcurrencyConfig* c) {
  Keys(t, p, {"type", "soft_limit", "hard_limit"});
  Enum(t, "type", p, kConcurrency, &c->type);
  U32(t, "soft_limit", p, true, &c->soft_limit);
  uint32_t hard = 0;
  if (U32(t, "hard_limit", p, true, &hard)) c->hard_limit = hard;
}

void Loader::CheckFields(const toml::table& t, const std::string& p, bool http, CheckConfig* c) {
  Duration(t, "grace_period", p, 1, &c->grace_period_ms);
  const toml::node* n = nullptr;
  int64_t v = 0;
  if (Duration(t, "interval", p, 1, &v, &n)) {
    if (v <= 0) Expected(*n, Join(p, "interval"), "a positive duration");
    else c->interval_ms = v;
  }
  if (Duration(t, "timeout", p, 1, &v, &n)) {
    if (v <= 0) Expected(*n, Join(p, "timeout"), "a positive duration");
    else c->timeout_ms = v;
  }
  if (!http) return;
  std::string path;
  if (const toml::node* m = Get(t, "method", p, &path)) {
    bool ok = m->is_string() && !m->as_string()->get().empty() && m->as_string()->get().size() <= 16;
    if (ok) {
      for (char ch : m->as_string()->get())
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'))) ok = false;
    }
    if (!ok) {
      Expected(*m, path, "an HTTP method like \"GET\"");
    } else {
      std::string up = m->as_string()->get();
      for (char& ch : up) ch = static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
      c->method = up;
    }
  }
  if (const toml::node* m = Get(t, "path", p, &path)) {
    bool ok = m->is_string() && !m->as_string()->get().empty() && m->as_string()->get()[0] == '/';
    if (ok) {
      for (char ch : m->as_string()->get())
        if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f) ok = false;
    }
    if (!ok) Expected(*m, path, "a path starting with \"/\" (no spaces)");
    else c->path = m->as_string()->get();
  }
  int proto = 0;
  if (Enum(t, "protocol", p, kCheckProtocol, &proto)) c->protocol = proto == 1 ? "https" : "http";
  Bool(t, "tls_skip_verify", p, &c->tls_skip_verify);
  Str(t, "tls_server_name", p, &c->tls_server_name);
  if (const toml::node* h = Get(t, "headers", p, &path)) {
    // `headers = []` is what older exports write for none; flyctl drops it (_patchCheck).
    bool none = h->is_array() && h->as_array()->empty();
    if (!none) StrMap(*h, path, MapValues::kStrings, &c->headers);
  }
}

void Loader::Check(const toml::table& t, const std::string& p, bool http, CheckConfig* c) {
  if (http) {
    Keys(t, p,
         {"grace_period", "interval", "timeout", "method", "path", "protocol", "tls_skip_verify", "tls_server_name",
          "headers", "type"},
         {kRestartLimit});
  } else {
    Keys(t, p, {"grace_period", "interval", "timeout", "type"}, {kRestartLimit});
  }
  CheckFields(t, p, http, c);
}

void Loader::NamedChecks(const toml::table& t, const std::string& p) {
  for (auto&& [k, v] : t) {
    std::string kp = Join(p, k.str());
    Mark(v, kp);
    if (!v.is_table()) {
      Expected(v, kp, "a table ([" + kp + "])");
      continue;
    }
    const toml::table& ct = *v.as_table();
    NamedCheck nc;
    nc.name = std::string(k.str());
    std::string path;
    const toml::node* type = Get(ct, "type", kp, &path);
    if (type == nullptr) {
      Missing(v.source(), kp, "missing key \"type\" (\"tcp\" or \"http\")");
      continue;
    }
    if (!Enum(*type, path, kCheckType, &nc.type)) continue;
    bool http = nc.type == CheckType::kHttp;
    if (http) {
      Keys(ct, kp,
           {"type", "port", "processes", "grace_period", "interval", "timeout", "method", "path", "protocol",
            "tls_skip_verify", "tls_server_name", "headers"},
           {kRestartLimit});
    } else {
      Keys(ct, kp, {"type", "port", "processes", "grace_period", "interval", "timeout"}, {kRestartLimit});
    }
    uint16_t port = 0;
    if (Port(ct, "port", kp, &port)) nc.port = port;
    StrArray(ct, "processes", kp, &nc.processes);
    CheckFields(ct, kp, http, &nc.check);
    cfg_->checks.push_back(std::move(nc));
  }
  std::sort(cfg_->checks.begin(), cfg_->checks.end(),
            [](const NamedCheck& a, const NamedCheck& b) { return a.name < b.name; });
}

void Loader::HttpOpts(const toml::table& t, const std::string& p, HttpOptions* o) {
  Keys(t, p, {"h2_backend", "response"},
       {{"compress", "the proxy does not compress responses"},
        {"idle_timeout", "the proxy's idle timeout is not set per service"}});
  Bool(t, "h2_backend", p, &o->h2_backend);  // h2c to the app (docs/proxy.md, HTTP/2)
  std::string path;
  if (const toml::table* r = SubTable(t, "response", p, &path)) {
    Keys(*r, path, {"pristine", "headers"});
    Bool(*r, "pristine", path, &o->response_pristine);
    std::string hp;
    if (const toml::node* h = Get(*r, "headers", path, &hp)) {
      StrMap(*h, hp, MapValues::kResponseHeaders, &o->response_headers);
    }
  }
}

void Loader::TlsOpts(const toml::table& t, const std::string& p, TlsOptions* o) {
  Keys(t, p, {"alpn", "versions"}, {{"default_self_signed", "privcast's TLS termination does not use it"}});
  StrArray(t, "alpn", p, &o->alpn);
  std::vector<std::string> versions;
  if (StrArray(t, "versions", p, &versions)) {
    std::string vp = Join(p, "versions");
    bool ok = true;
    for (size_t i = 0; i < versions.size(); ++i) {
      int ignored = 0;
      const toml::node& e = (*t.get("versions")->as_array())[i];
      if (!Enum(e, At(vp, i), kTlsVersion, &ignored)) ok = false;
    }
    if (ok) o->versions = std::move(versions);
  }
}

void Loader::PortEntry(const toml::table& t, const std::string& p, PortConfig* port) {
  Keys(t, p,
       {"port", "start_port", "end_port", "handlers", "force_https", "proxy_proto_options", "tls_options",
        "http_options"});
  const toml::node* single = t.get("port");
  const toml::node* start = t.get("start_port");
  const toml::node* end = t.get("end_port");
  if (single != nullptr && (start != nullptr || end != nullptr)) {
    const toml::node* other = start != nullptr ? start : end;
    Err(other->source(), Join(p, start != nullptr ? "start_port" : "end_port"),
        "use either port or start_port/end_port, not both");
  } else if (single != nullptr) {
    uint16_t v = 0;
    if (Port(t, "port", p, &v, /*coerce=*/true)) port->start_port = port->end_port = v;
  } else if (start != nullptr || end != nullptr) {
    uint16_t s = 0, e = 0;
    bool ok_s = Port(t, "start_port", p, &s);
    bool ok_e = Port(t, "end_port", p, &e);
    if (start == nullptr) {
      Missing(end->source(), Join(p, "end_port"), "end_port needs start_port");
    } else if (end == nullptr) {
      Missing(start->source(), Join(p, "start_port"), "start_port needs end_port");
    } else if (ok_s && ok_e) {
      if (s > e) {
        Err(start->source(), Join(p, "start_port"),
            "start_port (" + std::to_string(s) + ") is greater than end_port (" + std::to_string(e) + ")");
      } else {
        port->start_port = s;
        port->end_port = e;
      }
    }
  } else {
    Missing(t.source(), p, "missing key \"port\" (or \"start_port\" and \"end_port\")");
  }

  std::vector<std::string> handlers;
  if (StrArray(t, "handlers", p, &handlers)) {
    std::string hp = Join(p, "handlers");
    bool ok = true;
    for (size_t i = 0; i < handlers.size(); ++i) {
      const toml::node& e = (*t.get("handlers")->as_array())[i];
      const std::string& h = handlers[i];
      if (h != "http" && h != "tls" && h != "proxy_proto") {
        Err(e.source(), At(hp, i),
            "unknown handler " + Quoted(h) +
                "; expected any of \"http\", \"tls\", "
                "\"proxy_proto\" (none for raw TCP)");
        ok = false;
      } else if (std::find(handlers.begin(), handlers.begin() + static_cast<long>(i), h) !=
                 handlers.begin() + static_cast<long>(i)) {
        Err(e.source(), At(hp, i), "duplicate handler " + Quoted(h));
        ok = false;
      }
    }
    if (ok) port->handlers = std::move(handlers);
  }
  Bool(t, "force_https", p, &port->force_https);
  std::string path;
  if (const toml::table* pp = SubTable(t, "proxy_proto_options", p, &path)) {
    Keys(*pp, path, {"version"});
    Enum(*pp, "version", path, kProxyProto, &port->proxy_proto_version);
  }
  if (const toml::table* tls = SubTable(t, "tls_options", p, &path)) {
    TlsOpts(*tls, path, &port->tls_options);
  }
  if (const toml::table* ho = SubTable(t, "http_options", p, &path)) {
    HttpOpts(*ho, path, &port->http_options);
  }
}

void Loader::HttpService(const toml::table& t, const std::string& p) {
  Keys(t, p,
       {"internal_port", "force_https", "auto_stop_machines", "auto_start_machines", "min_machines_running",
        "processes", "concurrency", "checks", "http_options", "tls_options"},
       {{"machine_checks", kNoMachineChecks}});
  HttpServiceConfig hs;
  Common(t, p, /*legacy=*/false, &hs.common);
  Bool(t, "force_https", p, &hs.force_https);
  Tables(t, "checks", p, [&](const toml::table& ct, const std::string& cp) {
    hs.checks.emplace_back();
    Check(ct, cp, true, &hs.checks.back());
  });
  std::string path;
  if (const toml::table* ho = SubTable(t, "http_options", p, &path)) {
    HttpOpts(*ho, path, &hs.http_options);
  }
  if (const toml::table* tls = SubTable(t, "tls_options", p, &path)) {
    TlsOpts(*tls, path, &hs.tls_options);
  }
  cfg_->http_service = std::move(hs);
}

void Loader::Service(const toml::table& t, const std::string& p, ServiceConfig* s) {
  Keys(t, p,
       {"name", "protocol", "internal_port", "auto_stop_machines", "auto_start_machines", "min_machines_running",
        "processes", "ports", "concurrency", "tcp_checks", "http_checks"},
       {{"script_checks", "script checks are not run"}, {"machine_checks", kNoMachineChecks}});
  Str(t, "name", p, &s->name);  // privcast addition (ADR 0013); checked in validate.cc
  int proto = 0;
  if (Enum(t, "protocol", p, kProtocol, &proto)) {
    s->protocol = proto == 1 ? "udp" : "tcp";
    if (proto == 1) {
      IgnoredWarn(t.get("protocol")->source(), Join(p, "protocol"),
                  "privcast's proxy forwards TCP only: this service's ports get no UDP "
                  "listener");
    }
  }
  Common(t, p, /*legacy=*/true, &s->common);
  Tables(t, "ports", p, [&](const toml::table& pt, const std::string& pp) {
    s->ports.emplace_back();
    PortEntry(pt, pp, &s->ports.back());
  });
  Tables(t, "tcp_checks", p, [&](const toml::table& ct, const std::string& cp) {
    s->tcp_checks.emplace_back();
    Check(ct, cp, false, &s->tcp_checks.back());
  });
  Tables(t, "http_checks", p, [&](const toml::table& ct, const std::string& cp) {
    s->http_checks.emplace_back();
    Check(ct, cp, true, &s->http_checks.back());
  });
}

void Loader::Mount(const toml::table& t, const std::string& p, MountConfig* m) {
  constexpr std::string_view kNoExtend = "volumes are not extended automatically";
  constexpr std::string_view kNoSnapshots = "privcast takes no volume snapshots";
  Keys(t, p, {"source", "destination", "initial_size", "processes"},
       {{"auto_extend_size_threshold", kNoExtend},
        {"auto_extend_size_increment", kNoExtend},
        {"auto_extend_size_limit", kNoExtend},
        {"snapshot_retention", kNoSnapshots},
        {"scheduled_snapshots", kNoSnapshots}});
  std::string path;
  const toml::node* src = Get(t, "source", p, &path);
  if (src == nullptr) {
    Err(t.source(), p, "missing source: the name of the volume to mount (privcast volumes create NAME)");
  } else if (!src->is_string() || !IsVolumeName(src->as_string()->get())) {
    Expected(*src, path, "a volume name: 1-30 lowercase letters, digits and '_'");
  } else {
    m->source = src->as_string()->get();
  }
  const toml::node* dst = Get(t, "destination", p, &path);
  if (dst == nullptr) {
    Err(t.source(), p, "missing destination: where the volume appears in the machine, e.g. \"/data\"");
  } else if (!dst->is_string()) {
    Expected(*dst, path, "an absolute path like \"/data\"");
  } else if (std::string why = CheckMountDestination(dst->as_string()->get()); !why.empty()) {
    Err(dst->source(), path, "destination " + why);
  } else {
    m->destination = dst->as_string()->get();
  }
  if (const toml::node* n = Get(t, "initial_size", p, &path)) {
    // flyctl: an integer counts GB, a string is a size ("10gb", "500mb" rounds up to 1 GB).
    std::optional<uint64_t> mb;
    if (n->is_integer() && n->as_integer()->get() > 0) mb = static_cast<uint64_t>(n->as_integer()->get()) * 1024;
    else if (n->is_string()) mb = ParseMemoryMb(n->as_string()->get());
    if (!mb || *mb == 0 || *mb > 500 * 1024) {
      Expected(*n, path, "a size like \"10gb\" or an integer number of GB (at most 500)");
    } else {
      m->initial_size_gb = static_cast<uint32_t>((*mb + 1023) / 1024);
    }
  }
  StrArray(t, "processes", p, &m->processes);
}

void Loader::Vm(const toml::table& t, const std::string& p, VmConfig* vm) {
  Keys(t, p, {"size", "memory", "memory_mb", "cpus", "cpu_kind", "processes", "persist_rootfs"},
       {{"gpus", "machines get no GPUs"},
        {"gpu_kind", "machines get no GPUs"},
        {"kernel_args", "machines share the host's kernel"},
        {"host_dedication_id", "privcast has no dedicated hosts"}});
  Bool(t, "persist_rootfs", p, &vm->persist_rootfs);
  std::string size;
  if (Str(t, "size", p, &size)) vm->size = size;
  std::string path;
  const toml::node* mem = Get(t, "memory", p, &path);
  const toml::node* mem_mb = t.get("memory_mb");
  if (mem != nullptr && mem_mb != nullptr) {
    Err(mem_mb->source(), Join(p, "memory_mb"), "use either memory or memory_mb, not both");
  } else if (mem != nullptr) {
    std::optional<uint64_t> mb;
    if (mem->is_integer() && mem->as_integer()->get() > 0) {
      mb = static_cast<uint64_t>(mem->as_integer()->get());
    } else if (mem->is_string()) {
      mb = ParseMemoryMb(mem->as_string()->get());
    }
    if (!mb || *mb == 0 || *mb > 1024 * 1024) {
      Expected(*mem, path, "a memory size like \"256mb\", \"1gb\" or an integer number of MB");
    } else {
      vm->memory_mb = static_cast<uint32_t>(*mb);
    }
  } else if (mem_mb != nullptr) {
    int64_t v = 0;
    if (Int(t, "memory_mb", p, 1, 1024 * 1024, "a positive integer number of MB", &v)) {
      vm->memory_mb = static_cast<uint32_t>(v);
    }
  }
  int64_t cpus = 0;
  if (Int(t, "cpus", p, 1, 128, "a number of CPUs (1-128)", &cpus)) {
    vm->cpus = static_cast<uint32_t>(cpus);
  }
  int kind = 0;
  if (Enum(t, "cpu_kind", p, kCpuKind, &kind)) vm->cpu_kind = kind == 1 ? "performance" : "shared";
  StrArray(t, "processes", p, &vm->processes);
}

void Loader::Restart(const toml::table& t, const std::string& p, RestartConfig* r) {
  Keys(t, p, {"policy", "retries", "processes"});
  Enum(t, "policy", p, kRestart, &r->policy);
  int64_t retries = 0;
  if (Int(t, "retries", p, 0, 1000, "a number of retries (0-1000)", &retries)) {
    r->retries = static_cast<uint32_t>(retries);
  }
  StrArray(t, "processes", p, &r->processes);
}

bool PosLess(const Diagnostic& a, const Diagnostic& b) {
  // Diagnostics without a position sort last.
  int la = a.pos.line == 0 ? INT32_MAX : a.pos.line;
  int lb = b.pos.line == 0 ? INT32_MAX : b.pos.line;
  if (la != lb) return la < lb;
  return a.pos.column < b.pos.column;
}

// Every error, one line each, in file order: the Status message of a refused file.
Status Refused(std::vector<Diagnostic> errors) {
  std::stable_sort(errors.begin(), errors.end(), PosLess);
  std::string msg;
  for (const Diagnostic& d : errors) msg.append(msg.empty() ? "" : "\n").append(d.ToString());
  return InvalidArgument(msg);
}

// The errors of the lines before a syntax error at `error_line`, so that a file with a
// syntax error still gets all its errors at once. Only errors in the values found there:
// a key may be missing, and a cross-field rule broken, only because the rest of the file
// is cut off. Nothing when the part before does not parse on its own (a multi-line value
// that the cut splits).
std::vector<Diagnostic> ErrorsBefore(std::string_view text, int error_line, const std::string& file) {
  size_t end = 0;
  for (int line = 1; line < error_line; ++line) {
    end = text.find('\n', end);
    if (end == std::string_view::npos) return {};
    ++end;
  }
  toml::table root;
  try {
    root = toml::parse(text.substr(0, end), file);
  } catch (const toml::parse_error&) {
    return {};
  }
  AppConfig scratch;
  Loader loader(file, &scratch);
  loader.Root(root);
  return std::move(loader.errors);
}

// The table a key path is in: "services[0].ports[1]" for "services[0].ports[1].port".
std::string_view TableOf(std::string_view path) {
  size_t dot = path.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : path.substr(0, dot);
}

bool Within(std::string_view path, std::string_view table) {
  return path.size() > table.size() && path.compare(0, table.size(), table) == 0 &&
         (path[table.size()] == '.' || path[table.size()] == '[');
}

// Whether a model-level error follows from one the loader reported: about the same key, a
// key inside a table the loader refused, or a key beside one it refused (the loader left
// those at their defaults, so `start_port` refused reads as port 0 there).
bool FollowsFrom(const Diagnostic& d, const std::vector<Diagnostic>& loader_errors) {
  for (const Diagnostic& e : loader_errors) {
    if (e.path.empty()) continue;
    if (d.path == e.path || Within(d.path, e.path)) return true;
    std::string_view table = TableOf(e.path);
    if (!table.empty() && TableOf(d.path) == table) return true;
  }
  return false;
}

Result<LoadedConfig> ParseImpl(std::string_view text, const std::string& file, const LoadOptions& options) {
  if (text.size() > kMaxFlyTomlBytes) {
    return InvalidArgument(file + ": file is too large (" + std::to_string(text.size()) + " bytes; the limit is " +
                           std::to_string(kMaxFlyTomlBytes) + ")");
  }
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    SourcePos pos = PosOf(e.source());
    std::string desc(e.description());
    // toml++ descriptions are one line already; keep the contract if that ever changes.
    std::replace(desc.begin(), desc.end(), '\n', ' ');
    std::vector<Diagnostic> errors = ErrorsBefore(text, pos.line, file);
    errors.push_back(Diagnostic{file, pos, "", "syntax error: " + desc});
    return Refused(std::move(errors));
  }

  LoadedConfig out;
  Loader loader(file, &out.config);
  loader.Root(root);
  // -a APP wins over the file's app, as in flyctl (a templated `app = "{APP_NAME}"` is
  // then never looked at).
  if (!options.app.empty()) out.config.app = options.app;
  std::vector<Diagnostic> errors = loader.errors;
  errors.insert(errors.end(), loader.absence_errors.begin(), loader.absence_errors.end());
  for (Diagnostic& d : ValidateAppConfig(out.config)) {
    if (!FollowsFrom(d, errors)) errors.push_back(std::move(d));
  }
  if (!errors.empty()) return Refused(std::move(errors));

  out.warnings = std::move(loader.warnings);
  for (auto& w : ConfigWarnings(out.config)) out.warnings.push_back(std::move(w));
  std::stable_sort(out.warnings.begin(), out.warnings.end(), PosLess);
  return out;
}

}  // namespace

Result<LoadedConfig> ParseFlyToml(std::string_view text, std::string_view filename, const LoadOptions& options) {
  std::string file = filename.empty() ? std::string("fly.toml") : std::string(filename);
  try {
    return ParseImpl(text, file, options);
  } catch (const std::exception& e) {
    // bad_alloc or a toml++ surprise: still an answer, never an escape.
    return Internal(file + ": cannot load: " + e.what());
  } catch (...) {
    return Internal(file + ": cannot load: unknown error");
  }
}

Result<LoadedConfig> LoadFlyToml(const std::string& path, const LoadOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return InvalidArgument(path + ": is a directory, not a fly.toml (use -c FILE)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFound(path + ": cannot open (is there a fly.toml here? use -c FILE)");
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxFlyTomlBytes) break;  // ParseFlyToml refuses it with a clear message
  }
  if (in.bad()) return ErrnoStatus(path + ": read", errno);
  return ParseFlyToml(text, path, options);
}

Result<std::string> FlyTomlAsJson(std::string_view text) {
  try {
    toml::table root = toml::parse(text, std::string_view("fly.toml"));
    std::ostringstream out;
    out << toml::json_formatter{root};
    return out.str();
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("fly.toml: syntax error: ") + e.what());
  }
}

}  // namespace privcast::config
