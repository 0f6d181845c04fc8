#include "cli/json_fields.h"

namespace privcast::cli {

using nlohmann::json;

std::string S(const json& j, const char* k) {
  if (!j.is_object()) return "";
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_boolean()) return it->get<bool>() ? "true" : "false";
  return it->dump();
}

int64_t I(const json& j, const char* k) {
  if (!j.is_object()) return 0;
  auto it = j.find(k);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

const json& Arr(const json& j, const char* k) {
  static const json kEmpty = json::array();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(k);
  return it != j.end() && it->is_array() ? *it : kEmpty;
}

const json& AsArray(const json& j) {
  static const json kEmpty = json::array();
  return j.is_array() ? j : kEmpty;
}

json MapArray(const json& a, json (*f)(const json&)) {
  json out = json::array();
  for (auto& x : AsArray(a)) out.push_back(f(x));
  return out;
}

std::string Dash(const std::string& s) { return s.empty() ? "-" : s; }

}  // namespace privcast::cli
