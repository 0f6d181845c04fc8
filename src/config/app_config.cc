#include "config/app_config.h"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdint>

#include "common/ids.h"
#include "common/strings.h"

namespace privcast::config {

std::string Diagnostic::ToString() const {
  // Appended piece by piece: `":" + std::to_string(n)` builds temporaries whose inlined
  // copies GCC 12 at -O3 reports as overlapping (a false -Wrestrict, GCC bug 105651).
  std::string out = file;
  if (!file.empty() && pos.line > 0) {
    out.append(":").append(std::to_string(pos.line));
    out.append(":").append(std::to_string(pos.column));
  }
  if (!out.empty()) out.append(": ");
  if (!path.empty()) out.append(path).append(": ");
  out.append(message);
  return out;
}

SourcePos SourceMap::Find(const std::string& path) const {
  auto it = values.find(path);
  return it == values.end() ? SourcePos{} : it->second;
}

bool PortConfig::HasHandler(const std::string& h) const {
  return std::find(handlers.begin(), handlers.end(), h) != handlers.end();
}

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<int64_t> ParseDurationMs(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s == "0") return 0;
  // Accumulate nanoseconds in an __int128 and bound it, so any overflow is caught.
  constexpr __int128 kMaxNs = static_cast<__int128>(INT64_MAX);
  __int128 total_ns = 0;
  size_t i = 0;
  if (s[0] == '+') i = 1;
  if (i == s.size()) return std::nullopt;
  while (i < s.size()) {
    __int128 whole = 0;
    size_t digits = 0;
    while (i < s.size() && IsDigit(s[i])) {
      whole = whole * 10 + (s[i] - '0');
      if (whole > kMaxNs) return std::nullopt;
      ++i;
      ++digits;
    }
    __int128 frac = 0, frac_scale = 1;
    size_t frac_digits = 0;
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && IsDigit(s[i])) {
        if (frac_digits < 18) {
          frac = frac * 10 + (s[i] - '0');
          frac_scale *= 10;
        }
        ++i;
        ++frac_digits;
      }
    }
    if (digits == 0 && frac_digits == 0) return std::nullopt;
    size_t u = i;
    while (i < s.size() && !IsDigit(s[i]) && s[i] != '.') ++i;
    std::string_view unit = s.substr(u, i - u);
    __int128 unit_ns;
    if (unit == "ns") unit_ns = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") unit_ns = 1000;
    else if (unit == "ms") unit_ns = 1000000;
    else if (unit == "s") unit_ns = 1000000000LL;
    else if (unit == "m") unit_ns = 60LL * 1000000000LL;
    else if (unit == "h") unit_ns = 3600LL * 1000000000LL;
    else return std::nullopt;
    total_ns += whole * unit_ns + frac * unit_ns / frac_scale;
    if (total_ns > kMaxNs) return std::nullopt;
  }
  return static_cast<int64_t>(total_ns / 1000000);
}

std::string FormatDurationMs(int64_t ms) {
  if (ms == 0) return "0s";
  if (ms < 0 || ms % 1000 != 0) return std::to_string(ms) + "ms";
  int64_t sec = ms / 1000;
  std::string out;
  if (sec >= 3600) {
    out += std::to_string(sec / 3600) + "h";
    sec %= 3600;
  }
  if (sec >= 60) {
    out += std::to_string(sec / 60) + "m";
    sec %= 60;
  }
  if (sec > 0) out += std::to_string(sec) + "s";
  return out;
}

std::optional<uint64_t> ParseMemoryMb(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  size_t i = 0;
  uint64_t whole = 0;
  size_t digits = 0;
  while (i < s.size() && IsDigit(s[i])) {
    whole = whole * 10 + static_cast<uint64_t>(s[i] - '0');
    if (whole > (1ULL << 40)) return std::nullopt;
    ++i;
    ++digits;
  }
  uint64_t frac = 0, frac_scale = 1;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t fd = 0;
    while (i < s.size() && IsDigit(s[i])) {
      if (fd < 6) {
        frac = frac * 10 + static_cast<uint64_t>(s[i] - '0');
        frac_scale *= 10;
      }
      ++fd;
      ++i;
    }
    if (fd == 0) return std::nullopt;
  }
  if (digits == 0) return std::nullopt;
  std::string unit = Lower(s.substr(i));
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  uint64_t mult;
  if (unit.empty() || unit == "m" || unit == "mb" || unit == "mib") mult = 1;
  else if (unit == "g" || unit == "gb" || unit == "gib") mult = 1024;
  else return std::nullopt;
  uint64_t mb = whole * mult + frac * mult / frac_scale;
  return mb;
}

bool IsVolumeName(std::string_view s) { return ids::IsVolumeName(s); }

std::string CheckMountDestination(std::string_view dest) {
  if (dest.empty() || dest[0] != '/') return "must be an absolute path like \"/data\"";
  if (dest.find_first_not_of('/') == std::string_view::npos)
    return "cannot be \"/\": a volume is mounted on a directory of the root";
  if (dest.find('\0') != std::string_view::npos) return "contains a NUL byte";
  size_t i = 0;
  bool first = true;
  while (i < dest.size()) {
    size_t j = dest.find('/', i);
    if (j == std::string_view::npos) j = dest.size();
    std::string_view part = dest.substr(i, j - i);
    if (part == "." || part == "..") return "cannot contain \".\" or \"..\"";
    if (first && !part.empty()) {
      if (part == "proc" || part == "sys" || part == "dev")
        return "cannot be under /" + std::string(part) + " (the kernel's file systems are mounted there)";
      if (part == ".privcast-init") return "cannot be privcast-init";
      first = false;
    }
    i = j + 1;
  }
  return "";
}

const char* AutoStopName(AutoStop a) {
  switch (a) {
    case AutoStop::kOff:
      return "off";
    case AutoStop::kStop:
      return "stop";
    case AutoStop::kSuspend:
      return "suspend";
  }
  return "off";
}

const char* ConcurrencyTypeName(ConcurrencyType t) {
  return t == ConcurrencyType::kRequests ? "requests" : "connections";
}

const char* RestartPolicyName(RestartPolicy p) {
  switch (p) {
    case RestartPolicy::kAlways:
      return "always";
    case RestartPolicy::kNever:
      return "never";
    case RestartPolicy::kOnFailure:
      return "on-failure";
  }
  return "on-failure";
}

const char* CheckTypeName(CheckType t) { return t == CheckType::kHttp ? "http" : "tcp"; }

}  // namespace privcast::config
