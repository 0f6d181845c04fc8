// chunked_fuzz: the chunked framer never crashes, never consumes more than it is given,
// and any slicing of the same bytes gives the same verdict, end offset and payload count
// as one Feed of everything.
//
// Input: byte 0 picks the limits, byte 1 seeds slice sizes, the rest is the body stream.
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "proxy/codec/chunked.h"

using namespace privcast::codec;

namespace {

struct Total {
  ChunkedFramer::Status status = ChunkedFramer::Status::kMore;
  size_t consumed = 0;
  size_t data = 0;
};

template <typename NextSize>
Total Run(std::string_view in, const ChunkedLimits& lim, NextSize&& next) {
  ChunkedFramer f(lim);
  Total t;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t n = next();
    if (n > in.size() - pos) n = in.size() - pos;
    ChunkedFramer::Result r = f.Feed(in.substr(pos, n));
    FUZZ_CHECK(r.consumed <= n);
    FUZZ_CHECK(r.data_bytes <= n);
    t.data += r.data_bytes;
    t.status = r.status;
    if (r.status == ChunkedFramer::Status::kError) {
      FUZZ_CHECK(f.failed());
      return t;
    }
    t.consumed += r.consumed;
    if (r.status == ChunkedFramer::Status::kDone) {
      FUZZ_CHECK(f.done());
      FUZZ_CHECK(r.data_bytes <= r.consumed);
      return t;
    }
    FUZZ_CHECK(r.consumed == n);
    pos += n;
  }
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  ChunkedLimits lim;
  if (data[0] & 1) {
    lim.max_line = 8 + data[0] % 64;
    lim.max_trailer = 8 + data[0];
  }
  uint32_t seed = data[1] * 2654435761u + 3;
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);

  Total one = Run(in, lim, [&] { return in.size(); });
  Total bytes = Run(in, lim, [] { return size_t{1}; });
  Total rnd = Run(in, lim, [&] {
    seed = seed * 1103515245u + 12345u;
    return size_t{1} + (seed >> 16) % 37;
  });
  for (const Total* t : {&bytes, &rnd}) {
    FUZZ_CHECK(t->status == one.status);
    if (one.status != ChunkedFramer::Status::kError) {
      FUZZ_CHECK(t->consumed == one.consumed);
      FUZZ_CHECK(t->data == one.data);
    }
  }
  if (one.status == ChunkedFramer::Status::kDone) FUZZ_CHECK(one.data < one.consumed);
  return 0;
}
