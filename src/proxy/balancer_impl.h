// Template body of ChooseMachine (see balancer.h). Internal.
#pragma once

#include <algorithm>

namespace privcast::proxy {

template <typename StatusFn>
Choice ChooseMachine(const Snapshot& snap, const AppView& app, const ServiceSpec& svc, StatusFn&& status,
                     const RoutingHints& hints, uint64_t random, const std::vector<uint32_t>& exclude) {
  Choice out;
  // Best started candidate: (tier, over_soft, load, random rank).
  int best_tier = 1 << 30;
  bool best_over = true;
  int32_t best_load = INT32_MAX;
  uint64_t best_rank = 0;
  bool have_route = false;
  bool any_started = false;
  bool any_below_soft = false;
  int wake_tier = 1 << 30;
  bool wake_starting = false;
  bool have_wake = false;
  bool pref_met = hints.prefer_instance.empty() && hints.prefer_region.empty();
  uint64_t rnd = random | 1;
  for (uint32_t idx : app.machines) {
    const MachineView& m = snap.machines[idx];
    if (!ServesService(m, svc)) continue;
    if (std::find(exclude.begin(), exclude.end(), idx) != exclude.end()) continue;
    if (!hints.force_instance.empty() && m.id != hints.force_instance) continue;
    if (!hints.force_region.empty() && m.region != hints.force_region) continue;
    MachineStatus st = status(idx);
    int tier = TierOf(snap, m, hints);
    if (st.started) {
      if (!st.healthy) continue;
      any_started = true;
      if (svc.hard_limit != 0 && st.load >= static_cast<int32_t>(svc.hard_limit)) continue;
      bool over = st.load >= static_cast<int32_t>(svc.soft_limit);
      if (!over) any_below_soft = true;
      if (tier <= 1) pref_met = true;
      // xorshift per candidate for uniform tie-breaking without a second pass.
      rnd ^= rnd << 13;
      rnd ^= rnd >> 7;
      rnd ^= rnd << 17;
      bool better;
      if (!have_route) better = true;
      else if (tier != best_tier) better = tier < best_tier;
      else if (over != best_over) better = !over;
      else if (st.load != best_load) better = st.load < best_load;
      else better = rnd < best_rank;
      if (better) {
        have_route = true;
        best_tier = tier;
        best_over = over;
        best_load = st.load;
        best_rank = rnd;
        out.machine = idx;
      }
    } else if (st.wakeable && svc.auto_start) {
      // Concurrent arrivals share one start: within a tier, a machine that is already
      // starting beats a stopped one.
      if (!have_wake || tier < wake_tier || (tier == wake_tier && st.starting && !wake_starting)) {
        have_wake = true;
        wake_tier = tier;
        wake_starting = st.starting;
        out.also_wake = idx;
      }
    }
  }
  if (have_route) {
    out.kind = Choice::kRoute;
    // Wake more capacity only when every started machine is over soft_limit.
    if (any_below_soft || !have_wake) out.also_wake = -1;
    out.preference_unavailable = !pref_met;
    return out;
  }
  if (have_wake) {
    out.kind = Choice::kWake;
    out.machine = static_cast<uint32_t>(out.also_wake);
    out.also_wake = -1;
    out.preference_unavailable = !pref_met && wake_tier > 1;
    return out;
  }
  out.also_wake = -1;
  out.kind = any_started ? Choice::kQueue : Choice::kReject;
  out.preference_unavailable = !pref_met;
  return out;
}

}  // namespace privcast::proxy
