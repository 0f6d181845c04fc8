// The privcast data model: the records the Registry keeps in the Store, as plain values.
//
// Key layout (docs/store.md):
//   /hosts/<host32 hex>            Host
//   /orgs/<slug>                   Org
//   /networks/<org>/<name>         Network        (/netids/<net32 hex> → "<org>/<name>" index)
//   /apps/<name>                   App
//   /releases/<app>/<version %08d> Release
//   /machines/<app>/<id>           Machine        (/machineids/<id> → app index)
//   /volumes/<app>/<id>            Volume         (/volumeids/<id> → app index)
//   /ips/<address>                 IpAssignment
//   /secrets/<app>/<name>          Secret (sealed: the store never holds a secret's value)
//   /released/<net32 hex>/<n %010u> cooldown record of a released flycast address
//   /seq/...                       counters
// Records are JSON (control plane only). Thread-safety: values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace privcast::store {

struct Host {
  uint32_t id = 0;     // host32, >= addr::kFirstHostId
  std::string region;  // 3 lowercase letters
  std::string hostname;
  int64_t created_at = 0;  // unix ms
};

struct Org {
  std::string slug;
  std::string name;
  std::string default_network;  // network name within this org, "default"
  int64_t created_at = 0;
};

struct Network {
  std::string org;
  std::string name;
  uint32_t net32 = 0;  // the /48 fdaa:<net32>::/48
  bool is_default = false;
  int64_t created_at = 0;
};

struct App {
  std::string name;
  std::string org;
  std::string network;  // the app's network (in its org); machines get 6PN addresses there
  int64_t created_at = 0;
  int64_t current_release = 0;  // 0 = never deployed
};

// Fly machine states. Transitional states (starting, stopping, suspending, destroying) are
// the intent: the API writes them, the supervisor acts and writes the resting state.
enum class MachineState {
  kCreated,
  kStarting,
  kStarted,
  kStopping,
  kStopped,
  kSuspending,
  kSuspended,
  kDestroying,
  kDestroyed,
  kFailed,  // the start failed (no process); last_event says why. Started again by a deploy or `machine start`.
};
const char* MachineStateName(MachineState s);
std::optional<MachineState> ParseMachineState(std::string_view s);
// The store's state machine: is from → to a legal transition?
bool IsLegalTransition(MachineState from, MachineState to);

struct Machine {
  std::string id;  // 14 hex chars
  std::string app;
  std::string org;
  std::string network;  // network name in org
  uint32_t net32 = 0;
  uint32_t host_id = 0;
  uint32_t machine32 = 0;  // unique per host; the 6PN /112 is derived from net32/host/machine32
  uint32_t link_slot = 0;  // IPv4 link /31 slot on the host (addr::LinkV4*)
  std::string region;
  std::string process_group;  // "app" by default
  MachineState state = MachineState::kCreated;
  int64_t release_version = 0;   // config version the machine runs (0 = ad hoc, e.g. machine run)
  std::vector<std::string> cmd;  // argv; empty = release's process command
  std::vector<std::pair<std::string, std::string>> env;  // extra env (ad-hoc machines)
  std::string image;                                     // OCI image reference (canonical) it runs; "" = host-/usr root
  std::string image_id;                                  // the image it was created with ("sha256:<config digest>")
  bool auto_destroy = false;                             // --rm: destroyed when it exits
  // Carries the app's services for its process group (Fly: a machine's config lists its
  // services): only such machines take the services' traffic, are probed for their internal
  // ports, health-checked and autostopped. Deploy and scale create machines that carry them;
  // `machine run` only with --services. A record without the key: release_version != 0 &&
  // !auto_destroy (what deploy and scale created before the key existed).
  bool carries_services = false;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::string last_event;    // human text of the last transition ("started by proxy", "exited 1")
  int64_t mod_revision = 0;  // store revision of this record (for compare-and-set)
};

// A volume (docs/volumes.md): persistent storage of one app, attached to at most one machine
// at a time. Names are not unique (as on Fly); ids are "vol_" + 16 of [a-z0-9].
struct Volume {
  std::string id;
  std::string name;  // [a-z0-9_]{1,30}
  std::string app;
  std::string region;
  uint32_t size_gb = 1;             // recorded; not enforced (ADR 0010)
  std::string attached_machine_id;  // "" = unattached
  std::string attached_path;        // where that machine mounts it ("/data")
  int64_t created_at = 0;           // unix ms
  int64_t mod_revision = 0;         // store revision of this record (not encoded)
};

struct IpAssignment {
  std::string address;  // textual IPv6
  std::string app;
  std::string type = "private_v6";
  std::string org;      // org owning the network the address is on
  std::string network;  // network name in that org
  uint32_t net32 = 0;
  std::string region = "global";
  // A per-service address (`<service>.svc.<app>.flycast`, ADR 0013); "" = the whole app.
  std::string service;
  int64_t created_at = 0;
};

struct Release {
  std::string app;
  int64_t version = 0;
  std::string config_json;  // the parsed, validated config (config::ToJson)
  std::string source;       // the fly.toml text as deployed
  int64_t created_at = 0;
  // For `privcast releases` (flyctl's columns): "pending" until the deploy's outcome is
  // known, then "complete" or "failed"; what made it ("Deploy", "Deploy image REF"); who
  // (the API caller's user name, from the socket's peer credentials).
  std::string status = "pending";
  std::string description;
  std::string user;
};

// An app secret (`privcast secrets set`): sealed by the daemon (AES-256-GCM, ADR 0012);
// the store holds the sealed text and a digest, never the value.
struct Secret {
  std::string app;
  std::string name;    // an environment variable name
  std::string digest;  // what `secrets list` shows
  std::string sealed;  // daemon::SecretBox::Seal of the value
  int64_t created_at = 0;
};

}  // namespace privcast::store
