#include "proxy/net_limits.h"

#include <algorithm>

namespace privcast::proxy {

NetLimits::Verdict NetLimits::Admit(uint32_t net32, int64_t now_ns, Net** slot, bool* log_it) {
  *log_it = false;
  MutexLock g(&mu_);
  auto& e = nets_[net32];
  double burst = o_.burst ? static_cast<double>(o_.burst) : std::max(1.0, o_.rate);
  if (!e) {
    e = std::make_unique<Net>();
    e->net32 = net32;
    e->tokens = burst;
    e->refill_ns = now_ns;
    e->log_window_ns = now_ns - o_.log_interval_ns - 1;
  }
  Net& n = *e;
  Verdict v = Verdict::kOk;
  if (o_.max_conns && n.open.load(std::memory_order_relaxed) >= static_cast<int64_t>(o_.max_conns)) {
    v = Verdict::kTooManyConnections;
  } else if (o_.rate > 0) {
    if (now_ns > n.refill_ns) {
      n.tokens = std::min(burst, n.tokens + o_.rate * static_cast<double>(now_ns - n.refill_ns) / 1e9);
      n.refill_ns = now_ns;
    }
    if (n.tokens >= 1) n.tokens -= 1;
    else v = Verdict::kTooFast;
  }
  if (v == Verdict::kOk) {
    n.open.fetch_add(1, std::memory_order_relaxed);
    *slot = &n;
    return v;
  }
  (v == Verdict::kTooFast ? n.refused_rate : n.refused_conns).fetch_add(1, std::memory_order_relaxed);
  if (now_ns - n.log_window_ns > o_.log_interval_ns) {
    n.log_window_ns = now_ns;
    n.logged_in_window = 0;
  }
  *log_it = n.logged_in_window++ < 5;
  *slot = nullptr;
  return v;
}

void NetLimits::ForEach(const std::function<void(const Net&)>& fn) const {
  MutexLock g(&mu_);
  for (auto& [net, e] : nets_) fn(*e);
}

}  // namespace privcast::proxy
