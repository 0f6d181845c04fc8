#include "api/route_table.h"

#include <cstring>

namespace privcast::api {
namespace {

// Whether `pattern` matches `parts`; fills *params with its {params} when it does.
bool Matches(std::string_view pattern, const std::vector<std::string>& parts, std::vector<std::string>* params) {
  params->clear();
  size_t i = 0;
  while (!pattern.empty()) {
    if (pattern.front() != '/') return false;
    pattern.remove_prefix(1);
    size_t end = pattern.find('/');
    std::string_view seg = pattern.substr(0, end);
    pattern.remove_prefix(end == std::string_view::npos ? pattern.size() : end);
    if (i >= parts.size()) return false;
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') params->push_back(parts[i]);
    else if (seg != parts[i]) return false;
    ++i;
  }
  return i == parts.size();
}

}  // namespace

RouteMatch MatchRoute(const std::vector<Route>& table, std::string_view method, const std::vector<std::string>& parts) {
  RouteMatch m;
  std::vector<std::string> params;
  const char* pattern = nullptr;  // the first pattern that matches the path
  for (const Route& r : table) {
    if (!pattern) {
      if (!Matches(r.pattern, parts, &params)) continue;
      pattern = r.pattern;
    } else if (std::strcmp(r.pattern, pattern) != 0) {
      continue;
    }
    if (method == r.method) {
      m.kind = RouteMatch::kFound;
      m.route = &r;
      m.params = std::move(params);
      return m;
    }
    m.allow += std::string(m.allow.empty() ? "" : ", ") + r.method;
  }
  if (pattern) m.kind = RouteMatch::kMethodNotAllowed;
  return m;
}

}  // namespace privcast::api
