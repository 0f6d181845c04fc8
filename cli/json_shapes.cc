// flyctl's JSON shapes, added beside privcast's own fields (cli/json_shapes.h).
#include "cli/json_shapes.h"

#include <cctype>
#include <ctime>
#include <sstream>

#include "cli/json_fields.h"
#include "common/strings.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

// A canonical image reference → flyctl's image_ref. "registry/repo[:tag][@digest]"; the first
// component is a registry when it has a '.' or ':' or is "localhost" (Docker's rule).
json ImageRef(const std::string& ref) {
  json r = {{"registry", ""}, {"repository", ""}, {"tag", ""}, {"digest", ""}};
  if (ref.empty()) return r;
  std::string rest = ref;
  if (auto at = rest.find('@'); at != std::string::npos) {
    r["digest"] = rest.substr(at + 1);
    rest.resize(at);
  }
  if (rest.find("oci") == 0 || rest.find("docker-archive:") == 0) {  // local layouts: no registry
    r["repository"] = rest;
    return r;
  }
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    std::string first = rest.substr(0, slash);
    if (first.find('.') != std::string::npos || first.find(':') != std::string::npos || first == "localhost") {
      r["registry"] = first;
      rest = rest.substr(slash + 1);
    }
  }
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find('/', colon) == std::string::npos) {
    r["tag"] = rest.substr(colon + 1);
    rest.resize(colon);
  }
  r["repository"] = rest;
  return r;
}

}  // namespace

json FlyIp(const json& ip) {
  json out = ip.is_object() ? ip : json::object();
  std::string type = S(ip, "type");
  out["ID"] = S(ip, "ip");  // privcast's addresses have no other id: the address is it
  out["Address"] = S(ip, "ip");
  out["Type"] = type;  // "private_v6", flyctl's word for a flycast address
  out["Region"] = S(ip, "region");
  out["CreatedAt"] = S(ip, "created_at");
  out["Network"] = {{"Name", S(ip, "network")}, {"Organization", {{"Slug", S(ip, "org")}}}};
  out["ServiceName"] = "";
  return out;
}

json FlyMachine(const json& m) {
  json out = m.is_object() ? m : json::object();
  std::string id = S(m, "id");
  std::string image = S(m, "image");
  if (!out.contains("name")) out["name"] = id;  // privcast machines are named by their id
  int64_t release = m.is_object() && m.contains("release_version") && m["release_version"].is_number_integer()
                        ? m["release_version"].get<int64_t>()
                        : 0;
  // instance_id changes on every update of a Fly machine; here the release (or creation) it runs.
  out["instance_id"] = id + "-v" + std::to_string(release);
  out["image_ref"] = ImageRef(image);
  json metadata = {{"fly_process_group", S(m, "process_group")},
                   {"fly_platform_version", "v2"},
                   {"fly_release_version", std::to_string(release)}};
  json env = m.is_object() && m.contains("env") && m["env"].is_object() ? m["env"] : json::object();
  json cmd = m.is_object() && m.contains("cmd") && m["cmd"].is_array() ? m["cmd"] : json::array();
  json config = {{"image", image},
                 {"env", env},
                 {"metadata", metadata},
                 {"auto_destroy", m.is_object() && m.value("auto_destroy", false)}};
  if (!cmd.empty()) config["init"] = {{"cmd", cmd}};
  out["config"] = config;
  if (m.is_object() && m.contains("check_results") && m["check_results"].is_array()) out["checks"] = m["check_results"];
  return out;
}

json FlyApp(const json& a) {
  json out = a.is_object() ? a : json::object();
  std::string name = S(a, "name");
  int64_t version = a.is_object() && a.contains("current_release") && a["current_release"].is_number_integer()
                        ? a["current_release"].get<int64_t>()
                        : 0;
  out["ID"] = name;
  out["Name"] = name;
  out["Status"] = S(a, "status");
  out["Deployed"] = version > 0;
  out["Version"] = version;
  out["Hostname"] = a.is_object() && a.contains("hostname") ? S(a, "hostname") : name + ".flycast";
  out["Organization"] = {{"Slug", S(a, "org")}, {"Name", S(a, "org")}};
  out["PlatformVersion"] = "machines";
  return out;
}

json FlyStatus(const json& s) {
  json out = FlyApp(s);
  json machines = json::array();
  if (s.is_object() && s.contains("machines") && s["machines"].is_array())
    for (const auto& m : s["machines"]) machines.push_back(FlyMachine(m));
  out["Machines"] = machines;
  if (out.contains("ips") && out["ips"].is_array())
    for (auto& ip : out["ips"]) ip = FlyIp(ip);
  return out;
}

json FlyLogEntry(const std::string& line) {
  std::istringstream in(line);
  std::string time, source;
  in >> time >> source;
  std::string instance, region, level = "info", provider = source;
  if (source.rfind("app[", 0) == 0 && source.back() == ']') {
    instance = source.substr(4, source.size() - 5);
    provider = "app";
    in >> region;
    std::streampos before = in.tellg();
    std::string lvl;
    if (in >> lvl && lvl.size() > 2 && lvl.front() == '[' && lvl.back() == ']') level = lvl.substr(1, lvl.size() - 2);
    else in.seekg(before);
  }
  std::string message;
  std::getline(in, message);
  if (!message.empty() && message.front() == ' ') message.erase(0, 1);
  return {{"timestamp", time},
          {"message", message},
          {"level", level},
          {"instance", instance},
          {"region", region},
          {"source", provider},
          {"meta", {{"instance", instance}, {"region", region}, {"event", {{"provider", provider}}}}}};
}

std::optional<int64_t> ParseDurationSeconds(const std::string& s) {
  if (s.empty()) return std::nullopt;
  bool bare = true;
  for (char c : s) bare = bare && std::isdigit(static_cast<unsigned char>(c));
  if (bare) return s.size() > 9 ? std::nullopt : ParseDecimal<int64_t>(s);
  // Go's time.ParseDuration units that make sense for waits.
  int64_t ms = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i || j - i > 9) return std::nullopt;
    int64_t n = ParseDecimal<int64_t>(std::string_view(s).substr(i, j - i)).value();  // ≤ 9 digits
    size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
    std::string unit = s.substr(j, k - j);
    if (unit == "ms") ms += n;
    else if (unit == "s") ms += n * 1000;
    else if (unit == "m") ms += n * 60 * 1000;
    else if (unit == "h") ms += n * 3600 * 1000;
    else return std::nullopt;
    i = k;
  }
  return (ms + 999) / 1000;
}

std::optional<int64_t> ParseIsoTime(const std::string& iso) {
  if (iso.size() < 20 || (iso[19] != 'Z' && iso[19] != '.')) return std::nullopt;
  return ParseIsoSeconds(iso);
}

std::string RelativeTime(const std::string& iso, int64_t now_unix) {
  auto t = ParseIsoTime(iso);
  if (!t) return iso;
  int64_t d = now_unix - *t;
  if (d < 1) return "0s ago";
  if (d < 60) return std::to_string(d) + "s ago";
  if (d < 3600) return std::to_string(d / 60) + "m ago";
  if (d < 86400) {
    int64_t m = (d % 3600) / 60;
    return std::to_string(d / 3600) + "h" + (m ? std::to_string(m) + "m" : "") + " ago";
  }
  return std::to_string(d / 86400) + "d ago";
}

}  // namespace privcast::cli
