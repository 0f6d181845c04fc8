#include "dns/regions.h"

#include <cmath>

namespace privcast::dns {
namespace {

struct RegionCoord {
  const char* code;
  double lat, lon;
};

// Fly.io regions (airport coordinates).
constexpr RegionCoord kRegions[] = {
    {"ams", 52.31, 4.76},   {"arn", 59.65, 17.92},  {"atl", 33.64, -84.43}, {"bog", 4.70, -74.15},
    {"bom", 19.09, 72.87},  {"bos", 42.36, -71.01}, {"cdg", 49.01, 2.55},   {"den", 39.86, -104.67},
    {"dfw", 32.90, -97.04}, {"ewr", 40.69, -74.17}, {"eze", -34.82, -58.54}, {"fra", 50.03, 8.57},
    {"gdl", 20.52, -103.31}, {"gig", -22.81, -43.25}, {"gru", -23.43, -46.47}, {"hkg", 22.31, 113.91},
    {"iad", 38.94, -77.46}, {"jnb", -26.14, 28.24}, {"lax", 33.94, -118.41}, {"lhr", 51.47, -0.45},
    {"mad", 40.47, -3.56},  {"mia", 25.79, -80.29}, {"nrt", 35.76, 140.39}, {"ord", 41.97, -87.91},
    {"otp", 44.57, 26.08},  {"phx", 33.43, -112.01}, {"qro", 20.62, -100.19}, {"scl", -33.39, -70.79},
    {"sea", 47.45, -122.31}, {"sin", 1.36, 103.99}, {"sjc", 37.36, -121.93}, {"syd", -33.94, 151.18},
    {"waw", 52.17, 20.97},  {"yul", 45.47, -73.74}, {"yyz", 43.68, -79.63},
};

const RegionCoord* Find(std::string_view code) {
  for (const auto& r : kRegions)
    if (code == r.code) return &r;
  return nullptr;
}

}  // namespace

double RegionDistanceKm(std::string_view a, std::string_view b) {
  if (a == b) return 0;
  const RegionCoord* x = Find(a);
  const RegionCoord* y = Find(b);
  if (!x || !y) return 1e9;
  constexpr double kRad = 3.14159265358979323846 / 180.0;
  double dlat = (y->lat - x->lat) * kRad, dlon = (y->lon - x->lon) * kRad;
  double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
             std::cos(x->lat * kRad) * std::cos(y->lat * kRad) * std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * 6371.0 * std::asin(std::sqrt(h));
}

}  // namespace privcast::dns
