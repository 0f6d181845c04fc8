#include "store/keys.h"

#include <cstdio>

namespace privcast::store::keys {

std::string Hex32(uint32_t v) {
  char b[9];
  std::snprintf(b, sizeof b, "%08x", v);
  return b;
}

namespace {
std::string Dec(uint64_t v, int width) {
  char b[32];
  std::snprintf(b, sizeof b, "%0*llu", width, static_cast<unsigned long long>(v));
  return b;
}
}  // namespace

std::string Host(uint32_t id) { return "/hosts/" + Hex32(id); }
std::string HostPrefix() { return "/hosts/"; }
std::string Org(const std::string& slug) { return "/orgs/" + slug; }
std::string OrgPrefix() { return "/orgs/"; }
std::string Network(const std::string& org, const std::string& name) { return "/networks/" + org + "/" + name; }
std::string NetworkPrefix() { return "/networks/"; }
std::string NetworkPrefix(const std::string& org) { return "/networks/" + org + "/"; }
std::string NetId(uint32_t net32) { return "/netids/" + Hex32(net32); }
std::string App(const std::string& name) { return "/apps/" + name; }
std::string AppPrefix() { return "/apps/"; }
std::string Release(const std::string& app, int64_t version) {
  return "/releases/" + app + "/" + Dec(static_cast<uint64_t>(version), 8);
}
std::string ReleasePrefix(const std::string& app) { return "/releases/" + app + "/"; }
std::string ReleasePrefix() { return "/releases/"; }
std::string Secret(const std::string& app, const std::string& name) { return "/secrets/" + app + "/" + name; }
std::string SecretPrefix(const std::string& app) { return "/secrets/" + app + "/"; }
std::string Machine(const std::string& app, const std::string& id) { return "/machines/" + app + "/" + id; }
std::string MachinePrefix(const std::string& app) { return "/machines/" + app + "/"; }
std::string MachinePrefix() { return "/machines/"; }
std::string MachineId(const std::string& id) { return "/machineids/" + id; }
std::string Volume(const std::string& app, const std::string& id) { return "/volumes/" + app + "/" + id; }
std::string VolumePrefix(const std::string& app) { return "/volumes/" + app + "/"; }
std::string VolumePrefix() { return "/volumes/"; }
std::string VolumeId(const std::string& id) { return "/volumeids/" + id; }
std::string Machine32(uint32_t host, uint32_t machine32) {
  return "/machine32/" + Hex32(host) + "/" + Hex32(machine32);
}
std::string LinkSlot(uint32_t host, uint32_t slot) { return "/linkslots/" + Hex32(host) + "/" + Dec(slot, 5); }
std::string LinkSlotPrefix(uint32_t host) { return "/linkslots/" + Hex32(host) + "/"; }
std::string Ip(const std::string& address) { return "/ips/" + address; }
std::string IpPrefix() { return "/ips/"; }
std::string FlycastIndex(const std::string& app, uint32_t net32, const std::string& service) {
  return "/flycast/" + app + "/" + Hex32(net32) + (service.empty() ? "" : "/" + service);
}
std::string FlycastIndexPrefix(const std::string& app) { return "/flycast/" + app + "/"; }
std::string Released(uint32_t net32, uint32_t n) { return "/released/" + Hex32(net32) + "/" + Dec(n, 10); }
std::string ReleasedPrefix(uint32_t net32) { return "/released/" + Hex32(net32) + "/"; }
std::string ReleasedPrefix() { return "/released/"; }
std::string FlycastSeq(uint32_t net32) { return "/seq/flycast/" + Hex32(net32); }

}  // namespace privcast::store::keys
