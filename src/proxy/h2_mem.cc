#include "proxy/h2_mem.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace privcast::proxy {

namespace {

constexpr size_t kStep = 32;
constexpr size_t kClasses = kH2MemMaxSmall / kStep;  // class c holds (c + 1) * kStep bytes
constexpr uint32_t kLarge = UINT32_MAX;              // header of a block that bypasses the lists

// 16 bytes, so that the user pointer keeps malloc's 16-byte alignment.
struct alignas(16) Header {
  uint32_t cls;
  uint32_t pad[3];
};
static_assert(sizeof(Header) == 16);

struct FreeBlock {
  FreeBlock* next;
};

// The lists are plain data (trivially destructible), so they stay usable until the thread is
// gone, even from another thread_local's destructor that frees an nghttp2 session late; the
// Drain guard returns the cached blocks to malloc at thread exit and closes them (after that,
// every block goes straight to malloc/free).
struct Lists {
  FreeBlock* heads[kClasses];
  size_t cached;
  bool closed;
  bool guarded;
};
thread_local constinit Lists t_lists{};

struct Drain {
  ~Drain() {
    t_lists.closed = true;
    for (FreeBlock*& head : t_lists.heads) {
      while (head) {
        FreeBlock* b = head;
        head = b->next;
        std::free(b);
      }
    }
    t_lists.cached = 0;
  }
};
thread_local Drain t_drain;

size_t Bytes(uint32_t cls) { return (cls + 1) * kStep; }

void* Alloc(size_t n) {
  Lists& l = t_lists;
  if (!l.guarded) {  // first use on this thread: arm the exit drain
    l.guarded = true;
    static_cast<void>(&t_drain);
  }
  if (n == 0) n = 1;
  if (n > kH2MemMaxSmall) {
    auto* h = static_cast<Header*>(std::malloc(sizeof(Header) + n));
    if (!h) return nullptr;
    h->cls = kLarge;
    return h + 1;
  }
  uint32_t cls = static_cast<uint32_t>((n - 1) / kStep);
  Header* h;
  if (FreeBlock* b = l.heads[cls]) {
    l.heads[cls] = b->next;
    l.cached -= Bytes(cls);
    h = reinterpret_cast<Header*>(b);
  } else {
    h = static_cast<Header*>(std::malloc(sizeof(Header) + Bytes(cls)));
    if (!h) return nullptr;
  }
  h->cls = cls;
  return h + 1;
}

void Free(void* p) {
  if (!p) return;
  Lists& l = t_lists;
  Header* h = static_cast<Header*>(p) - 1;
  uint32_t cls = h->cls;
  if (cls == kLarge || l.closed || l.cached + Bytes(cls) > kH2MemMaxCachedBytes) {
    std::free(h);
    return;
  }
  auto* b = reinterpret_cast<FreeBlock*>(h);
  b->next = l.heads[cls];
  l.heads[cls] = b;
  l.cached += Bytes(cls);
}

void* Realloc(void* p, size_t n) {
  if (!p) return Alloc(n);
  Header* h = static_cast<Header*>(p) - 1;
  if (h->cls == kLarge) {
    if (n <= kH2MemMaxSmall) {  // shrinking into a class: copy, so that the lists stay uniform
      void* q = Alloc(n);
      if (!q) return nullptr;
      std::memcpy(q, p, n);
      std::free(h);
      return q;
    }
    auto* g = static_cast<Header*>(std::realloc(h, sizeof(Header) + n));
    return g ? g + 1 : nullptr;
  }
  size_t have = Bytes(h->cls);
  if (n <= have) return p;
  void* q = Alloc(n);
  if (!q) return nullptr;
  std::memcpy(q, p, have);
  Free(p);
  return q;
}

void* MemMalloc(size_t n, void*) { return Alloc(n); }
void MemFree(void* p, void*) { Free(p); }
void* MemRealloc(void* p, size_t n, void*) { return Realloc(p, n); }
void* MemCalloc(size_t nmemb, size_t size, void*) {
  if (size != 0 && nmemb > SIZE_MAX / size) return nullptr;
  size_t n = nmemb * size;
  void* p = Alloc(n);
  if (p) std::memset(p, 0, n);
  return p;
}

}  // namespace

nghttp2_mem* H2Mem() {
  static nghttp2_mem mem{nullptr, MemMalloc, MemFree, MemCalloc, MemRealloc};
  return &mem;
}

size_t H2MemCachedBytes() { return t_lists.cached; }

}  // namespace privcast::proxy
