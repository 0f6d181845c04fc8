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

class Cache {
 public:
  ~Cache() {
    for (FreeBlock*& head : lists_) {
      while (head) {
        FreeBlock* b = head;
        head = b->next;
        std::free(b);
      }
    }
  }

  void* Alloc(size_t n) {
    if (n == 0) n = 1;
    if (n > kH2MemMaxSmall) {
      auto* h = static_cast<Header*>(std::malloc(sizeof(Header) + n));
      if (!h) return nullptr;
      h->cls = kLarge;
      return h + 1;
    }
    uint32_t cls = static_cast<uint32_t>((n - 1) / kStep);
    Header* h;
    if (FreeBlock* b = lists_[cls]) {
      lists_[cls] = b->next;
      cached_ -= Bytes(cls);
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
    Header* h = static_cast<Header*>(p) - 1;
    uint32_t cls = h->cls;
    if (cls == kLarge || cached_ + Bytes(cls) > kH2MemMaxCachedBytes) {
      std::free(h);
      return;
    }
    auto* b = reinterpret_cast<FreeBlock*>(h);
    b->next = lists_[cls];
    lists_[cls] = b;
    cached_ += Bytes(cls);
  }

  void* Realloc(void* p, size_t n) {
    if (!p) return Alloc(n);
    Header* h = static_cast<Header*>(p) - 1;
    if (h->cls == kLarge) {
      if (n <= kH2MemMaxSmall) {  // shrinking into a class: copy, the lists stay uniform
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

  size_t cached() const { return cached_; }

 private:
  static size_t Bytes(uint32_t cls) { return (cls + 1) * kStep; }

  FreeBlock* lists_[kClasses] = {};
  size_t cached_ = 0;
};

Cache& ThreadCache() {
  thread_local Cache cache;
  return cache;
}

void* MemMalloc(size_t n, void*) { return ThreadCache().Alloc(n); }
void MemFree(void* p, void*) { ThreadCache().Free(p); }
void* MemRealloc(void* p, size_t n, void*) { return ThreadCache().Realloc(p, n); }
void* MemCalloc(size_t nmemb, size_t size, void*) {
  if (size != 0 && nmemb > SIZE_MAX / size) return nullptr;
  size_t n = nmemb * size;
  void* p = ThreadCache().Alloc(n);
  if (p) std::memset(p, 0, n);
  return p;
}

}  // namespace

nghttp2_mem* H2Mem() {
  static nghttp2_mem mem{nullptr, MemMalloc, MemFree, MemCalloc, MemRealloc};
  return &mem;
}

size_t H2MemCachedBytes() { return ThreadCache().cached(); }

}  // namespace privcast::proxy
