// MachineNetwork: one machine's network, set up and torn down as a unit.
//
// For a machine (docs/address-plan.md) Setup creates, through NetOps:
//   netns      <netns_dir>/<machine_id>
//   veth       pcv<slot> (host netns)  <->  eth0 (machine netns)
//   machine    lo up; eth0 up; 6PN ...::2/112 and LinkV4Machine(slot)/31 on eth0;
//              default via ...::1 (v6) and via LinkV4Host(slot) (v4)
//   host       pcv<slot> up; fe80::1/64 (NODAD), ...::1/112 and LinkV4Host(slot)/31 on
//              pcv<slot>
//              (their connected routes are the host's routes to the machine)
// Setup is transactional: if primitive k fails, the undo of primitives k-1..1 runs in reverse
// order and the error of step k is returned (undo errors are logged). Setup on an existing
// netns name returns AlreadyExists and touches nothing.
//
// Teardown deletes pcv<slot> (which takes eth0, the addresses and the routes with it) and the
// netns mount. It is idempotent and tolerant of partial state: absent pieces are fine.
//
// Thread-safe: calls are serialised on an internal mutex (NetOps is not thread-safe). The
// NetOps must outlive this object.
#pragma once

#include <cstdint>
#include <string>

#include "common/mutex.h"
#include "common/result.h"
#include "netns/net_ops.h"

namespace privcast::netns {

struct MachineNetSpec {
  std::string machine_id;  // also the netns name
  uint32_t net32 = 0;
  uint32_t host32 = 0;
  uint32_t machine32 = 0;
  uint32_t slot = 0;  // link slot: pcv<slot>, IPv4 /31 number; < addr::kMaxLinkSlots
};

class MachineNetwork {
 public:
  MachineNetwork(NetOps& ops, std::string netns_dir) : ops_(ops), dir_(std::move(netns_dir)) {}

  Status Setup(const MachineNetSpec& spec);
  Status Teardown(const std::string& machine_id, uint32_t slot);

  // Where things are, for the supervisor (setns into the netns for the machine's process)
  // and for the firewall / probes.
  std::string NetnsPath(const std::string& machine_id) const { return dir_ + "/" + machine_id; }
  const std::string& netns_dir() const { return dir_; }
  static std::string HostIfName(uint32_t slot) { return "pcv" + std::to_string(slot); }
  static constexpr const char* kMachineIfName = "eth0";

  // Setup with a different NetOps (fault injection in tests); same locking.
  Status SetupWith(NetOps& ops, const MachineNetSpec& spec);

 private:
  Mutex mu_;
  NetOps& ops_;
  std::string dir_;
};

}  // namespace privcast::netns
