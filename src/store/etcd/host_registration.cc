#include "store/etcd/host_registration.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/log.h"

namespace privcast::store {

std::string LiveKey(uint32_t host_id) {
  char buf[16];
  snprintf(buf, sizeof buf, "%08x", host_id);
  return std::string(kLivePrefix) + buf;
}

std::string EncodeLiveHost(const LiveHost& h) {
  nlohmann::json j = {{"id", h.id}, {"region", h.region}, {"underlay", h.underlay}, {"hostname", h.hostname}};
  return j.dump();
}

Result<LiveHost> DecodeLiveHost(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("live host record is not a JSON object");
  LiveHost h;
  auto num = j.find("id");
  if (num == j.end() || !num->is_number_unsigned()) return InvalidArgument("live host record without a numeric id");
  h.id = num->get<uint32_t>();
  for (auto [name, out] : {std::pair{"region", &h.region}, {"underlay", &h.underlay}, {"hostname", &h.hostname}}) {
    auto it = j.find(name);
    if (it != j.end() && it->is_string()) *out = it->get<std::string>();
  }
  return h;
}

Result<std::vector<LiveHost>> LiveHosts(Store* store) {
  PC_ASSIGN_OR_RETURN(RangeResult r, store->Range(kLivePrefix));
  std::vector<LiveHost> out;
  for (const KeyValue& kv : r.kvs) {
    auto h = DecodeLiveHost(kv.value);
    if (h.ok()) out.push_back(std::move(h).value());
  }
  return out;
}

Result<std::unique_ptr<HostRegistration>> HostRegistration::Start(EtcdStore* etcd, LiveHost host, int64_t ttl) {
  std::unique_ptr<HostRegistration> r(new HostRegistration());
  r->etcd_ = etcd;
  r->host_ = std::move(host);
  r->ttl_ = ttl;
  PC_ASSIGN_OR_RETURN(int64_t lease, etcd->GrantLease(ttl));
  PC_RETURN_IF_ERROR(etcd->PutWithLease(LiveKey(r->host_.id), EncodeLiveHost(r->host_), lease).status());
  r->lease_->store(lease);
  r->Renew();
  return r;
}

void HostRegistration::Renew() {
  // On loss (etcd was unreachable for longer than the TTL), register again from a fresh
  // thread: the keep-alive thread that reports the loss is about to end.
  EtcdStore* etcd = etcd_;
  LiveHost host = host_;
  int64_t ttl = ttl_;
  auto lease = lease_;
  auto alive = alive_;
  std::function<void()> on_lost;
  on_lost = [etcd, host, ttl, lease, alive]() {
    std::thread([etcd, host, ttl, lease, alive]() {
      log::Warn("store", "host lease lost; registering again", {{"host_id", static_cast<uint64_t>(host.id)}});
      while (alive->load()) {
        auto l = etcd->GrantLease(ttl);
        if (l.ok() && etcd->PutWithLease(LiveKey(host.id), EncodeLiveHost(host), *l).ok()) {
          lease->store(*l);
          // The next loss is handled by a new registration the daemon makes; keep it simple:
          // keep this lease alive without a loss handler (a second loss logs only).
          etcd->KeepAlive(*l, ttl, [id = host.id] {
            log::Error("store", "host lease lost again", {{"host_id", static_cast<uint64_t>(id)}});
          });
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    }).detach();
  };
  etcd->KeepAlive(lease->load(), ttl, on_lost);
}

HostRegistration::~HostRegistration() {
  alive_->store(false);
  (void)etcd_->RevokeLease(lease_->load());
}

}  // namespace privcast::store
