#include "cli/flytoml.h"

#include <algorithm>
#include <sstream>

#include "common/file.h"
#include "common/strings.h"

namespace privcast::cli {
namespace {

// Blanks of a TOML line (CR: files written on Windows).
std::string_view TrimLine(std::string_view s) { return Trim(s, " \t\r"); }

}  // namespace

std::optional<std::string> AppFromFlyTomlText(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = TrimLine(text.substr(pos, eol - pos));
    pos = eol + 1;
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '[') return std::nullopt;  // tables start: no top-level app
    std::string_view key = line;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    key = TrimLine(line.substr(0, eq));
    if (key != "app" && key != "\"app\"" && key != "'app'") continue;
    std::string_view v = TrimLine(line.substr(eq + 1));
    if (v.size() < 2) return std::nullopt;
    char q = v.front();
    if (q != '"' && q != '\'') return std::nullopt;
    size_t end = v.find(q, 1);
    if (end == std::string_view::npos) return std::nullopt;
    std::string app(v.substr(1, end - 1));
    if (app.empty()) return std::nullopt;
    return app;
  }
  return std::nullopt;
}

Result<std::string> ReadFlyToml(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok() && text.status().code() == Code::kNotFound) return NotFound(path + " not found");
  return text;
}

Result<std::string> ResolveApp(const std::string& flag_app, const std::string& config_path) {
  if (!flag_app.empty()) return flag_app;
  std::string path = config_path.empty() ? "fly.toml" : config_path;
  auto text = ReadFlyToml(path);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound && config_path.empty())
      return InvalidArgument("no app given: pass -a APP, or run in a folder whose fly.toml sets app (or -c FILE)");
    return InvalidArgument(text.status().message() + ": pass -a APP, or -c with a fly.toml that sets app");
  }
  auto app = AppFromFlyTomlText(*text);
  if (!app) return InvalidArgument(path + " does not set app = \"...\": pass -a APP or add it to the file");
  return *app;
}

std::string SetTopLevelKey(const std::string& toml, const std::string& key, const std::string& value) {
  std::string quoted = "\"";
  for (char ch : value) {
    if (ch == '"' || ch == '\\') quoted += '\\';
    quoted += ch;
  }
  quoted += "\"";
  const std::string assignment = key + " = " + quoted + "\n";
  std::istringstream in(toml);
  std::string out, line;
  bool done = false, in_table = false;
  while (std::getline(in, line)) {
    std::string t = line.substr(std::min(line.find_first_not_of(" \t"), line.size()));
    bool table = !t.empty() && t[0] == '[';
    if (table && !done && !in_table) {
      out += assignment;  // the key was not there: before the first table
      done = true;
    }
    in_table = in_table || table;
    if (!done && !in_table && t.rfind(key, 0) == 0) {
      std::string r = t.substr(key.size());
      r = r.substr(std::min(r.find_first_not_of(" \t"), r.size()));
      if (!r.empty() && r[0] == '=') {
        out += assignment;
        done = true;
        continue;
      }
    }
    out += line + "\n";
  }
  if (!done) out += assignment;
  return out;
}

}  // namespace privcast::cli
