// Hand-built Snapshots and a query helper shared by the DNS tests, fuzzers and benchmarks.
//
// Two orgs: "acme" (network 0x10, local region ams) and "beta" (network 0x20).
//   web   acme  flycast on 0x10; machines: ams started (group app), fra started (app),
//                ams stopped (app), iad started (worker)
//   api   acme  flycast on 0x10 and on beta's 0x20; one started machine in fra
//   idle  acme  flycast on 0x10; one stopped machine (pre-warm target)
//   db    beta  flycast on 0x20; one started machine in ams
#pragma once

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/addr.h"
#include "common/snapshot.h"
#include "dns/resolver.h"
#include "dns/wire.h"
#include "dns/zone.h"

namespace privcast::dns::dnstest {

inline constexpr uint32_t kAcme = 0x10, kBeta = 0x20;

inline void AddMachine(Snapshot& s, uint32_t app, const std::string& id, const std::string& region,
                       const std::string& group, MachineRunState st, uint32_t machine32) {
  MachineView m;
  m.id = id;
  m.app_index = app;
  m.region = region;
  m.process_group = group;
  m.state = st;
  m.host_id = 2;
  m.six_pn = addr::SixPnAddress(s.apps[app].net32, 2, machine32);
  s.apps[app].machines.push_back(static_cast<uint32_t>(s.machines.size()));
  s.machines.push_back(m);
}

inline uint32_t AddApp(Snapshot& s, const std::string& name, const std::string& org, uint32_t net32) {
  AppView a;
  a.name = name;
  a.org = org;
  a.net32 = net32;
  a.primary_region = "ams";
  s.apps.push_back(a);
  return static_cast<uint32_t>(s.apps.size() - 1);
}

inline void AddFlycast(Snapshot& s, uint32_t app, uint32_t net32, uint32_t n) {
  FlycastEntry f;
  f.address = addr::FlycastAddress(net32, n);
  f.net32 = net32;
  f.app_index = app;
  s.apps[app].flycast.push_back(static_cast<uint32_t>(s.flycast.size()));
  s.flycast.push_back(f);
}

inline std::shared_ptr<Snapshot> TwoOrgs(int64_t revision = 7) {
  auto s = std::make_shared<Snapshot>();
  s->revision = revision;
  s->local_host_id = 2;
  s->local_region = "ams";
  s->networks = {{kAcme, "acme", "default"}, {kBeta, "beta", "default"}};
  uint32_t web = AddApp(*s, "web", "acme", kAcme);
  AddFlycast(*s, web, kAcme, 1);
  AddMachine(*s, web, "148e123a1b2c01", "ams", "app", MachineRunState::kStarted, 0x101);
  AddMachine(*s, web, "148e123a1b2c02", "fra", "app", MachineRunState::kStarted, 0x102);
  AddMachine(*s, web, "148e123a1b2c03", "ams", "app", MachineRunState::kStopped, 0x103);
  AddMachine(*s, web, "148e123a1b2c04", "iad", "worker", MachineRunState::kStarted, 0x104);
  uint32_t api = AddApp(*s, "api", "acme", kAcme);
  AddFlycast(*s, api, kAcme, 2);
  AddFlycast(*s, api, kBeta, 9);
  AddMachine(*s, api, "2a2a2a2a2a2a01", "fra", "app", MachineRunState::kStarted, 0x201);
  uint32_t idle = AddApp(*s, "idle", "acme", kAcme);
  AddFlycast(*s, idle, kAcme, 3);
  AddMachine(*s, idle, "3b3b3b3b3b3b01", "ams", "app", MachineRunState::kStopped, 0x301);
  uint32_t db = AddApp(*s, "db", "beta", kBeta);
  AddFlycast(*s, db, kBeta, 1);
  AddMachine(*s, db, "4c4c4c4c4c4c01", "ams", "app", MachineRunState::kStarted, 0x401);
  s->Index();
  return s;
}

// `napps` apps "app<i>" on one network, each with a flycast address and `machines` started
// machines (benchmarks; the first four apps are what the small benchmark serves).
inline std::shared_ptr<Snapshot> ManyApps(int napps, int machines = 1) {
  auto s = std::make_shared<Snapshot>();
  s->revision = 1;
  s->local_region = "ams";
  s->networks = {{kAcme, "acme", "default"}};
  const char* regions[] = {"ams", "fra", "iad", "sjc"};
  for (int i = 0; i < napps; ++i) {
    uint32_t a = AddApp(*s, "app" + std::to_string(i), "acme", kAcme);
    AddFlycast(*s, a, kAcme, static_cast<uint32_t>(i + 1));
    for (int m = 0; m < machines; ++m) {
      char id[32];
      std::snprintf(id, sizeof id, "%08x%06x", i, m);
      AddMachine(*s, a, id, regions[m % 4], "app", MachineRunState::kStarted, static_cast<uint32_t>(i * 16 + m + 1));
    }
  }
  s->Index();
  return s;
}

inline std::vector<uint8_t> MakeQuery(const std::string& name, uint16_t type, bool edns = true, uint16_t udp = 1232,
                                      uint16_t id = 0x1234) {
  Message m;
  m.header.id = id;
  m.header.flags = kFlagRD;
  Question q;
  q.name.FromText(name);
  q.type = type;
  q.klass = kClassIN;
  m.questions.push_back(q);
  if (edns) {
    Record opt;
    opt.name.FromText(".");
    opt.type = kTypeOPT;
    opt.klass = udp;
    m.additional.push_back(opt);
  }
  std::vector<uint8_t> out;
  BuildMessage(m, &out);
  return out;
}

struct Answer {
  Outcome outcome;
  Message msg;
  bool parsed = false;
  size_t size = 0;
  std::vector<std::string> Aaaa() const {
    std::vector<std::string> r;
    for (const auto& rr : msg.answers)
      if (rr.type == kTypeAAAA && rr.rdata.size() == 16) {
        Ip6 a;
        std::copy(rr.rdata.begin(), rr.rdata.end(), a.b.begin());
        r.push_back(a.ToString());
      }
    return r;
  }
  // TXT strings of the first TXT answer, concatenated, and the number of strings.
  std::string Txt(int* nstrings = nullptr) const {
    std::string r;
    int k = 0;
    for (const auto& rr : msg.answers) {
      if (rr.type != kTypeTXT) continue;
      for (size_t i = 0; i < rr.rdata.size(); i += 1 + rr.rdata[i], ++k)
        r.append(reinterpret_cast<const char*>(rr.rdata.data() + i + 1), rr.rdata[i]);
      break;
    }
    if (nstrings) *nstrings = k;
    return r;
  }
  uint8_t rcode() const { return msg.header.rcode(); }
  bool HasSoaAuthority() const { return msg.authority.size() == 1 && msg.authority[0].type == kTypeSOA; }
};

inline Answer Ask(const Zone* z, ClientView v, const std::vector<uint8_t>& query, ResolveOptions opt = {}) {
  Answer a;
  Query q;
  ParseStatus st = ParseQuery(query.data(), query.size(), &q);
  std::vector<uint8_t> out(kMaxMessage);
  a.size = Resolve(z, v, st, q, query.data(), query.size(), opt, out.data(), out.size(), &a.outcome);
  if (a.size) a.parsed = ParseMessage(out.data(), a.size, &a.msg);
  return a;
}

inline Answer Ask(const Zone* z, ClientView v, const std::string& name, uint16_t type, ResolveOptions opt = {}) {
  return Ask(z, v, MakeQuery(name, type), opt);
}

inline ClientView Net(uint32_t n) { return ClientView{ClientView::kNetwork, n}; }
inline ClientView Host() { return ClientView{ClientView::kHost, 0}; }

}  // namespace privcast::dns::dnstest
