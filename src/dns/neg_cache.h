// NegativeCache: remembers negative and failed answers of forwarded queries, per view
// (RFC 2308).
//
// What is kept, per (view, qname case-insensitively, qtype, qclass):
//   * NXDOMAIN and NODATA (NOERROR, no answer records) answers that carry a SOA in the
//     authority section, for min(SOA TTL, SOA MINIMUM) (RFC 2308 §5), capped at
//     `negative_max_ttl`. Negative answers without a SOA are not cached (§5).
//   * SERVFAIL — from the upstream, or when every upstream timed out — for `servfail_ttl`
//     (RFC 2308 §7: at most five minutes; we keep it short).
// A hit is rebuilt for the asking query: its id, RD/CD bits, its casing of the name, its
// EDNS (OPT echoed as we would), and the SOA's TTL counting down. Queries with DO=1 are
// neither cached nor answered from the cache (the DNSSEC proofs are not kept).
//
// Views never share entries: what org B asked is not visible to org A through the cache
// (no cache snooping across networks), and each view has its own bound (`entries_per_view`,
// oldest dropped first), so one network's flood of random names cannot evict another's.
// All views together hold at most `entries_total`: at that bound a view holding its share
// (entries_total / views) or more drops its own oldest for each new entry, and a view under
// its share takes the room from the largest view's oldest.
//
// Owned by the DNS loop thread; no locks, no clock of its own (callers pass `now`).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "dns/wire.h"

namespace privcast::dns {

class NegativeCache {
 public:
  struct Options {
    std::chrono::seconds negative_max_ttl{300};  // 0: negative answers are not cached
    std::chrono::seconds servfail_ttl{5};        // 0: SERVFAIL is not cached
    size_t entries_per_view = 4096;
    size_t entries_total = 65536;  // all views together (memory bound with many networks)
  };
  explicit NegativeCache(Options o) : opts_(o) {}

  // An upstream's reply `msg` to query `q` (parsed from the query as the client sent it).
  // Remembers it when it is a cacheable negative answer or a SERVFAIL.
  void StoreReply(uint32_t view, const Query& q, const uint8_t* msg, size_t len, MonoTime now);
  // Every upstream failed or timed out for `q`.
  void StoreServFail(uint32_t view, const Query& q, MonoTime now);

  // Writes the cached answer for `q` (msg/len: the query's bytes) into out[0..cap) and
  // returns its size, or 0 on a miss. `limit`: the reply size limit for this client;
  // `edns_udp_size`: what we advertise in OPT. *rcode gets the answer's rcode.
  size_t Answer(uint32_t view, const Query& q, const uint8_t* msg, size_t len, size_t limit, uint16_t edns_udp_size,
                uint8_t* out, size_t cap, MonoTime now, uint8_t* rcode);

  size_t size() const { return total_; }

 private:
  struct Entry {
    uint8_t rcode = 0;
    MonoTime expires{};
    uint64_t seq = 0;
    Name soa_owner;  // len 0 for SERVFAIL
    std::vector<uint8_t> soa_rdata;
  };
  struct View {
    std::unordered_map<std::string, Entry> map;
    std::deque<std::pair<std::string, uint64_t>> order;  // insertion order (key, seq)
  };
  static bool Cacheable(const Query& q) { return q.have_question && !q.do_bit; }
  static std::string Key(const Query& q);
  void Put(uint32_t view, std::string key, Entry e);
  bool DropOldest(View& v);  // false when v is empty

  Options opts_;
  std::unordered_map<uint32_t, View> views_;
  uint64_t seq_ = 0;
  size_t total_ = 0;
};

}  // namespace privcast::dns
