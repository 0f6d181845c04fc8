// Where the API listens and how `--api` / PRIVCAST_API name it. Header-only so that the
// daemon, the CLI and tests share one default without linking the API server.
//
// Accepted forms: "unix:/path/to.sock" or a bare absolute path "/path/to.sock".
// Values only; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace privcast::api {

// The default control socket of privcastd (root-owned, mode 0600).
inline constexpr const char* kDefaultSocketPath = "/run/privcast/privcastd.sock";
inline constexpr const char* kApiEnvVar = "PRIVCAST_API";

// "unix:/x" or "/x" → "/x"; anything else → nullopt.
inline std::optional<std::string> ParseApiEndpoint(std::string_view spec) {
  if (spec.rfind("unix:", 0) == 0) spec.remove_prefix(5);
  if (spec.empty() || spec.front() != '/' || spec.size() > 107) return std::nullopt;
  return std::string(spec);
}

}  // namespace privcast::api
