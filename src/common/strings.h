// Small string helpers shared by every module (one copy each, ASCII only).
//
// Case mapping is ASCII and locale-independent on purpose: what it is used for (DNS names,
// HTTP header names and tokens, signal names, command names) is ASCII by protocol, and the
// answer must not depend on the process locale.
//
// Pure functions; thread-safe. Trim returns a view into its argument (no copy): the caller
// keeps the argument alive while using the result.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace privcast {

// Optional whitespace of HTTP (RFC 9110 §5.6.3): space and horizontal tab.
inline constexpr std::string_view kOws = " \t";

[[nodiscard]] std::string Lower(std::string_view s);  // ASCII A-Z → a-z, other bytes as they are
[[nodiscard]] std::string Upper(std::string_view s);  // ASCII a-z → A-Z, other bytes as they are

// `s` without leading and trailing characters from `chars` (default: kOws).
[[nodiscard]] constexpr std::string_view Trim(std::string_view s, std::string_view chars = kOws) {
  size_t b = s.find_first_not_of(chars);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(chars);
  return s.substr(b, e - b + 1);
}

// The integer `s` spells in decimal, the whole of it: nullopt when empty, when anything but
// digits (and a leading '-' for signed T) is there, or when the value does not fit T. No
// whitespace, no '+', no exceptions (std::from_chars).
// The one way privcast reads a number from text (no atoi/strtol/sscanf/stoi: they accept
// junk, wrap or throw). ParseInteger takes the base (16: hex digits, no "0x").
template <typename T>
[[nodiscard]] std::optional<T> ParseInteger(std::string_view s, int base) {
  T v{};
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v, base);
  if (ec != std::errc() || p != end || s.empty()) return std::nullopt;
  return v;
}
template <typename T>
[[nodiscard]] std::optional<T> ParseDecimal(std::string_view s) {
  return ParseInteger<T>(s, 10);
}

// "YYYY-MM-DDTHH:MM:SS" at the start of `s` (RFC 3339 as privcast writes it, UTC): seconds
// since the Unix epoch, nullopt when the digits or separators are not there or a field is out
// of range. What follows (fraction, 'Z') is the caller's.
[[nodiscard]] std::optional<int64_t> ParseIsoSeconds(std::string_view s);

// 64-bit FNV-1a of the bytes of `s`: the same value on every build, machine and run (unlike
// std::hash), so it may name things that outlive the process (the daemon's cgroup root).
[[nodiscard]] constexpr uint64_t Fnv1a64(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

}  // namespace privcast
