// Service scopes: which of an app's services, and which of its machines, a per-service flycast
// address (`<service>.svc.<app>.flycast`, ADR 0013) reaches.
//
// A service name is either
//   - the `name` of a [[services]] entry (a privcast addition to fly.toml): that one service,
//     with the process groups it serves; or
//   - a process group (a [processes] key, or "app" without [processes]) that at least one
//     service serves: every service serving that group, narrowed to that group's machines.
// A named service wins over a process group of the same name (config validation allows that
// overlap only when the named service serves exactly that group, so both readings agree).
//
// The scope is expressed as ordinary ServiceSpecs whose `processes` lists are narrowed, so
// every consumer that already works per service (the balancer's ServesService, autostop,
// wake, limits, firewall ports) works per scoped address unchanged.
//
// Pure functions of their arguments; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/snapshot.h"

namespace privcast {

// Every service name of an app, sorted and unique: the named services and the process
// groups (`groups`, the app's process groups) that some service serves.
std::vector<std::string> ServiceNames(const std::vector<ServiceSpec>& services, const std::vector<std::string>& groups);

// The services a scoped address named `name` reaches, narrowed to its machines; nullopt when
// the app has no such service (an address for it then reaches nothing: fail closed).
std::optional<std::vector<ServiceSpec>> ServiceScope(const std::vector<ServiceSpec>& services,
                                                     const std::vector<std::string>& groups, std::string_view name);

// Is `group` served by `svc` (empty `processes` = every group)?
bool ServesGroup(const ServiceSpec& svc, std::string_view group);

// Does machine `m` take traffic of any service in `scope`? It must carry the app's services
// and be in one of a scoped service's process groups.
bool InScope(const MachineView& m, const std::vector<ServiceSpec>& scope);

}  // namespace privcast
