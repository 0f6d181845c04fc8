// Structured logging to stderr: one line per event, logfmt style:
//   ts=2026-11-22T03:10:00.123Z level=info comp=proxy msg="machine started" app=web ms=3.1
//
// Thread-safe: each line is formatted in a local buffer and written with one write(2), so
// lines from different threads never interleave. Cheap enough for control paths; the data
// path logs only rare events (refusals, errors), never per request.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace privcast::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, int64_t v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, int v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, unsigned v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, uint64_t v) : key(k), value(std::to_string(v)) {}
  Field(std::string_view k, double v);
  std::string_view key;
  std::string value;
};

void SetMinLevel(Level l);
Level MinLevel();
// Format one logfmt line (no trailing newline). Exposed for tests.
std::string Format(Level l, std::string_view comp, std::string_view msg, std::initializer_list<Field> fields);
void Write(Level l, std::string_view comp, std::string_view msg, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  if (MinLevel() <= Level::kDebug) Write(Level::kDebug, c, m, f);
}
inline void Info(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, c, m, f);
}
inline void Warn(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, c, m, f);
}
inline void Error(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, c, m, f);
}

}  // namespace privcast::log
