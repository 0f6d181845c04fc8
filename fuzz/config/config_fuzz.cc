// Fuzzes the fly.toml loader: any bytes must give a config or errors (one line each,
// each naming the file), never a crash; a config that loads must survive ToJson → FromJson unchanged, and its derived
// ServiceSpecs, warnings and launch helpers must not crash either.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/json.h"
#include "config/load.h"
#include "config/services.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace privcast::config;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // With -a too: the app it names replaces the file's before validation.
  (void)ParseFlyToml(text, "fly.toml", LoadOptions{"fuzz-app"});
  auto r = ParseFlyToml(text, "fly.toml");
  if (!r.ok()) {
    // Every error on a line of its own, each naming the file.
    const std::string& msg = r.status().message();
    size_t start = 0;
    while (start <= msg.size()) {
      size_t end = msg.find('\n', start);
      if (end == std::string::npos) end = msg.size();
      if (msg.compare(start, 8, "fly.toml") != 0) {
        std::fprintf(stderr, "error line without the file name: %s\n", msg.c_str());
        std::abort();
      }
      start = end + 1;
    }
    return 0;
  }
  const AppConfig& c = r->config;
  std::string js = ToJson(c);
  auto back = FromJson(js);
  if (!back.ok()) {
    std::fprintf(stderr, "FromJson refused ToJson output: %s\n%s\n", back.status().message().c_str(), js.c_str());
    std::abort();
  }
  if (!(*back == c) || ToJson(*back) != js) {
    std::fprintf(stderr, "JSON round trip changed the config:\n%s\n%s\n", js.c_str(), ToJson(*back).c_str());
    std::abort();
  }
  (void)ToServiceSpecs(c);
  (void)DeployWarnings(c, false);
  for (const std::string& g : ProcessGroups(c)) {
    (void)CommandFor(c, g);
    (void)GroupHasServices(c, g);
    (void)VmFor(c, g);
    (void)RestartFor(c, g);
  }
  return 0;
}
