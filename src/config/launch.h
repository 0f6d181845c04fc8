// The fly.toml that `privcast launch` writes: clean, commented, shaped like flyctl's.
//
// Contract: for any options, the output parses back through ParseFlyToml with zero
// warnings and reproduces the options (tested). Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace privcast::config {

struct LaunchOptions {
  std::string app;             // omitted from the file when empty
  std::string primary_region;  // omitted when empty
  uint16_t internal_port = 8080;
  bool flycast = false;  // --flycast: force_https = false (no certificate on private IPs)
  std::string command;   // --command: [processes] app = "<command>"; none when empty
  std::string image;     // --image: [build] image = "<ref>"; none when empty
};

std::string RenderLaunchToml(const LaunchOptions& options);

// A TOML basic string literal for `s`, quotes included ("a \"b\"\n" style escapes).
std::string TomlQuote(const std::string& s);

}  // namespace privcast::config
