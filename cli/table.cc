#include "cli/table.h"

#include <algorithm>

namespace privcast::cli {
namespace {

// Display width: count UTF-8 code points, not bytes (addresses and ids are ASCII anyway).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

}  // namespace

std::string FormatTable(const Row& header, const std::vector<Row>& rows) {
  size_t cols = header.size();
  std::vector<size_t> w(cols, 0);
  for (size_t i = 0; i < cols; ++i) w[i] = Width(header[i]);
  for (auto& r : rows)
    for (size_t i = 0; i < cols && i < r.size(); ++i) w[i] = std::max(w[i], Width(r[i]));
  auto line = [&](const Row& r) {
    std::string out;
    for (size_t i = 0; i < cols; ++i) {
      std::string cell = i < r.size() ? r[i] : "";
      out += cell;
      if (i + 1 < cols) out += std::string(w[i] - Width(cell) + 3, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header);
  for (auto& r : rows) out += line(r);
  return out;
}

std::string FormatKeyValues(const std::vector<std::pair<std::string, std::string>>& kvs) {
  size_t w = 0;
  for (auto& [k, v] : kvs) w = std::max(w, Width(k));
  std::string out;
  for (auto& [k, v] : kvs) out.append("  ").append(k).append(w - Width(k), ' ').append(" = ").append(v).append("\n");
  return out;
}

}  // namespace privcast::cli
