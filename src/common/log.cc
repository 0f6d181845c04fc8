#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace privcast::log {
namespace {
std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool NeedsQuote(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v)
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return true;
  return false;
}

void AppendValue(std::string& out, std::string_view v) {
  if (!NeedsQuote(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out.push_back('?');
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}
}  // namespace

Field::Field(std::string_view k, double v) : key(k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  value = buf;
}

void SetMinLevel(Level l) { g_min_level.store(static_cast<int>(l), std::memory_order_relaxed); }
Level MinLevel() { return static_cast<Level>(g_min_level.load(std::memory_order_relaxed)); }

std::string Format(Level l, std::string_view comp, std::string_view msg, std::initializer_list<Field> fields) {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[96];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ms));
  std::string out;
  out.reserve(128);
  out.append("ts=").append(ts).append(" level=").append(LevelName(l)).append(" comp=");
  AppendValue(out, comp);
  out.append(" msg=");
  AppendValue(out, msg);
  for (const auto& f : fields) {
    out.push_back(' ');
    out.append(f.key).push_back('=');
    AppendValue(out, f.value);
  }
  return out;
}

void Write(Level l, std::string_view comp, std::string_view msg, std::initializer_list<Field> fields) {
  if (static_cast<int>(l) < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line = Format(l, comp, msg, fields);
  line.push_back('\n');
  ssize_t r = ::write(STDERR_FILENO, line.data(), line.size());
  (void)r;
}

}  // namespace privcast::log
