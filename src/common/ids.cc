#include "common/ids.h"

#include <sys/random.h>

#include <chrono>
#include <cstdint>

namespace privcast::ids {

uint64_t RandomU64() {
  uint64_t v = 0;
  while (getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
  }
  return v;
}

std::string NewMachineId() {
  static const char kHex[] = "0123456789abcdef";
  uint64_t r = RandomU64();
  std::string id(14, '0');
  for (int i = 0; i < 14; ++i) id[i] = kHex[(r >> (4 * i)) & 0xf];
  return id;
}

std::string NewVolumeId() {
  static const char kAlnum[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string id = "vol_";
  uint64_t a = RandomU64(), b = RandomU64();
  for (int i = 0; i < 16; ++i) {
    uint64_t& r = i < 8 ? a : b;
    id += kAlnum[r % 36];
    r /= 36;
  }
  return id;
}

bool IsVolumeId(std::string_view s) {
  if (s.size() != 20 || s.substr(0, 4) != "vol_") return false;
  for (char c : s.substr(4))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return false;
  return true;
}

bool IsVolumeName(std::string_view s) {
  if (s.empty() || s.size() > 30) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

bool IsMachineId(std::string_view s) {
  if (s.size() != 14) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string NewRequestId() {
  static const char kAlpha[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";  // Crockford base32
  uint64_t ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  std::string id(26, '0');
  for (int i = 9; i >= 0; --i) {
    id[i] = kAlpha[ms & 31];
    ms >>= 5;
  }
  uint64_t a = RandomU64(), b = RandomU64();
  for (int i = 10; i < 26; ++i) {
    uint64_t& src = i < 18 ? a : b;
    id[i] = kAlpha[src & 31];
    src >>= 5;
  }
  return id;
}

bool IsDnsLabel(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

bool IsRegionCode(std::string_view s) {
  if (s.size() != 3) return false;
  for (char c : s)
    if (c < 'a' || c > 'z') return false;
  return true;
}

}  // namespace privcast::ids
