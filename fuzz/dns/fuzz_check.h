// FUZZ_CHECK: a property the fuzzer asserts; failing aborts so libFuzzer records a crasher.
#pragma once
#include <cstdio>
#include <cstdlib>
#define FUZZ_CHECK(c)                                                                  \
  do {                                                                                 \
    if (!(c)) {                                                                        \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)
