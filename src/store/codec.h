// JSON encoding of the model's records (model.h) as the Registry stores them.
//
// Encode never fails. Decode takes untrusted bytes (a record written by another version, or
// a damaged file) and answers with a Status naming the record and the field; it never throws.
// Missing fields take their defaults (so a newer field can be added without a migration); a
// field of the wrong type or an out-of-range number is an error. Machine::mod_revision is not
// part of the record: the Registry fills it from the key's revision.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "store/model.h"

namespace privcast::store {

// A released flycast address waiting out its cooldown (/released/<net32>/<n>).
struct ReleasedAddress {
  std::string address;
  uint32_t net32 = 0;
  uint32_t n = 0;
  std::string app;          // the app that held it (for operators reading the store)
  int64_t released_at = 0;  // unix ms (Clock::WallUnixMillis), persisted across restarts
};

// Named Record* (not ToJson) so they never collide, through argument-dependent lookup, with
// another module's own ToJson(const store::X&) for its wire format.
nlohmann::json RecordToJson(const Host& v);
nlohmann::json RecordToJson(const Org& v);
nlohmann::json RecordToJson(const Network& v);
nlohmann::json RecordToJson(const App& v);
nlohmann::json RecordToJson(const Machine& v);
nlohmann::json RecordToJson(const IpAssignment& v);
nlohmann::json RecordToJson(const Release& v);
nlohmann::json RecordToJson(const ReleasedAddress& v);
nlohmann::json RecordToJson(const Volume& v);
nlohmann::json RecordToJson(const Secret& v);

Status RecordFromJson(const nlohmann::json& j, Host* out);
Status RecordFromJson(const nlohmann::json& j, Org* out);
Status RecordFromJson(const nlohmann::json& j, Network* out);
Status RecordFromJson(const nlohmann::json& j, App* out);
Status RecordFromJson(const nlohmann::json& j, Machine* out);
Status RecordFromJson(const nlohmann::json& j, IpAssignment* out);
Status RecordFromJson(const nlohmann::json& j, Release* out);
Status RecordFromJson(const nlohmann::json& j, ReleasedAddress* out);
Status RecordFromJson(const nlohmann::json& j, Volume* out);
Status RecordFromJson(const nlohmann::json& j, Secret* out);

template <typename T>
std::string Encode(const T& v) {
  // Invalid UTF-8 (e.g. in a user's env value) is replaced, never thrown.
  return RecordToJson(v).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Parses text and decodes it into *out. Errors are kInvalidArgument.
template <typename T>
Status Decode(std::string_view text, T* out) {
  nlohmann::json j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("record is not valid JSON");
  *out = T{};
  return RecordFromJson(j, out);
}

}  // namespace privcast::store
