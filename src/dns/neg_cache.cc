#include "dns/neg_cache.h"

#include <algorithm>

namespace privcast::dns {

std::string NegativeCache::Key(const Query& q) {
  std::string k(q.qname.len + 4, '\0');
  for (size_t i = 0; i < q.qname.len; ++i) k[i] = static_cast<char>(ToLowerAscii(q.qname.data[i]));
  k[q.qname.len] = static_cast<char>(q.qtype >> 8);
  k[q.qname.len + 1] = static_cast<char>(q.qtype);
  k[q.qname.len + 2] = static_cast<char>(q.qclass >> 8);
  k[q.qname.len + 3] = static_cast<char>(q.qclass);
  return k;
}

bool NegativeCache::DropOldest(View& v) {
  while (!v.order.empty()) {
    auto [old, seq] = std::move(v.order.front());
    v.order.pop_front();
    auto o = v.map.find(old);
    if (o != v.map.end() && o->second.seq == seq) {
      v.map.erase(o);
      --total_;
      return true;
    }
  }
  return false;
}

void NegativeCache::Put(uint32_t view, std::string key, Entry e) {
  if (opts_.entries_per_view == 0 || opts_.entries_total == 0) return;
  View& v = views_[view];
  e.seq = ++seq_;
  auto it = v.map.find(key);
  if (it != v.map.end()) {
    it->second = std::move(e);
  } else {
    if (total_ >= opts_.entries_total) {
      size_t share = opts_.entries_total / views_.size();
      if (v.map.size() >= share) {
        if (!DropOldest(v)) return;  // at or over its share: pays with its own entries
      } else {
        // Under its share: take the room from the largest view (a scan, but only for the
        // views that are not flooding, so rare).
        View* big = nullptr;
        for (auto& [k, other] : views_)
          if (!big || other.map.size() > big->map.size()) big = &other;
        if (!big || big == &v || big->map.size() <= share || !DropOldest(*big)) return;
      }
    }
    while (v.map.size() >= opts_.entries_per_view && DropOldest(v)) {
    }
    it = v.map.emplace(key, std::move(e)).first;
    ++total_;
  }
  v.order.emplace_back(std::move(key), it->second.seq);
  // Re-stored keys leave stale (key, seq) pairs behind; keep the queue bounded too.
  if (v.order.size() > 2 * opts_.entries_per_view + 16) {
    std::deque<std::pair<std::string, uint64_t>> live;
    for (auto& p : v.order) {
      auto o = v.map.find(p.first);
      if (o != v.map.end() && o->second.seq == p.second) live.push_back(std::move(p));
    }
    v.order.swap(live);
  }
}

void NegativeCache::StoreReply(uint32_t view, const Query& q, const uint8_t* msg, size_t len, MonoTime now) {
  if (!Cacheable(q) || len < kHeaderSize) return;
  uint8_t rcode = msg[3] & 0xf;
  if (rcode == kServFail) return StoreServFail(view, q, now);
  if (opts_.negative_max_ttl.count() <= 0) return;
  uint16_t ancount = static_cast<uint16_t>(msg[6] << 8 | msg[7]);
  if (!(rcode == kNxDomain || (rcode == kNoError && ancount == 0))) return;
  if (msg[2] & (kFlagTC >> 8)) return;  // a truncated answer says nothing
  Message m;
  if (!ParseMessage(msg, len, &m)) return;
  for (const Record& r : m.additional)
    if (r.type == kTypeOPT && (r.ttl >> 24) != 0) return;  // extended rcode: not ours to keep
  for (const Record& r : m.authority) {
    if (r.type != kTypeSOA || r.rdata.size() < 22) continue;
    const uint8_t* mn = r.rdata.data() + r.rdata.size() - 4;
    uint32_t minimum = static_cast<uint32_t>(mn[0]) << 24 | mn[1] << 16 | mn[2] << 8 | mn[3];
    uint32_t ttl = std::min<uint32_t>(r.ttl, minimum);  // RFC 2308 §5
    ttl = std::min<uint32_t>(ttl, static_cast<uint32_t>(opts_.negative_max_ttl.count()));
    if (ttl == 0) return;
    Entry e;
    e.rcode = rcode;
    e.expires = now + std::chrono::seconds(ttl);
    e.soa_owner = r.name;
    e.soa_rdata = r.rdata;
    Put(view, Key(q), std::move(e));
    return;
  }
}

void NegativeCache::StoreServFail(uint32_t view, const Query& q, MonoTime now) {
  if (!Cacheable(q) || opts_.servfail_ttl.count() <= 0) return;
  Entry e;
  e.rcode = kServFail;
  e.expires = now + opts_.servfail_ttl;
  Put(view, Key(q), std::move(e));
}

size_t NegativeCache::Answer(uint32_t view, const Query& q, const uint8_t* msg, size_t len, size_t limit,
                             uint16_t edns_udp_size, uint8_t* out, size_t cap, MonoTime now, uint8_t* rcode) {
  if (!Cacheable(q) || q.question_end > len) return 0;
  auto vit = views_.find(view);
  if (vit == views_.end()) return 0;
  auto it = vit->second.map.find(Key(q));
  if (it == vit->second.map.end()) return 0;
  const Entry& e = it->second;
  if (e.expires <= now) {
    vit->second.map.erase(it);
    --total_;
    return 0;
  }
  Builder b(out, cap, limit);
  b.SetHeader(q.header.id, static_cast<uint16_t>(kFlagQR | kFlagRA | (q.header.flags & (kFlagRD | kFlagCD))));
  bool ok = q.question_compressed ? b.AddQuestion(q.qname, q.qtype, q.qclass)
                                  : b.AddRawQuestion(msg + kHeaderSize, q.question_end - kHeaderSize);
  if (!ok) return 0;
  if (q.has_edns) b.Reserve(11);
  if (e.soa_owner.len) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(e.expires - now).count();
    uint32_t ttl = static_cast<uint32_t>(std::max<int64_t>(1, left));
    // The SOA's MINIMUM is what downstream caches use too (RFC 2308 §5): count it down.
    std::vector<uint8_t> rdata = e.soa_rdata;
    uint8_t* mn = rdata.data() + rdata.size() - 4;
    uint32_t minimum = static_cast<uint32_t>(mn[0]) << 24 | mn[1] << 16 | mn[2] << 8 | mn[3];
    minimum = std::min(minimum, ttl);
    mn[0] = static_cast<uint8_t>(minimum >> 24);
    mn[1] = static_cast<uint8_t>(minimum >> 16);
    mn[2] = static_cast<uint8_t>(minimum >> 8);
    mn[3] = static_cast<uint8_t>(minimum);
    if (!b.AddRecord(Section::kAuthority, e.soa_owner, kTypeSOA, kClassIN, ttl, rdata.data(), rdata.size()))
      return 0;  // does not fit this client: let the upstream answer it
  }
  b.SetRcode(e.rcode);
  b.Reserve(0);
  if (q.has_edns && !b.AddOpt(edns_udp_size, 0, false)) return 0;
  *rcode = e.rcode;
  return b.size();
}

}  // namespace privcast::dns
