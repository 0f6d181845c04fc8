// Reading the daemon's JSON answers without trusting their shape: a missing, null or
// mistyped field reads as empty, so the CLI never crashes on an older or newer daemon.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace privcast::cli {

// Field `k` as text: a string as is, a bool as "true"/"false", another value as its JSON;
// "" when `j` is not an object or the field is missing or null.
std::string S(const nlohmann::json& j, const char* k);
// Field `k` when it is an integer, else 0.
int64_t I(const nlohmann::json& j, const char* k);
// Field `k` when it is an array, else an empty one (a static: valid for the program).
const nlohmann::json& Arr(const nlohmann::json& j, const char* k);
// `j` when it is an array, else an empty one.
const nlohmann::json& AsArray(const nlohmann::json& j);
// f applied to each element of AsArray(a).
nlohmann::json MapArray(const nlohmann::json& a, nlohmann::json (*f)(const nlohmann::json&));
// A table cell: "-" for an empty value.
std::string Dash(const std::string& s);

}  // namespace privcast::cli
