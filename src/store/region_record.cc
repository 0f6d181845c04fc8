#include "store/region_record.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "common/ids.h"

namespace privcast::store {

std::string EncodeRegionTable(const RegionTable& t) {
  nlohmann::json j = {{"regions", nlohmann::json::array()}, {"distances", nlohmann::json::array()}};
  for (const Region& r : t.regions())
    j["regions"].push_back({{"code", r.code}, {"name", r.name}, {"latitude", r.latitude}, {"longitude", r.longitude}});
  for (const RegionDistance& d : t.distances())
    j["distances"].push_back({{"from", d.from}, {"to", d.to}, {"km", d.km}});
  return j.dump();
}

Result<std::shared_ptr<const RegionTable>> DecodeRegionTable(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [](const std::string& why) { return InvalidArgument(std::string(kRegionTableKey) + ": " + why); };
  if (!j.is_object() || !j.contains("regions") || !j["regions"].is_array()) return bad("not a region table");
  auto num = [](const nlohmann::json& o, const char* k, double lo, double hi) -> std::optional<double> {
    if (!o.contains(k) || !o[k].is_number()) return std::nullopt;
    double d = o[k].get<double>();
    if (!std::isfinite(d) || d < lo || d > hi) return std::nullopt;
    return d;
  };
  auto str = [](const nlohmann::json& o, const char* k) -> std::string {
    return o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : std::string();
  };
  std::vector<Region> regions;
  for (const auto& r : j["regions"]) {
    if (!r.is_object()) return bad("a region is not an object");
    Region x;
    x.code = str(r, "code");
    x.name = str(r, "name");
    auto lat = num(r, "latitude", -90, 90), lon = num(r, "longitude", -180, 180);
    if (!ids::IsRegionCode(x.code) || !lat || !lon) return bad("region \"" + x.code + "\" is not valid");
    x.latitude = *lat;
    x.longitude = *lon;
    regions.push_back(std::move(x));
  }
  std::vector<RegionDistance> distances;
  if (j.contains("distances")) {
    if (!j["distances"].is_array()) return bad("distances is not an array");
    for (const auto& d : j["distances"]) {
      if (!d.is_object()) return bad("a distance is not an object");
      auto km = num(d, "km", 0, 1e6);
      RegionDistance x{str(d, "from"), str(d, "to"), km.value_or(0)};
      if (!ids::IsRegionCode(x.from) || !ids::IsRegionCode(x.to) || !km)
        return bad("distance " + x.from + "-" + x.to + " is not valid");
      distances.push_back(std::move(x));
    }
  }
  return std::make_shared<const RegionTable>(std::move(regions), std::move(distances));
}

}  // namespace privcast::store
