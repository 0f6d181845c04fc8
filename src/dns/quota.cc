#include "dns/quota.h"

#include <algorithm>

namespace privcast::dns {

ForwardQuota::Verdict ForwardQuota::Acquire(uint32_t view, MonoTime now) {
  State& s = views_[view];
  if (opts_.inflight && s.inflight >= opts_.inflight) {
    ++s.refused_inflight;
    ++refusals_;
    return Verdict::kInflight;
  }
  if (opts_.qps) {
    const double cap = opts_.qps;
    if (s.tokens < 0) {
      s.tokens = cap;
    } else if (now > s.last) {
      double secs = std::chrono::duration<double>(now - s.last).count();
      s.tokens = std::min(cap, s.tokens + secs * cap);
    }
    s.last = now;
    if (s.tokens < 1) {
      ++s.refused_rate;
      ++refusals_;
      return Verdict::kRate;
    }
    s.tokens -= 1;
  }
  ++s.inflight;
  return Verdict::kOk;
}

void ForwardQuota::Release(uint32_t view) {
  auto it = views_.find(view);
  if (it != views_.end() && it->second.inflight > 0) --it->second.inflight;
}

size_t ForwardQuota::inflight(uint32_t view) const {
  auto it = views_.find(view);
  return it == views_.end() ? 0 : it->second.inflight;
}

std::vector<ForwardQuota::Refusals> ForwardQuota::RefusalCounts() const {
  std::vector<Refusals> out;
  for (const auto& [view, s] : views_)
    if (s.refused_inflight || s.refused_rate) out.push_back({view, s.refused_inflight, s.refused_rate});
  return out;
}

}  // namespace privcast::dns
