// h2_mem: the nghttp2 allocator's free lists (reuse by size class, realloc across classes and to
// large blocks, calloc zeroes, the per-thread cap).
#include "proxy/h2_mem.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

namespace privcast::proxy {
namespace {

TEST(H2Mem, AFreedBlockIsReusedForTheSameClass) {
  nghttp2_mem* m = H2Mem();
  void* a = m->malloc(40, nullptr);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 16, 0u);
  size_t before = H2MemCachedBytes();
  m->free(a, nullptr);
  EXPECT_EQ(H2MemCachedBytes(), before + 64);
  void* b = m->malloc(60, nullptr);  // same 64-byte class
  EXPECT_EQ(b, a);
  EXPECT_EQ(H2MemCachedBytes(), before);
  m->free(b, nullptr);
  m->free(nullptr, nullptr);
}

TEST(H2Mem, ReallocKeepsTheBytesAcrossClassesAndLargeBlocks) {
  nghttp2_mem* m = H2Mem();
  auto* p = static_cast<char*>(m->malloc(10, nullptr));
  std::memcpy(p, "0123456789", 10);
  p = static_cast<char*>(m->realloc(p, 30, nullptr));  // same class: in place
  EXPECT_EQ(std::memcmp(p, "0123456789", 10), 0);
  p = static_cast<char*>(m->realloc(p, 1000, nullptr));
  EXPECT_EQ(std::memcmp(p, "0123456789", 10), 0);
  p = static_cast<char*>(m->realloc(p, 100000, nullptr));  // beyond the lists
  EXPECT_EQ(std::memcmp(p, "0123456789", 10), 0);
  p[99999] = 'x';
  p = static_cast<char*>(m->realloc(p, 200000, nullptr));
  EXPECT_EQ(p[99999], 'x');
  p = static_cast<char*>(m->realloc(p, 20, nullptr));  // back into a class
  EXPECT_EQ(std::memcmp(p, "0123456789", 10), 0);
  m->free(p, nullptr);
  void* q = m->realloc(nullptr, 5, nullptr);
  ASSERT_NE(q, nullptr);
  m->free(q, nullptr);
}

TEST(H2Mem, CallocZeroesReusedBlocks) {
  nghttp2_mem* m = H2Mem();
  auto* p = static_cast<unsigned char*>(m->malloc(128, nullptr));
  std::memset(p, 0xab, 128);
  m->free(p, nullptr);
  auto* z = static_cast<unsigned char*>(m->calloc(16, 8, nullptr));
  for (int i = 0; i < 128; ++i) EXPECT_EQ(z[i], 0) << i;
  m->free(z, nullptr);
  EXPECT_EQ(m->calloc(SIZE_MAX / 2, 4, nullptr), nullptr);  // overflow
}

TEST(H2Mem, TheCacheStaysUnderItsCapAndIsPerThread) {
  std::thread t([] {
    nghttp2_mem* m = H2Mem();
    std::vector<void*> blocks;
    size_t n = 2 * kH2MemMaxCachedBytes / kH2MemMaxSmall;
    for (size_t i = 0; i < n; ++i) blocks.push_back(m->malloc(kH2MemMaxSmall, nullptr));
    for (void* b : blocks) m->free(b, nullptr);
    EXPECT_LE(H2MemCachedBytes(), kH2MemMaxCachedBytes);
    EXPECT_GE(H2MemCachedBytes(), kH2MemMaxCachedBytes - kH2MemMaxSmall);
  });
  t.join();
}

}  // namespace
}  // namespace privcast::proxy
