// The region table file → RegionTable. toml++ (the distro's shared build) throws: every call
// into it is wrapped here so nothing escapes.
#include "config/region_file.h"

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <toml++/toml.h>
#include <vector>

#include "common/file.h"
#include "common/ids.h"
#include "config/app_config.h"

namespace privcast::config {
namespace {

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}
  std::vector<Diagnostic> errors;

  std::shared_ptr<const RegionTable> Root(const toml::table& root) {
    std::map<std::string, Region> regions;
    for (auto&& [k, v] : root) {
      std::string key(k.str());
      if (key != "base" && key != "regions" && key != "distances")
        Err(k.source(), key, "unknown key (expected base, regions or distances)");
    }
    if (const toml::node* b = root.get("base")) {
      const auto* s = b->as_string();
      if (!s || (s->get() != "fly" && s->get() != "none")) {
        Err(b->source(), "base", "expected \"fly\" (Fly's built-in regions) or \"none\"");
      } else if (s->get() == "fly") {
        for (const Region& r : RegionTable::Default()->regions()) regions[r.code] = r;
      }
    }
    if (const toml::node* rs = root.get("regions")) {
      if (const auto* t = rs->as_table()) {
        for (auto&& [k, v] : *t) ReadRegion(std::string(k.str()), k.source(), v, &regions);
      } else {
        Err(rs->source(), "regions", "expected a table of regions ([regions.<code>])");
      }
    }
    if (regions.empty() && errors.empty())
      Err(root.source(), "", "no regions: add [regions.<code>] tables or base = \"fly\"");
    std::vector<RegionDistance> distances;
    if (const toml::node* ds = root.get("distances")) {
      if (const auto* arr = ds->as_array()) {
        std::set<std::pair<std::string, std::string>> seen;
        for (size_t i = 0; i < arr->size(); ++i) ReadDistance((*arr)[i], i, regions, &seen, &distances);
      } else {
        Err(ds->source(), "distances", "expected an array of tables ([[distances]])");
      }
    }
    std::vector<Region> list;
    list.reserve(regions.size());
    for (auto& [_, r] : regions) list.push_back(r);
    return std::make_shared<const RegionTable>(std::move(list), std::move(distances));
  }

 private:
  void Err(const toml::source_region& at, const std::string& path, std::string msg) {
    errors.push_back(Diagnostic{file_, SourcePos{static_cast<int>(at.begin.line), static_cast<int>(at.begin.column)},
                                path, std::move(msg)});
  }

  std::optional<double> Number(const toml::table& t, const std::string& key, const std::string& path, double lo,
                               double hi) {
    const toml::node* n = t.get(key);
    if (!n) {
      Err(t.source(), path, "missing key \"" + key + "\"");
      return std::nullopt;
    }
    std::optional<double> d;
    if (const auto* i = n->as_integer()) d = static_cast<double>(i->get());
    if (const auto* f = n->as_floating_point()) d = f->get();
    if (!d || !std::isfinite(*d) || *d < lo || *d > hi) {
      std::ostringstream range;
      range << lo << ".." << hi;
      Err(n->source(), path + "." + key, "expected a number in " + range.str());
      return std::nullopt;
    }
    return d;
  }

  void ReadRegion(const std::string& code, const toml::source_region& at, const toml::node& v,
                  std::map<std::string, Region>* regions) {
    std::string path = "regions." + code;
    declared_.insert(code);
    if (!ids::IsRegionCode(code)) {
      Err(at, path, "not a region code (3 lowercase letters, e.g. ams)");
      return;
    }
    const auto* t = v.as_table();
    if (!t) {
      Err(v.source(), path, "expected a table with latitude and longitude");
      return;
    }
    for (auto&& [k, _] : *t) {
      std::string key(k.str());
      if (key != "name" && key != "latitude" && key != "longitude")
        Err(k.source(), path + "." + key, "unknown key (expected name, latitude, longitude)");
    }
    Region r;
    r.code = code;
    if (const toml::node* n = t->get("name")) {
      if (const auto* s = n->as_string()) r.name = s->get();
      else Err(n->source(), path + ".name", "expected a string");
    }
    auto lat = Number(*t, "latitude", path, -90, 90);
    auto lon = Number(*t, "longitude", path, -180, 180);
    if (!lat || !lon) return;
    r.latitude = *lat;
    r.longitude = *lon;
    (*regions)[code] = r;
  }

  void ReadDistance(const toml::node& n, size_t i, const std::map<std::string, Region>& regions,
                    std::set<std::pair<std::string, std::string>>* seen, std::vector<RegionDistance>* out) {
    std::string path = "distances[" + std::to_string(i) + "]";
    const auto* t = n.as_table();
    if (!t) {
      Err(n.source(), path, "expected a table with between = [\"a\", \"b\"] and km");
      return;
    }
    for (auto&& [k, _] : *t) {
      std::string key(k.str());
      if (key != "between" && key != "km") Err(k.source(), path + "." + key, "unknown key (expected between, km)");
    }
    const toml::node* b = t->get("between");
    const auto* arr = b ? b->as_array() : nullptr;
    std::vector<std::string> codes;
    for (size_t j = 0; arr && arr->size() == 2 && j < 2; ++j)
      if (const auto* s = (*arr)[j].as_string()) codes.push_back(s->get());
    if (codes.size() != 2) {
      Err(b ? b->source() : t->source(), path + ".between", "expected two region codes, e.g. [\"ams\", \"syd\"]");
      return;
    }
    if (codes[0] == codes[1]) {
      Err(b->source(), path + ".between", "a region's distance to itself is 0");
      return;
    }
    bool usable = true;
    for (size_t j = 0; j < 2; ++j) {
      if (regions.count(codes[j])) continue;
      usable = false;
      // A region declared with errors has its own message; only a code never declared is one here.
      if (!declared_.count(codes[j]))
        Err((*arr)[j].source(), path + ".between", "unknown region \"" + codes[j] + "\" (not in the table)");
    }
    if (!usable) return;
    auto km = Number(*t, "km", path, 0, 1e6);
    if (!km) return;
    auto key = codes[0] < codes[1] ? std::make_pair(codes[0], codes[1]) : std::make_pair(codes[1], codes[0]);
    if (!seen->insert(key).second) {
      Err(b->source(), path + ".between", "a second distance for " + key.first + "-" + key.second);
      return;
    }
    out->push_back(RegionDistance{key.first, key.second, *km});
  }

  std::string file_;
  std::set<std::string> declared_;  // every [regions.X] of the file, valid or not
};

Status Refused(std::vector<Diagnostic> errors) {
  std::stable_sort(errors.begin(), errors.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.pos.line, a.pos.column) < std::tie(b.pos.line, b.pos.column);
  });
  std::string msg;
  for (const Diagnostic& d : errors) msg.append(msg.empty() ? "" : "\n").append(d.ToString());
  return InvalidArgument(msg);
}

Result<std::shared_ptr<const RegionTable>> ParseImpl(std::string_view text, const std::string& file) {
  if (text.size() > kMaxRegionFileBytes)
    return InvalidArgument(file + ": file is too large (" + std::to_string(text.size()) + " bytes; the limit is " +
                           std::to_string(kMaxRegionFileBytes) + ")");
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    std::string desc(e.description());
    std::replace(desc.begin(), desc.end(), '\n', ' ');
    SourcePos pos{static_cast<int>(e.source().begin.line), static_cast<int>(e.source().begin.column)};
    return Refused({Diagnostic{file, pos, "", "syntax error: " + desc}});
  }
  Loader loader(file);
  auto table = loader.Root(root);
  if (!loader.errors.empty()) return Refused(std::move(loader.errors));
  return table;
}

}  // namespace

Result<std::shared_ptr<const RegionTable>> ParseRegionFile(std::string_view text, std::string_view filename) {
  std::string file = filename.empty() ? std::string("regions.toml") : std::string(filename);
  try {
    return ParseImpl(text, file);
  } catch (const std::exception& e) {
    return Internal(file + ": cannot load: " + e.what());
  } catch (...) {
    return Internal(file + ": cannot load: unknown error");
  }
}

Result<std::shared_ptr<const RegionTable>> LoadRegionFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok() && text.status().code() == Code::kNotFound)
    return NotFound(path + ": cannot open the region table file");
  if (!text.ok()) return Status(Code::kIo, path + ": cannot read the region table file");
  return ParseRegionFile(*text, path);
}

}  // namespace privcast::config
