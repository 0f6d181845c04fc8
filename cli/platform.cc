// privcast platform regions [--from CODE] [--json]: CODE NAME LATITUDE LONGITUDE (and KM from
// CODE, nearest first); the table's explicit distances follow; its source (the store's table
// or Fly's built-in one) is the last line.
#include "cli/groups.h"

#include <cmath>
#include <cstdio>
#include <memory>

#include "cli/table.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

std::string Fixed(double d, int decimals) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, d);
  return buf;
}

}  // namespace

void RegisterPlatform(CLI::App& root, Context& ctx) {
  auto* platform = root.add_subcommand("platform", "The platform privcast runs on: its region table");
  platform->require_subcommand(1);
  struct State {
    std::string from;
    bool json_out = false;
  };
  auto st = std::make_shared<State>();
  auto* c = AddCommand(ctx, platform, "regions", "List the region table (codes, names, coordinates, distances)",
                       [&ctx, st] {
                         std::string target = "/v1/platform/regions";
                         if (!st->from.empty()) target += "?from=" + UrlEnc(st->from);
                         json t = CallJson(ctx, "GET", target);
                         if (st->json_out) return PrintJson(ctx, t), 0;
                         std::vector<Row> rows;
                         const bool km = !st->from.empty();
                         for (const json& r : t.value("regions", json::array())) {
                           Row row{r.value("code", ""), r.value("name", ""), Fixed(r.value("latitude", 0.0), 2),
                                   Fixed(r.value("longitude", 0.0), 2)};
                           if (km) row.push_back(Fixed(r.value("km", 0.0), 0));
                           rows.push_back(std::move(row));
                         }
                         Row header{"CODE", "NAME", "LATITUDE", "LONGITUDE"};
                         if (km) header.push_back("KM FROM " + st->from);
                         ctx.out << FormatTable(header, rows);
                         const json& ds = t.value("distances", json::array());
                         if (!ds.empty()) {
                           std::vector<Row> drows;
                           for (const json& d : ds)
                             drows.push_back({d.value("from", ""), d.value("to", ""), Fixed(d.value("km", 0.0), 0)});
                           ctx.out << "\nExplicit distances\n" << FormatTable({"FROM", "TO", "KM"}, drows);
                         }
                         ctx.out << "\nSource: "
                                 << (t.value("source", "") == "store" ? "the cluster's table (privcastd --regions)"
                                                                      : "built in (Fly's regions)")
                                 << "\n";
                         return 0;
                       });
  c->add_option("--from", st->from, "Show each region's distance from this one, nearest first");
  c->add_flag("--json", st->json_out, "JSON output");
}

}  // namespace privcast::cli
