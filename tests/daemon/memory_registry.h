// What the daemon's unit tests run against: a Registry on an in-memory SQLite store,
// bootstrapped as host "test" of region ams. Crashes (PC_CHECK) when it cannot be set up.
#pragma once

#include <memory>

#include "common/clock.h"
#include "store/registry.h"
#include "store/store.h"

namespace privcast::daemon {

struct MemoryRegistry {
  std::unique_ptr<store::Store> store;
  std::unique_ptr<store::Registry> registry;
  store::Host host;
};

inline MemoryRegistry OpenMemoryRegistry(const Clock* clock) {
  MemoryRegistry r;
  auto st = store::OpenSqliteStore({":memory:"});
  PC_CHECK_MSG(st.ok(), st.status().ToString());
  r.store = std::move(st).value();
  r.registry = std::make_unique<store::Registry>(r.store.get(), clock);
  auto host = r.registry->Bootstrap("ams", "test");
  PC_CHECK_MSG(host.ok(), host.status().ToString());
  r.host = host.value();
  return r;
}

}  // namespace privcast::daemon
