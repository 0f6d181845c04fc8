#include "common/strings.h"

#include <ctime>

namespace privcast {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::optional<int64_t> ParseIsoSeconds(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS: digits at fixed places, separators between.
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return std::nullopt;
  auto y = ParseDecimal<unsigned>(s.substr(0, 4)), mo = ParseDecimal<unsigned>(s.substr(5, 2)),
       d = ParseDecimal<unsigned>(s.substr(8, 2)), h = ParseDecimal<unsigned>(s.substr(11, 2)),
       mi = ParseDecimal<unsigned>(s.substr(14, 2)), se = ParseDecimal<unsigned>(s.substr(17, 2));
  if (!y || !mo || !d || !h || !mi || !se) return std::nullopt;
  if (*mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = static_cast<int>(*y) - 1900;
  tm.tm_mon = static_cast<int>(*mo) - 1;
  tm.tm_mday = static_cast<int>(*d);
  tm.tm_hour = static_cast<int>(*h);
  tm.tm_min = static_cast<int>(*mi);
  tm.tm_sec = static_cast<int>(*se);
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace privcast
