#include "proxy/autostop.h"

#include <algorithm>
#include <map>
#include <set>

#include "proxy/balancer.h"

namespace privcast::proxy {

std::vector<AutostopDecision> PlanAutostop(const Snapshot& snap, const std::function<AutostopMachine(uint32_t)>& status,
                                           Duration idle) {
  std::vector<AutostopDecision> out;
  std::vector<AutostopMachine> st(snap.machines.size());
  for (uint32_t i = 0; i < snap.machines.size(); ++i) st[i] = status(i);
  for (const AppView& app : snap.apps) {
    // Machines vetoed by some service (off, or a group where it must keep running).
    std::set<uint32_t> vetoed;
    std::map<uint32_t, AutostopDecision> wanted;
    for (const ServiceSpec& svc : app.services) {
      std::map<std::string, std::vector<uint32_t>> by_region;
      for (uint32_t idx : app.machines) {
        const MachineView& m = snap.machines[idx];
        if (!ServesService(m, svc) || !st[idx].started) continue;
        by_region[m.region].push_back(idx);
      }
      for (auto& [region, running] : by_region) {
        if (svc.auto_stop == AutoStop::kOff) {
          vetoed.insert(running.begin(), running.end());
          continue;
        }
        const int n = static_cast<int>(running.size());
        int at_soft = 0;
        for (uint32_t idx : running)
          if (st[idx].load >= static_cast<int32_t>(svc.soft_limit)) ++at_soft;
        bool may_stop = n >= 2 ? (n - (at_soft + 1) >= 1) : (n == 1 && st[running[0]].load == 0);
        if (region == app.primary_region && n <= static_cast<int>(svc.min_machines_running)) may_stop = false;
        int64_t best = -1;
        for (uint32_t idx : running) {
          const AutostopMachine& a = st[idx];
          bool qualifies = a.load == 0 && a.open_conns == 0 && a.idle_for >= idle && !a.stop_pending;
          if (!may_stop || !qualifies) continue;
          if (best < 0 || a.idle_for > st[best].idle_for ||
              (a.idle_for == st[best].idle_for && snap.machines[idx].id < snap.machines[best].id))
            best = idx;
        }
        // Everyone else in this group must keep running as far as this service is concerned.
        for (uint32_t idx : running)
          if (static_cast<int64_t>(idx) != best) vetoed.insert(idx);
        if (best >= 0)
          wanted[static_cast<uint32_t>(best)] = {static_cast<uint32_t>(best), svc.auto_stop == AutoStop::kSuspend,
                                                 st[best].idle_for};
      }
    }
    for (auto& [idx, d] : wanted)
      if (!vetoed.count(idx)) out.push_back(d);
  }
  return out;
}

}  // namespace privcast::proxy
