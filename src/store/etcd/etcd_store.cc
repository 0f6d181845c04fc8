#include "store/etcd/etcd_store.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "common/file.h"
#include "common/mutex.h"
#include "store/etcd/etcd_rpc.grpc.pb.h"

namespace privcast::store {

std::string PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(end.back());
    if (c < 0xff) {
      ++c;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // etcd: every key >= key
}

namespace {

namespace pb = etcdserverpb;
using Clock = std::chrono::system_clock;  // gRPC deadlines are system_clock time points

constexpr std::string_view kLocal = "/local/";

// A TLS file named on the command line: a bad path is the user's input error.
Result<std::string> ReadTlsFile(const std::string& path, const char* what) {
  auto text = ReadFile(path);
  if (!text.ok()) return InvalidArgument(std::string("cannot read etcd ") + what + " file " + path);
  return text;
}

// grpc status → our Status; the message names the endpoints when etcd cannot be reached.
Status FromGrpc(const grpc::Status& s, const std::string& endpoints, const char* what) {
  std::string msg = s.error_message();
  // etcd sends both ErrCompacted and ErrFutureRev as OUT_OF_RANGE; the message tells them apart.
  if (msg.find("compacted") != std::string::npos) return FailedPrecondition(std::string("etcd ") + what + ": " + msg);
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      return Status();
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:  // "required revision is a future revision"
      return InvalidArgument(std::string("etcd ") + what + ": " + msg);
    case grpc::StatusCode::FAILED_PRECONDITION:
      return FailedPrecondition(std::string("etcd ") + what + ": " + msg);
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return Unavailable("etcd unavailable (" + endpoints + "): " + what + ": " + msg);
    default:
      return Internal(std::string("etcd ") + what + ": " + msg);
  }
}

bool Retryable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

class EtcdStoreImpl : public EtcdStore {
 public:
  EtcdStoreImpl(EtcdOptions opts, const std::shared_ptr<grpc::ChannelCredentials>& creds)
      : opts_(std::move(opts)), describe_(DescribeEndpoints(opts_.endpoints)) {
    for (const EtcdEndpoint& ep : opts_.endpoints) {
      grpc::ChannelArguments args;
      // Fail fast while an endpoint is down instead of backing off for up to 2 minutes.
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
      // Find a dead member behind an idle connection; etcd refuses pings more often than every
      // 5 s (--grpc-keepalive-min-time) with GOAWAY "too_many_pings".
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
      args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 3000);
      args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
      Conn c;
      c.channel = grpc::CreateCustomChannel(ep.Target(), creds, args);
      c.kv = pb::KV::NewStub(c.channel);
      c.watch = pb::Watch::NewStub(c.channel);
      c.lease = pb::Lease::NewStub(c.channel);
      conns_.push_back(std::move(c));
    }
  }

  ~EtcdStoreImpl() override {
    {
      MutexLock l(&mu_);
      stopping_ = true;
      if (watch_ctx_) watch_ctx_->TryCancel();
      for (auto& [id, ka] : keepalives_)
        if (ka->ctx) ka->ctx->TryCancel();
    }
    cv_.NotifyAll();
    if (watcher_.joinable()) watcher_.join();
    std::map<int64_t, std::shared_ptr<KeepAliveState>> kas;
    {
      MutexLock l(&mu_);
      kas.swap(keepalives_);
    }
    for (auto& [id, ka] : kas)
      if (ka->thread.joinable()) ka->thread.join();
  }

  Status Start() {
    PC_ASSIGN_OR_RETURN(int64_t rev, Revision());
    {
      MutexLock l(&mu_);
      known_ = rev;
    }
    watcher_ = std::thread([this] { WatchLoop(); });
    return Status();
  }

  // --- key mapping ---
  std::string ToEtcd(const std::string& k) const {
    if (!opts_.local_id.empty() && k.starts_with(kLocal))
      return opts_.key_prefix + std::string(kLocal) + opts_.local_id + "/" + k.substr(kLocal.size());
    return opts_.key_prefix + k;
  }
  // false = not ours to see (another host's local key).
  bool FromEtcd(const std::string& ek, std::string* k) const {
    std::string_view rest(ek);
    rest.remove_prefix(std::min(rest.size(), opts_.key_prefix.size()));
    if (!opts_.local_id.empty() && rest.starts_with(kLocal)) {
      std::string mine = std::string(kLocal) + opts_.local_id + "/";
      if (!rest.starts_with(mine)) return false;
      *k = std::string(kLocal) + std::string(rest.substr(mine.size()));
      return true;
    }
    *k = std::string(rest);
    return true;
  }
  std::string RangeStart(const std::string& prefix) const {
    std::string k = ToEtcd(prefix);
    return k.empty() ? std::string(1, '\0') : k;
  }
  std::string RangeEnd(const std::string& prefix) const {
    std::string k = ToEtcd(prefix);
    return PrefixEnd(k);
  }

  bool ToKv(const pb::KeyValue& in, KeyValue* out) const {
    if (!FromEtcd(in.key(), &out->key)) return false;
    out->value = in.value();
    out->create_revision = in.create_revision();
    out->mod_revision = in.mod_revision();
    out->version = in.version();
    return true;
  }

  // --- calls with endpoint fail-over ---
  template <typename Fn>
  Status Call(const char* what, Fn fn) {
    grpc::Status last;
    size_t n = conns_.size();
    size_t start = current_.load();
    for (size_t i = 0; i < n; ++i) {
      size_t idx = (start + i) % n;
      grpc::ClientContext ctx;
      ctx.set_deadline(Clock::now() + opts_.timeout / static_cast<int>(std::max<size_t>(1, std::min<size_t>(n, 3))));
      last = fn(conns_[idx], &ctx);
      if (last.ok()) {
        current_.store(idx);
        return Status();
      }
      if (!Retryable(last)) break;
    }
    return FromGrpc(last, describe_, what);
  }

  void SeeRevision(int64_t rev) {
    {
      MutexLock l(&mu_);
      if (rev <= known_) return;
      known_ = rev;
    }
    cv_.NotifyAll();
  }

  // --- Store ---
  Result<std::optional<KeyValue>> Get(const std::string& key) override {
    pb::RangeRequest req;
    req.set_key(ToEtcd(key));
    pb::RangeResponse resp;
    PC_RETURN_IF_ERROR(Call("get", [&](Conn& c, grpc::ClientContext* ctx) { return c.kv->Range(ctx, req, &resp); }));
    SeeRevision(resp.header().revision());
    if (resp.kvs_size() == 0) return std::optional<KeyValue>();
    KeyValue kv;
    if (!ToKv(resp.kvs(0), &kv)) return std::optional<KeyValue>();
    return std::optional<KeyValue>(std::move(kv));
  }

  Result<RangeResult> Range(const std::string& prefix) override {
    pb::RangeRequest req;
    req.set_key(RangeStart(prefix));
    req.set_range_end(RangeEnd(prefix));
    pb::RangeResponse resp;
    PC_RETURN_IF_ERROR(Call("range", [&](Conn& c, grpc::ClientContext* ctx) { return c.kv->Range(ctx, req, &resp); }));
    SeeRevision(resp.header().revision());
    RangeResult out;
    out.revision = resp.header().revision();
    out.kvs.reserve(resp.kvs_size());
    for (const pb::KeyValue& in : resp.kvs()) {
      KeyValue kv;
      if (ToKv(in, &kv)) out.kvs.push_back(std::move(kv));
    }
    return out;
  }

  void AddOp(const Op& op, pb::RequestOp* out) const {
    switch (op.kind) {
      case Op::Kind::kPut: {
        auto* p = out->mutable_request_put();
        p->set_key(ToEtcd(op.key));
        p->set_value(op.value);
        break;
      }
      case Op::Kind::kDelete:
        out->mutable_request_delete_range()->set_key(ToEtcd(op.key));
        break;
      case Op::Kind::kDeletePrefix: {
        auto* d = out->mutable_request_delete_range();
        d->set_key(RangeStart(op.key));
        d->set_range_end(RangeEnd(op.key));
        break;
      }
    }
  }

  void AddCompare(const Compare& c, pb::Compare* out) const {
    out->set_key(ToEtcd(c.key));
    switch (c.kind) {
      case Compare::Kind::kExists:
        out->set_target(pb::Compare::CREATE);
        out->set_result(pb::Compare::GREATER);
        out->set_create_revision(0);
        break;
      case Compare::Kind::kNotExists:
        out->set_target(pb::Compare::CREATE);
        out->set_result(pb::Compare::EQUAL);
        out->set_create_revision(0);
        break;
      case Compare::Kind::kModRevisionEq:
        out->set_target(pb::Compare::MOD);
        out->set_result(pb::Compare::EQUAL);
        out->set_mod_revision(c.revision);
        break;
      case Compare::Kind::kValueEq:
        out->set_target(pb::Compare::VALUE);
        out->set_result(pb::Compare::EQUAL);
        out->set_value(c.value);
        break;
      case Compare::Kind::kPrefixModRevisionLe:
        out->set_key(RangeStart(c.key));
        out->set_range_end(RangeEnd(c.key));
        out->set_target(pb::Compare::MOD);
        out->set_result(pb::Compare::LESS);
        out->set_mod_revision(c.revision + 1);
        break;
    }
  }

  Result<TxnResponse> Txn(const TxnRequest& txn) override {
    pb::TxnRequest req;
    for (const Compare& c : txn.compares) AddCompare(c, req.add_compare());
    for (const Op& op : txn.success) AddOp(op, req.add_success());
    for (const Op& op : txn.failure) AddOp(op, req.add_failure());
    pb::TxnResponse resp;
    PC_RETURN_IF_ERROR(Call("txn", [&](Conn& c, grpc::ClientContext* ctx) { return c.kv->Txn(ctx, req, &resp); }));
    SeeRevision(resp.header().revision());
    return TxnResponse{resp.succeeded(), resp.header().revision()};
  }

  Result<int64_t> Revision() override {
    // A count-only range of one key costs nothing and carries the store revision.
    pb::RangeRequest req;
    req.set_key(opts_.key_prefix + std::string(1, '\0'));
    req.set_count_only(true);
    pb::RangeResponse resp;
    PC_RETURN_IF_ERROR(
        Call("revision", [&](Conn& c, grpc::ClientContext* ctx) { return c.kv->Range(ctx, req, &resp); }));
    SeeRevision(resp.header().revision());
    return resp.header().revision();
  }

  Result<std::vector<Event>> Changes(int64_t after, size_t limit) override {
    PC_ASSIGN_OR_RETURN(int64_t target, Revision());
    std::vector<Event> out;
    if (target <= after) return out;
    Conn& c = conns_[current_.load()];
    grpc::ClientContext ctx;
    ctx.set_deadline(Clock::now() + opts_.timeout);
    auto stream = c.watch->Watch(&ctx);
    // The whole keyspace, filtered here: every revision has at least one event in it, so the
    // stream has delivered all of (after, target] exactly when an event at `target` arrives.
    // (etcd 3.4 answers a progress request even before a watcher has caught up, so progress
    // notifications cannot tell that.)
    pb::WatchRequest create;
    auto* cr = create.mutable_create_request();
    cr->set_key(std::string(1, '\0'));
    cr->set_range_end(std::string(1, '\0'));
    cr->set_start_revision(after + 1);
    if (!stream->Write(create)) return FromGrpc(stream->Finish(), describe_, "watch");
    int64_t last_rev = after;
    pb::WatchResponse resp;
    bool done = false;
    while (!done && stream->Read(&resp)) {
      if (resp.compact_revision() > 0) {
        ctx.TryCancel();
        (void)stream->Finish();
        return FailedPrecondition("changes after revision " + std::to_string(after) +
                                  " were compacted (compacted up to " + std::to_string(resp.compact_revision()) +
                                  "); re-read everything");
      }
      if (resp.canceled()) {
        ctx.TryCancel();
        (void)stream->Finish();
        return Internal("etcd watch canceled: " + resp.cancel_reason());
      }
      for (const pb::Event& e : resp.events()) {
        int64_t rev = e.kv().mod_revision();
        if (rev != last_rev && (rev > target || (limit != 0 && out.size() >= limit))) {
          done = true;
          break;
        }
        last_rev = rev;
        if (rev >= target) done = true;  // the rest of this response is the same revision
        if (!e.kv().key().starts_with(opts_.key_prefix)) continue;
        Event ev;
        ev.type = e.type() == pb::Event::DELETE ? Event::Type::kDelete : Event::Type::kPut;
        if (!ToKv(e.kv(), &ev.kv)) continue;
        if (ev.type == Event::Type::kDelete) {
          ev.kv.value.clear();
          ev.kv.create_revision = 0;
          ev.kv.version = 0;
        }
        out.push_back(std::move(ev));
      }
    }
    ctx.TryCancel();
    grpc::Status st = stream->Finish();
    if (!done && !st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) return FromGrpc(st, describe_, "watch");
    if (!done) return Unavailable("etcd unavailable (" + describe_ + "): watch ended early");
    return out;
  }

  Result<int64_t> WaitForRevision(int64_t after, Duration timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    MutexLock l(&mu_);
    while (known_ <= after && !stopping_ && cv_.WaitUntil(&mu_, deadline)) {
    }
    return known_;
  }

  Status Compact(int64_t revision) override {
    pb::CompactionRequest req;
    req.set_revision(revision);
    pb::CompactionResponse resp;
    return Call("compact", [&](Conn& c, grpc::ClientContext* ctx) { return c.kv->Compact(ctx, req, &resp); });
  }

  // --- leases ---
  Result<int64_t> GrantLease(int64_t ttl) override {
    pb::LeaseGrantRequest req;
    req.set_ttl(ttl);
    pb::LeaseGrantResponse resp;
    PC_RETURN_IF_ERROR(
        Call("lease grant", [&](Conn& c, grpc::ClientContext* ctx) { return c.lease->LeaseGrant(ctx, req, &resp); }));
    if (!resp.error().empty()) return Internal("etcd lease grant: " + resp.error());
    return resp.id();
  }

  Result<int64_t> PutWithLease(const std::string& key, const std::string& value, int64_t lease) override {
    pb::TxnRequest req;
    auto* p = req.add_success()->mutable_request_put();
    p->set_key(ToEtcd(key));
    p->set_value(value);
    p->set_lease(lease);
    pb::TxnResponse resp;
    PC_RETURN_IF_ERROR(Call("put", [&](Conn& c, grpc::ClientContext* ctx) { return c.kv->Txn(ctx, req, &resp); }));
    SeeRevision(resp.header().revision());
    return resp.header().revision();
  }

  struct KeepAliveState {
    std::thread thread;
    std::unique_ptr<grpc::ClientContext> ctx;  // guarded by EtcdStoreImpl::mu_ (not expressible here)
  };

  void KeepAlive(int64_t lease, int64_t ttl, std::function<void()> on_lost) override {
    auto st = std::make_shared<KeepAliveState>();
    MutexLock l(&mu_);
    if (stopping_) return;
    keepalives_[lease] = st;
    st->thread = std::thread([this, lease, ttl, st, on_lost = std::move(on_lost)] {
      auto period = std::chrono::milliseconds(std::max<int64_t>(100, ttl * 1000 / 3));
      size_t idx = current_.load();
      while (true) {
        auto ctx = std::make_unique<grpc::ClientContext>();
        grpc::ClientContext* raw = ctx.get();
        {
          MutexLock l2(&mu_);
          if (stopping_ || !keepalives_.count(lease)) return;
          st->ctx = std::move(ctx);
        }
        auto stream = conns_[idx % conns_.size()].lease->LeaseKeepAlive(raw);
        pb::LeaseKeepAliveRequest req;
        req.set_id(lease);
        pb::LeaseKeepAliveResponse resp;
        while (stream->Write(req) && stream->Read(&resp)) {
          if (resp.ttl() <= 0) {  // expired: etcd answers TTL <= 0
            if (on_lost) on_lost();
            raw->TryCancel();
            (void)stream->Finish();
            return;
          }
          auto next = std::chrono::steady_clock::now() + period;
          MutexLock l2(&mu_);
          while (!stopping_ && keepalives_.count(lease) && cv_.WaitUntil(&mu_, next)) {
          }
          if (stopping_ || !keepalives_.count(lease)) {
            l2.Unlock();
            raw->TryCancel();
            (void)stream->Finish();
            return;
          }
        }
        (void)stream->Finish();
        ++idx;  // next endpoint
        if (SleepUnlessStopping(std::chrono::milliseconds(200))) return;
      }
    });
  }

  Status RevokeLease(int64_t lease) override {
    std::shared_ptr<KeepAliveState> st;
    {
      MutexLock l(&mu_);
      auto it = keepalives_.find(lease);
      if (it != keepalives_.end()) {
        st = it->second;
        keepalives_.erase(it);
        if (st->ctx) st->ctx->TryCancel();
      }
    }
    cv_.NotifyAll();
    if (st && st->thread.joinable()) st->thread.join();
    pb::LeaseRevokeRequest req;
    req.set_id(lease);
    pb::LeaseRevokeResponse resp;
    return Call("lease revoke",
                [&](Conn& c, grpc::ClientContext* ctx) { return c.lease->LeaseRevoke(ctx, req, &resp); });
  }

  std::string Describe() const override { return describe_; }

 private:
  struct Conn {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::KV::Stub> kv;
    std::unique_ptr<pb::Watch::Stub> watch;
    std::unique_ptr<pb::Lease::Stub> lease;
  };

  // The background watcher: every event in the namespace advances `known_` and wakes waiters.
  // Waits `d`, or less when stopping; true when stopping.
  bool SleepUnlessStopping(std::chrono::milliseconds d) EXCLUDES(mu_) {
    auto until = std::chrono::steady_clock::now() + d;
    MutexLock l(&mu_);
    while (!stopping_ && cv_.WaitUntil(&mu_, until)) {
    }
    return stopping_;
  }

  void WatchLoop() {
    size_t idx = current_.load();
    while (true) {
      auto ctx = std::make_unique<grpc::ClientContext>();
      grpc::ClientContext* raw = ctx.get();
      int64_t from;
      {
        MutexLock l(&mu_);
        if (stopping_) return;
        watch_ctx_ = std::move(ctx);
        from = known_ + 1;
      }
      auto stream = conns_[idx % conns_.size()].watch->Watch(raw);
      pb::WatchRequest create;
      auto* cr = create.mutable_create_request();
      cr->set_key(std::string(1, '\0'));  // everything: every revision bump wakes waiters
      cr->set_range_end(std::string(1, '\0'));
      cr->set_start_revision(from);
      cr->set_progress_notify(true);
      bool compacted = false;
      if (stream->Write(create)) {
        pb::WatchResponse resp;
        while (stream->Read(&resp)) {
          if (resp.compact_revision() > 0) {
            compacted = true;
            break;
          }
          if (resp.canceled()) break;
          int64_t rev = resp.header().revision();
          for (const pb::Event& e : resp.events()) rev = std::max(rev, e.kv().mod_revision());
          SeeRevision(rev);
        }
      }
      raw->TryCancel();
      (void)stream->Finish();
      {
        MutexLock l(&mu_);
        if (stopping_) return;
      }
      if (compacted) {
        // What we missed is gone: jump to now (waiters re-read everything when they wake).
        auto rev = Revision();
        if (rev.ok()) {
          MutexLock l(&mu_);
          known_ = std::max(known_, *rev);
        }
        cv_.NotifyAll();
        continue;
      }
      ++idx;
      if (SleepUnlessStopping(std::chrono::milliseconds(200))) return;
    }
  }

  const EtcdOptions opts_;
  const std::string describe_;
  std::vector<Conn> conns_;
  std::atomic<size_t> current_{0};

  Mutex mu_;
  CondVar cv_;
  int64_t known_ GUARDED_BY(mu_) = 0;  // newest revision seen
  bool stopping_ GUARDED_BY(mu_) = false;
  std::unique_ptr<grpc::ClientContext> watch_ctx_ GUARDED_BY(mu_);
  std::map<int64_t, std::shared_ptr<KeepAliveState>> keepalives_ GUARDED_BY(mu_);
  std::thread watcher_;
};

}  // namespace

Result<std::unique_ptr<EtcdStore>> OpenEtcdStore(const EtcdOptions& opts) {
  if (opts.endpoints.empty()) return InvalidArgument("etcd: no endpoints");
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (opts.cacert_file.empty() && opts.cert_file.empty() && opts.key_file.empty()) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    if (opts.cert_file.empty() != opts.key_file.empty())
      return InvalidArgument("etcd TLS: --etcd-cert and --etcd-key go together");
    grpc::SslCredentialsOptions so;
    if (!opts.cacert_file.empty()) {
      PC_ASSIGN_OR_RETURN(so.pem_root_certs, ReadTlsFile(opts.cacert_file, "CA certificate"));
    }
    if (!opts.cert_file.empty()) {
      PC_ASSIGN_OR_RETURN(so.pem_cert_chain, ReadTlsFile(opts.cert_file, "client certificate"));
      PC_ASSIGN_OR_RETURN(so.pem_private_key, ReadTlsFile(opts.key_file, "client key"));
    }
    creds = grpc::SslCredentials(so);
  }
  auto s = std::make_unique<EtcdStoreImpl>(opts, std::move(creds));
  PC_RETURN_IF_ERROR(s->Start());
  return std::unique_ptr<EtcdStore>(std::move(s));
}

}  // namespace privcast::store
