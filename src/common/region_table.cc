#include "common/region_table.h"

#include <algorithm>
#include <cmath>

namespace privcast {
namespace {

// Fly.io's region codes, named by city, at their airports' coordinates.
std::vector<Region> FlyRegions() {
  return {
      {"ams", "Amsterdam, Netherlands", 52.31, 4.76},
      {"arn", "Stockholm, Sweden", 59.65, 17.92},
      {"atl", "Atlanta, Georgia (US)", 33.64, -84.43},
      {"bog", "Bogotá, Colombia", 4.70, -74.15},
      {"bom", "Mumbai, India", 19.09, 72.87},
      {"bos", "Boston, Massachusetts (US)", 42.36, -71.01},
      {"cdg", "Paris, France", 49.01, 2.55},
      {"den", "Denver, Colorado (US)", 39.86, -104.67},
      {"dfw", "Dallas, Texas (US)", 32.90, -97.04},
      {"ewr", "Secaucus, NJ (US)", 40.69, -74.17},
      {"eze", "Ezeiza, Argentina", -34.82, -58.54},
      {"fra", "Frankfurt, Germany", 50.03, 8.57},
      {"gdl", "Guadalajara, Mexico", 20.52, -103.31},
      {"gig", "Rio de Janeiro, Brazil", -22.81, -43.25},
      {"gru", "Sao Paulo, Brazil", -23.43, -46.47},
      {"hkg", "Hong Kong, Hong Kong", 22.31, 113.91},
      {"iad", "Ashburn, Virginia (US)", 38.94, -77.46},
      {"jnb", "Johannesburg, South Africa", -26.14, 28.24},
      {"lax", "Los Angeles, California (US)", 33.94, -118.41},
      {"lhr", "London, United Kingdom", 51.47, -0.45},
      {"mad", "Madrid, Spain", 40.47, -3.56},
      {"mia", "Miami, Florida (US)", 25.79, -80.29},
      {"nrt", "Tokyo, Japan", 35.76, 140.39},
      {"ord", "Chicago, Illinois (US)", 41.97, -87.91},
      {"otp", "Bucharest, Romania", 44.57, 26.08},
      {"phx", "Phoenix, Arizona (US)", 33.43, -112.01},
      {"qro", "Querétaro, Mexico", 20.62, -100.19},
      {"scl", "Santiago, Chile", -33.39, -70.79},
      {"sea", "Seattle, Washington (US)", 47.45, -122.31},
      {"sin", "Singapore, Singapore", 1.36, 103.99},
      {"sjc", "San Jose, California (US)", 37.36, -121.93},
      {"syd", "Sydney, Australia", -33.94, 151.18},
      {"waw", "Warsaw, Poland", 52.17, 20.97},
      {"yul", "Montreal, Canada", 45.47, -73.74},
      {"yyz", "Toronto, Canada", 43.68, -79.63},
  };
}

}  // namespace

double GreatCircleKm(double lat1, double lon1, double lat2, double lon2) {
  constexpr double kRad = 3.14159265358979323846 / 180.0;
  double dlat = (lat2 - lat1) * kRad, dlon = (lon2 - lon1) * kRad;
  double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
             std::cos(lat1 * kRad) * std::cos(lat2 * kRad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * 6371.0 * std::asin(std::sqrt(std::min(1.0, h)));
}

RegionTable::RegionTable(std::vector<Region> regions, std::vector<RegionDistance> distances)
    : regions_(std::move(regions)), distances_(std::move(distances)) {
  std::sort(regions_.begin(), regions_.end(), [](const Region& a, const Region& b) { return a.code < b.code; });
  for (auto& d : distances_)
    if (d.to < d.from) std::swap(d.from, d.to);
  std::sort(distances_.begin(), distances_.end(), [](const RegionDistance& a, const RegionDistance& b) {
    return std::tie(a.from, a.to) < std::tie(b.from, b.to);
  });
  for (const auto& d : distances_) explicit_[{d.from, d.to}] = d.km;
}

std::shared_ptr<const RegionTable> RegionTable::Default() {
  static const std::shared_ptr<const RegionTable> table =
      std::make_shared<const RegionTable>(FlyRegions(), std::vector<RegionDistance>{});
  return table;
}

const Region* RegionTable::Find(std::string_view code) const {
  auto it = std::lower_bound(regions_.begin(), regions_.end(), code,
                             [](const Region& r, std::string_view c) { return r.code < c; });
  return it != regions_.end() && it->code == code ? &*it : nullptr;
}

double RegionTable::DistanceKm(std::string_view a, std::string_view b) const {
  if (a == b) return 0;
  const Region* x = Find(a);
  const Region* y = Find(b);
  if (!x || !y) return kUnknownKm;
  if (!explicit_.empty()) {
    auto key = x->code < y->code ? std::make_pair(x->code, y->code) : std::make_pair(y->code, x->code);
    auto it = explicit_.find(key);
    if (it != explicit_.end()) return it->second;
  }
  return GreatCircleKm(x->latitude, x->longitude, y->latitude, y->longitude);
}

}  // namespace privcast
