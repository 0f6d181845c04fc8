// Fuzzes what the image store reads from users and registries: image references (API
// bodies) and image config JSON (a registry's bytes). Any input gives a value or a one-line
// error, never a crash; a reference that parses re-parses to the same canonical name.
// The first byte picks the target: even = reference, odd = image config (+ user lookup).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "images/reference.h"
#include "images/store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace privcast::images;
  if (size == 0) return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto s = ParseImageSource(text, {"registry.local:5000"});
    if (!s.ok()) {
      if (s.status().message().find('\n') != std::string::npos && text.find('\n') == std::string::npos) {
        std::fprintf(stderr, "multi-line error: %s\n", s.status().message().c_str());
        std::abort();
      }
      return 0;
    }
    auto again = ParseImageSource(s->canonical, {"registry.local:5000"});
    if (!again.ok() || again->canonical != s->canonical) {
      std::fprintf(stderr, "canonical %s does not re-parse to itself\n", s->canonical.c_str());
      std::abort();
    }
    return 0;
  }
  auto c = ParseImageConfig(text);
  if (c.ok()) (void)LookupUser(c->user, "root:x:0:0::/root:/bin/sh\nwww:x:33:33::/:/bin/sh\n", "www:x:33:\n");
  return 0;
}
