#include "cli/rows.h"

#include <cstdio>
#include <ctime>

#include "cli/json_fields.h"
#include "cli/json_shapes.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

std::string TypeName(const std::string& t) { return t == "private_v6" ? "private" : t; }

// CREATED AT relative like flyctl's table ("2m ago"); --json keeps the absolute time.
Row IpRow(const json& ip) {
  return {Dash(S(ip, "version")),
          S(ip, "ip"),
          TypeName(S(ip, "type")),
          Dash(S(ip, "network")),
          Dash(S(ip, "org")),
          Dash(S(ip, "region")),
          Dash(RelativeTime(S(ip, "created_at"), std::time(nullptr))),
          Dash(S(ip, "service"))};
}
const Row kIpHeader = {"VERSION", "IP", "TYPE", "NETWORK", "ORG", "REGION", "CREATED AT", "SERVICE"};

}  // namespace

std::string IpTable(const std::vector<json>& ips) {
  bool any_service = false;
  for (const json& ip : ips) any_service |= !S(ip, "service").empty();
  Row header = kIpHeader;
  std::vector<Row> rows;
  for (const json& ip : ips) {
    rows.push_back(IpRow(ip));
    if (!any_service) rows.back().pop_back();
  }
  if (!any_service) header.pop_back();
  return FormatTable(header, rows);
}

const Row kMachineHeader = {"ID",         "STATE",   "REGION",  "HOST",        "PROCESS GROUP",
                            "IP ADDRESS", "RELEASE", "CREATED", "LAST UPDATED"};

std::string HostOf(const json& m) {
  int64_t h = I(m, "host_id");
  if (h <= 0) return "-";
  char buf[32];
  snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(h));
  return buf;
}

Row MachineRow(const json& m) {
  int64_t v = I(m, "release_version");
  return {S(m, "id"),
          S(m, "state"),
          Dash(S(m, "region")),
          HostOf(m),
          Dash(S(m, "process_group")),
          Dash(S(m, "private_ip")),
          v > 0 ? "v" + std::to_string(v) : "-",
          Dash(S(m, "created_at")),
          Dash(S(m, "updated_at"))};
}

}  // namespace privcast::cli
