// RegionTable: the region codes a privcast deployment knows, with coordinates and optional
// explicit distances, for "nearest region first" (the proxy's tiers, DNS's
// top<N>.nearest.of.<app>.internal and the order of every machine set DNS returns).
//
// The distance between two regions is the explicit one when the table has it for that pair
// (symmetric), else the great-circle distance between their coordinates. Unknown codes are
// far from everything (kUnknownKm), 0 from themselves. Default() is Fly's region codes with
// their airports' coordinates (ADR 0018); an operator replaces it with `privcastd --regions
// FILE` (config/region_file.h), and in a cluster every host reads the one table in the store.
//
// Immutable once built; shared as std::shared_ptr<const RegionTable> (the routing Snapshot
// holds one). All methods are const and thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace privcast {

struct Region {
  std::string code;  // 3 lowercase letters
  std::string name;  // for people ("Amsterdam, Netherlands"); may be empty
  double latitude = 0, longitude = 0;
  bool operator==(const Region&) const = default;
};

struct RegionDistance {
  std::string from, to;  // from < to (normalised by the constructor)
  double km = 0;
  bool operator==(const RegionDistance&) const = default;
};

class RegionTable {
 public:
  static constexpr double kUnknownKm = 1e9;

  // Regions sorted by code; distances normalised (from < to) and sorted. The caller has
  // validated them (codes unique, known, coordinates in range: config/region_file.h does).
  RegionTable(std::vector<Region> regions, std::vector<RegionDistance> distances);

  // Fly's regions (built in); one shared instance.
  static std::shared_ptr<const RegionTable> Default();

  [[nodiscard]] double DistanceKm(std::string_view a, std::string_view b) const;
  [[nodiscard]] const Region* Find(std::string_view code) const;
  const std::vector<Region>& regions() const { return regions_; }
  const std::vector<RegionDistance>& distances() const { return distances_; }
  bool operator==(const RegionTable& o) const { return regions_ == o.regions_ && distances_ == o.distances_; }

 private:
  std::vector<Region> regions_;
  std::vector<RegionDistance> distances_;
  std::map<std::pair<std::string, std::string>, double, std::less<>> explicit_;
};

// Great-circle distance in km between two points given in degrees.
[[nodiscard]] double GreatCircleKm(double lat1, double lon1, double lat2, double lon2);

}  // namespace privcast
