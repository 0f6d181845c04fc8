// Buffer and BufferPool: per-worker I/O buffers handed out on demand, so an idle keep-alive
// connection holds no buffer at all (<= 8 KiB per idle client connection).
//
// Ownership: a Buffer owns its block until Release() returns it to the pool it came from.
// Thread-safety: a pool and its buffers belong to one worker thread.
#pragma once

#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace privcast::proxy {

class BufferPool {
 public:
  static constexpr size_t kBlock = 16 * 1024;
  explicit BufferPool(size_t keep = 256) : keep_(keep) {}
  ~BufferPool() {
    for (char* p : free_) std::free(p);
  }
  char* Get() {
    if (!free_.empty()) {
      char* p = free_.back();
      free_.pop_back();
      return p;
    }
    return static_cast<char*>(std::malloc(kBlock));
  }
  void Put(char* p) {
    if (free_.size() < keep_) {
      free_.push_back(p);
    } else {
      std::free(p);
    }
  }

 private:
  size_t keep_;
  std::vector<char*> free_;
};

// A byte queue [r, w) in one block. Blocks are kBlock bytes; a larger block is malloc'd when
// one message head plus the proxy's fields needs more (rare, bounded by the head limit).
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() = default;  // owners Release() before destruction (blocks are pool-owned)

  void Ensure(BufferPool& pool) {
    if (!p_) {
      p_ = pool.Get();
      cap_ = BufferPool::kBlock;
      r_ = w_ = 0;
    }
  }
  // Make room for n more bytes at the tail (compacting or growing). Returns the tail pointer.
  char* Reserve(BufferPool& pool, size_t n) {
    Ensure(pool);
    if (cap_ - w_ >= n) return p_ + w_;
    if (r_ > 0) {
      std::memmove(p_, p_ + r_, w_ - r_);
      w_ -= r_;
      r_ = 0;
      if (cap_ - w_ >= n) return p_ + w_;
    }
    size_t ncap = cap_;
    while (ncap - w_ < n) ncap *= 2;
    char* np = static_cast<char*>(std::malloc(ncap));
    std::memcpy(np, p_, w_);
    FreeBlock(pool);
    p_ = np;
    cap_ = ncap;
    return p_ + w_;
  }
  void Commit(size_t n) { w_ += n; }
  void Append(BufferPool& pool, std::string_view s) {
    std::memcpy(Reserve(pool, s.size()), s.data(), s.size());
    w_ += s.size();
  }
  char* data() const { return p_ + r_; }
  size_t size() const { return w_ - r_; }
  bool empty() const { return w_ == r_; }
  std::string_view view() const { return {p_ + r_, w_ - r_}; }
  size_t tail_room() const { return cap_ - w_; }
  char* tail() const { return p_ + w_; }
  void Consume(size_t n) {
    r_ += n;
    if (r_ == w_) r_ = w_ = 0;
  }
  // Give the block back (only when empty or the content is no longer needed).
  void Release(BufferPool& pool) {
    if (p_) FreeBlock(pool);
    p_ = nullptr;
    cap_ = r_ = w_ = 0;
  }
  void ReleaseIfEmpty(BufferPool& pool) {
    if (p_ && empty()) Release(pool);
  }

 private:
  void FreeBlock(BufferPool& pool) {
    if (cap_ == BufferPool::kBlock) pool.Put(p_);
    else std::free(p_);
  }
  char* p_ = nullptr;
  size_t cap_ = 0, r_ = 0, w_ = 0;
};

}  // namespace privcast::proxy
