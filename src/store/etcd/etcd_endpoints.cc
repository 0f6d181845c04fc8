#include "store/etcd/etcd_endpoints.h"

#include <arpa/inet.h>

#include <charconv>

namespace privcast::store {

std::string EtcdEndpoint::Target() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string DescribeEndpoints(const std::vector<EtcdEndpoint>& eps) {
  std::string out;
  for (const EtcdEndpoint& e : eps) out += (out.empty() ? "" : ", ") + e.Target();
  return out;
}

namespace {

bool ValidName(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) return false;
  return true;
}

Result<EtcdEndpoint> ParseEndpoint(std::string_view part) {
  EtcdEndpoint ep;
  std::string_view port;
  if (!part.empty() && part.front() == '[') {
    size_t close = part.find(']');
    if (close == std::string_view::npos)
      return InvalidArgument("etcd endpoint \"" + std::string(part) + "\": missing ']'");
    ep.host = std::string(part.substr(1, close - 1));
    in6_addr a6{};
    if (inet_pton(AF_INET6, ep.host.c_str(), &a6) != 1)
      return InvalidArgument("etcd endpoint \"" + std::string(part) + "\": \"" + ep.host + "\" is not an IPv6 address");
    std::string_view rest = part.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return InvalidArgument("etcd endpoint \"" + std::string(part) + "\": expected ':port' after ']'");
      port = rest.substr(1);
    }
  } else {
    size_t colon = part.find(':');
    if (colon != std::string_view::npos && part.find(':', colon + 1) != std::string_view::npos)
      return InvalidArgument("etcd endpoint \"" + std::string(part) +
                             "\": put IPv6 addresses in brackets, e.g. [fd00::e]:2379");
    ep.host = std::string(part.substr(0, colon));
    if (colon != std::string_view::npos) port = part.substr(colon + 1);
    if (!ValidName(ep.host)) return InvalidArgument("etcd endpoint \"" + std::string(part) + "\": bad host name");
  }
  if (!port.empty()) {
    int p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535)
      return InvalidArgument("etcd endpoint \"" + std::string(part) + "\": bad port \"" + std::string(port) + "\"");
    ep.port = p;
  }
  return ep;
}

}  // namespace

Result<StoreUrl> ParseStoreUrl(std::string_view url) {
  StoreUrl out;
  constexpr std::string_view kEtcd = "etcd://", kSqlite = "sqlite:";
  if (url.starts_with(kSqlite)) {
    out.sqlite_path = std::string(url.substr(kSqlite.size()));
    if (out.sqlite_path.empty()) return InvalidArgument("store \"" + std::string(url) + "\": sqlite: needs a path");
    return out;
  }
  if (!url.starts_with(kEtcd)) {
    if (url.find("://") != std::string_view::npos)
      return InvalidArgument("store \"" + std::string(url) +
                             "\": unknown scheme (use sqlite:PATH or etcd://host:port,...)");
    if (url.empty()) return InvalidArgument("store: empty");
    out.sqlite_path = std::string(url);
    return out;
  }
  out.kind = StoreUrl::Kind::kEtcd;
  std::string_view rest = url.substr(kEtcd.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty()) return InvalidArgument("store \"" + std::string(url) + "\": no etcd endpoints");
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t comma = rest.find(',', pos);
    std::string_view part = rest.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (part.empty()) return InvalidArgument("store \"" + std::string(url) + "\": empty endpoint");
    PC_ASSIGN_OR_RETURN(EtcdEndpoint ep, ParseEndpoint(part));
    out.endpoints.push_back(std::move(ep));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace privcast::store
