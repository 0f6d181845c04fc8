// ForwardQuota: per-network fairness for forwarded queries.
//
// Every forwarded query belongs to the view of the client that asked: a privcast network
// (its net32) or the host (kHostKey). A view may have at most `inflight` queries waiting for
// an upstream at once, and may start at most `qps` per second (a token bucket holding one
// second's worth, so a burst of `qps` is allowed after a quiet second). A query over either
// limit is refused (the server answers REFUSED at once, see docs/dns.md "Fair forwarding")
// and counted against its view. One network flooding random names therefore spends only
// its own budget; the others keep theirs.
//
// State is created lazily per view and is small (a few words). Pure bookkeeping: no clock
// of its own (callers pass `now`), no I/O, no locks — owned by the DNS loop thread.
// RefusalCounts() copies the counters for publication to other threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/clock.h"

namespace privcast::dns {

class ForwardQuota {
 public:
  static constexpr uint32_t kHostKey = 0;  // fdaa:0:0::/48 is privcast's own: never a network

  struct Options {
    size_t inflight = 256;  // per view; 0 = no limit
    uint32_t qps = 1000;    // per view; 0 = no limit
  };
  enum class Verdict : uint8_t { kOk, kInflight, kRate };

  explicit ForwardQuota(Options o) : opts_(o) {}

  // Takes one in-flight slot and one token for `view`, or refuses (and counts the refusal).
  Verdict Acquire(uint32_t view, MonoTime now);
  // Gives the in-flight slot of a finished forward back (answered, failed or dropped).
  void Release(uint32_t view);

  size_t inflight(uint32_t view) const;
  struct Refusals {
    uint32_t view = 0;
    uint64_t inflight = 0, rate = 0;
  };
  // Views with at least one refusal, in no particular order.
  std::vector<Refusals> RefusalCounts() const;
  // Bumped on every refusal: callers publish RefusalCounts() only when it moved.
  uint64_t refusals() const { return refusals_; }

 private:
  struct State {
    size_t inflight = 0;
    double tokens = -1;  // < 0: not started (full bucket on first use)
    MonoTime last{};
    uint64_t refused_inflight = 0, refused_rate = 0;
  };
  Options opts_;
  std::unordered_map<uint32_t, State> views_;
  uint64_t refusals_ = 0;
};

}  // namespace privcast::dns
