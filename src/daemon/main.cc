// privcastd entry point (placeholder until the daemon wiring lands).
#include <cstdio>
int main() {
  std::fprintf(stderr, "privcastd: not wired yet\n");
  return 1;
}
