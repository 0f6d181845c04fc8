// fly.toml test helpers shared by the config suites: parse text as a file named "fly.toml" and
// expect it to load (MustParse) or to be refused (ErrorOf: the message, file:line:col first).
// Failures are reported through GoogleTest's EXPECT at the call.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "config/load.h"

namespace privcast::config {

inline AppConfig MustParse(const std::string& text) {
  auto r = ParseFlyToml(text, "fly.toml");
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? r->config : AppConfig{};
}

inline std::string ErrorOf(const std::string& text) {
  auto r = ParseFlyToml(text, "fly.toml");
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

}  // namespace privcast::config
