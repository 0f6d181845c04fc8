// The Registry's key layout (docs/store.md), in one place. Names are DNS labels and ids are
// hex, so no component ever contains '/'. Fixed-width numbers keep Range order = numeric order.
//
//   /local/host                        this host's id (hex)  [host-local; see docs/store.md]
//   /hosts/<host32 %08x>               Host
//   /orgs/<slug>                       Org
//   /networks/<org>/<name>             Network
//   /netids/<net32 %08x>               "<org>/<name>"         unique net32 index
//   /apps/<name>                       App
//   /releases/<app>/<version %08d>     Release
//   /machines/<app>/<id>               Machine
//   /machineids/<id>                   app                    id → app index
//   /machine32/<host32>/<machine32>    id                     unique machine32 per host
//   /linkslots/<host32>/<slot %05u>    id                     IPv4 link slots in use per host
//   /volumes/<app>/<id>                Volume
//   /volumeids/<id>                    app                    id → app index
//   /ips/<address>                     IpAssignment
//   /flycast/<app>/<net32>             address                an app's address on a network
//   /flycast/<app>/<net32>/<service>   address                a service's address on a network (ADR 0013)
//   /released/<net32>/<n %010u>        ReleasedAddress        cooldown list
//   /seq/flycast/<net32>               next n (decimal)       per-network flycast counter
//   /config/regions                    RegionTable JSON       the cluster's region table (store/region_record.h)
#pragma once

#include <cstdint>
#include <string>

namespace privcast::store::keys {

inline constexpr const char* kLocalHost = "/local/host";

std::string Hex32(uint32_t v);  // %08x
std::string Secret(const std::string& app, const std::string& name);
std::string SecretPrefix(const std::string& app);

std::string Host(uint32_t id);
std::string HostPrefix();
std::string Org(const std::string& slug);
std::string OrgPrefix();
std::string Network(const std::string& org, const std::string& name);
std::string NetworkPrefix();
std::string NetworkPrefix(const std::string& org);
std::string NetId(uint32_t net32);
std::string App(const std::string& name);
std::string AppPrefix();
std::string Release(const std::string& app, int64_t version);
std::string ReleasePrefix(const std::string& app);
std::string ReleasePrefix();
std::string Machine(const std::string& app, const std::string& id);
std::string MachinePrefix(const std::string& app);
std::string MachinePrefix();
std::string MachineId(const std::string& id);
std::string Machine32(uint32_t host, uint32_t machine32);
std::string LinkSlot(uint32_t host, uint32_t slot);
std::string LinkSlotPrefix(uint32_t host);
std::string Volume(const std::string& app, const std::string& id);
std::string VolumePrefix(const std::string& app);
std::string VolumePrefix();
std::string VolumeId(const std::string& id);
std::string Ip(const std::string& address);
std::string IpPrefix();
std::string FlycastIndex(const std::string& app, uint32_t net32, const std::string& service = "");
std::string FlycastIndexPrefix(const std::string& app);
std::string Released(uint32_t net32, uint32_t n);
std::string ReleasedPrefix(uint32_t net32);
std::string ReleasedPrefix();
std::string FlycastSeq(uint32_t net32);

}  // namespace privcast::store::keys
