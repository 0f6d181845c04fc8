// Region distances for "nearest region first" (top<N>.nearest.of.<app>.internal and the
// order of every machine set the DNS server returns).
//
// A fixed table of Fly's region codes with their airport coordinates; the distance between
// two regions is the great-circle distance. Unknown codes sort after every known one (by
// name). Pure functions; thread-safe.
#pragma once

#include <string_view>

namespace privcast::dns {

// Great-circle distance in km between two known region codes; a large constant when one is
// unknown (and 0 for equal codes, known or not).
double RegionDistanceKm(std::string_view a, std::string_view b);

}  // namespace privcast::dns
