#include "store/etcd/host_registration.h"

#include <cstdio>
#include <nlohmann/json.hpp>

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
  PC_RETURN_IF_ERROR(r->Register());
  r->renewer_ = std::thread([p = r.get()] { p->RenewLoop(); });
  return r;
}

Status HostRegistration::Register() {
  PC_ASSIGN_OR_RETURN(int64_t lease, etcd_->GrantLease(ttl_));
  PC_RETURN_IF_ERROR(etcd_->PutWithLease(LiveKey(host_.id), EncodeLiveHost(host_), lease).status());
  {
    MutexLock l(&mu_);
    lease_ = lease;
    lost_ = false;
  }
  // The loss (the lease expired during an etcd outage longer than the TTL) is reported on the
  // keep-alive thread, which is about to end: hand it to renewer_.
  etcd_->KeepAlive(lease, ttl_, [this] {
    {
      MutexLock l(&mu_);
      lost_ = true;
    }
    cv_.NotifyAll();
  });
  return Status();
}

void HostRegistration::RenewLoop() {
  MutexLock l(&mu_);
  while (!stop_) {
    while (!stop_ && !lost_) cv_.Wait(&mu_);
    if (stop_) return;
    l.Unlock();
    log::Warn("store", "host lease lost; registering again", {{"host_id", static_cast<uint64_t>(host_.id)}});
    Status st = Register();
    l.Lock();
    if (st.ok()) continue;
    auto retry_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (!stop_ && cv_.WaitUntil(&mu_, retry_at)) {
    }
  }
}

int64_t HostRegistration::lease() const {
  MutexLock l(&mu_);
  return lease_;
}

HostRegistration::~HostRegistration() {
  {
    MutexLock l(&mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  if (renewer_.joinable()) renewer_.join();
  (void)etcd_->RevokeLease(lease());
}

}  // namespace privcast::store
