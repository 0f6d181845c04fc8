// privcast CLI entry point (placeholder until the CLI lands).
#include <cstdio>
int main() {
  std::fprintf(stderr, "Error: privcast CLI not built yet\n");
  return 1;
}
