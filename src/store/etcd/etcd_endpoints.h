// Parsing `--store` URLs: `sqlite:PATH` (or a bare path) and `etcd://h1:2379,h2:2379,...`.
//
// Hosts are DNS names, IPv4 literals or bracketed IPv6 literals (`etcd://[fd00:77::e]:2379`);
// the port defaults to 2379. The result names each endpoint as a gRPC target ("host:port",
// "[v6]:port"). Pure functions, no I/O; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace privcast::store {

struct EtcdEndpoint {
  std::string host;  // without brackets
  int port = 2379;
  std::string Target() const;  // "host:port" or "[v6]:port"
};

struct StoreUrl {
  enum class Kind { kSqlite, kEtcd };
  Kind kind = Kind::kSqlite;
  std::string sqlite_path;              // kSqlite
  std::vector<EtcdEndpoint> endpoints;  // kEtcd, at least one
};

// "sqlite:PATH", "etcd://a:1,b,[::1]:3". Errors name the offending part.
[[nodiscard]] Result<StoreUrl> ParseStoreUrl(std::string_view url);

// All endpoints as given back ("h1:2379, h2:2379") for error messages.
std::string DescribeEndpoints(const std::vector<EtcdEndpoint>& eps);

}  // namespace privcast::store
