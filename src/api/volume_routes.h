// The volumes routes (docs/api.md#volumes, docs/volumes.md), Fly Machines API shaped:
//
//   GET    /v1/apps/<app>/volumes          list (oldest first)
//   POST   /v1/apps/<app>/volumes          {"name", "size_gb" (1), "region" (the host's)} → 201
//   GET    /v1/apps/<app>/volumes/<id>     one
//   DELETE /v1/apps/<app>/volumes/<id>     destroy (409 while attached to a machine)
//   GET    /v1/volumes[/<id>], DELETE /v1/volumes/<id>   the same by id alone (privcast's)
//
// Storage is the daemon's business (it appears at the first attach and goes once the record
// is gone), so these routes need only the Registry. Thread-safe as the Registry is.
#pragma once

#include <string>
#include <vector>

#include "api/http.h"
#include "api/route_table.h"
#include "store/registry.h"

namespace privcast::api {

// The routes' handlers (the table in routes.cc). `app`: the app of an /apps/{app}/ route,
// whose 404 the caller has answered already; null for the routes by id alone (/v1/volumes).
void ListVolumesRoute(RouteCall& c, const std::string* app);
void CreateVolumeRoute(RouteCall& c, const std::string& app);
void GetVolumeRoute(RouteCall& c, const std::string* app, const std::string& id);
void DestroyVolumeRoute(RouteCall& c, const std::string* app, const std::string& id);

// `machine run --volume NAME_OR_ID:/path`: the id of a volume of `app` that may be attached
// (an id: that volume; a name: the oldest unattached volume with that name). Errors name what
// exists.
Result<std::string> ResolveMachineVolume(store::Registry* reg, const std::string& app, const std::string& name_or_id);

}  // namespace privcast::api
