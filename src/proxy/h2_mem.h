// H2Mem: the nghttp2_mem allocator every HTTP/2 session of the proxy uses (client side
// H2Session and app side H2Upstream; docs/adr/0011-http2.md, "Allocation").
//
// Why: nghttp2 allocates per stream (the stream, its outbound items, header rcbufs, nv copies)
// and frees it all when the stream closes; with hundreds of streams in flight these bursts
// overflow glibc's per-thread cache (7 blocks per size) and fall through to the arena lists and
// malloc_consolidate — ~20 % of the proxy's CPU on `h2load -c50 -m10`. H2Mem keeps freed
// blocks of up to kMaxSmall bytes on per-thread free lists by size class (32-byte steps), so a
// stream's allocations are list pops and pushes once the first burst has warmed them.
//
// Ownership: each block carries a 16-byte header naming its class; larger blocks go straight
// to malloc. A block may be freed on another thread than the one that allocated it (it then
// joins that thread's lists; the memory is ordinary malloc memory either way). Each thread
// keeps at most kMaxCachedBytes of free blocks (beyond that, free() goes to malloc's free);
// the lists are returned to malloc when the thread exits. Thread-safe by being thread-local.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <new>
#include <string>

namespace privcast::proxy {

inline constexpr size_t kH2MemMaxSmall = 4096;            // larger blocks bypass the lists
inline constexpr size_t kH2MemMaxCachedBytes = 8u << 20;  // free bytes kept per thread

// The allocator to pass to nghttp2_session_{server,client}_new3 (a static; mem_user_data unused).
nghttp2_mem* H2Mem();

// Free bytes held on this thread's lists (tests).
size_t H2MemCachedBytes();

// The same lists as a standard allocator, for what the proxy allocates per stream itself (the
// request's head text, H2Stream): glibc's per-thread cache holds 7 blocks per size, and the
// hundreds of streams of a burst went through its bins (_int_malloc/_int_free ≈ 3 % of the
// proxy's CPU on h2load -c50 -m10).
template <class T>
struct H2MemAllocator {
  using value_type = T;
  H2MemAllocator() = default;
  template <class U>
  H2MemAllocator(const H2MemAllocator<U>&) {}  // implicit: allocator rebinding
  T* allocate(size_t n) {
    void* p = H2Mem()->malloc(n * sizeof(T), nullptr);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { H2Mem()->free(p, nullptr); }
  friend bool operator==(const H2MemAllocator&, const H2MemAllocator&) { return true; }
};
using H2String = std::basic_string<char, std::char_traits<char>, H2MemAllocator<char>>;

}  // namespace privcast::proxy
