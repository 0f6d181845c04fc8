// Forwarder: the DNS server's `forward` (CoreDNS keeps it as its own plugin too): queries for
// names outside our zones go to the upstream resolvers of resolv.conf (or ServerOptions::
// upstreams), and their answers come back to the client through the server.
//
// What it owns: the upstream set (one connected UDP socket each, registered on the server's
// loop; resolv.conf re-read every resolv_conf_check_interval when it changed), the in-flight
// table (65 536 slots keyed by our random query id; one try per upstream, forward_timeout
// each, then SERVFAIL), the per-network fairness (dns/quota.h: REFUSED beyond a network's
// queries in flight or per second) and the per-network negative/SERVFAIL cache
// (dns/neg_cache.h), plus the forwarding metrics.
//
// Time: every deadline, the rate buckets and the cache read the Clock given (the loop's);
// timeouts are loop timers (one armed at a time: deadlines are FIFO, the timeout is fixed), so
// with a FakeClock nothing expires until the test advances it.
//
// Thread-safety: everything runs on the loop thread (Init also before the loop runs; the entry
// points assert it: ForwardOrAnswer, FailAll, MaybeReloadResolvConf, PublishStats, the upstream
// sockets' and the timers' callbacks), except upstreams() and AppendMetrics(), which read a copy
// published under mu_ (GUARDED_BY; by SetUpstreams and PublishStats, loop thread).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/fd.h"
#include "common/mutex.h"
#include "common/result.h"
#include "common/thread_annotations.h"
#include "dns/neg_cache.h"
#include "dns/quota.h"
#include "dns/resolver.h"
#include "dns/server.h"
#include "dns/sock.h"
#include "dns/wire.h"
#include "loop/event_loop.h"

namespace privcast::dns {

// Where the answer to a forwarded query goes (opaque to the forwarder; the server's reply path).
struct ReplyTo {
  bool tcp = false;
  int listener = 0;      // UDP: index of the listener it arrived on
  uint32_t conn_id = 0;  // TCP: the connection
  Sock client;           // UDP: the client's address
};

// The largest reply a client takes: TCP 64 KiB; UDP its EDNS size capped at ours, else 512.
size_t ReplyLimit(const Query& q, bool tcp, uint16_t edns_udp_size);
// A reply with `rcode` and the question of `msg` (0 when msg has no parsable header).
size_t ErrorReply(uint8_t rcode, const uint8_t* msg, size_t len, bool tcp, uint16_t edns_udp_size, uint8_t* out,
                  size_t cap);

class Forwarder {
 public:
  // Called on the loop thread with each answer to a forwarded query (the upstream's, or our
  // SERVFAIL), with the client's query id; qtype and rcode are for the server's counters.
  using Deliver = std::function<void(const ReplyTo& to, const uint8_t* msg, size_t len, uint16_t qtype, uint8_t rcode)>;

  // `opts` (the server's) must outlive the forwarder; `loop` and `clock` too.
  Forwarder(const ServerOptions& opts, loop::EventLoop* loop, Clock* clock, Deliver deliver);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Opens the upstreams (opts.upstreams, or resolv.conf's; none when !opts.forward), skipping
  // any equal to one of `own` (the server's endpoints: a loop), and schedules the resolv.conf
  // check. Before the loop runs.
  Status Init(const std::vector<Endpoint>& own);
  bool has_upstream() const { return !ups_.empty(); }

  // A query the resolver wants forwarded: answered from the negative cache, refused by its
  // view's quota, or handed to an upstream (o->action = kForward, returns 0; the answer comes
  // later through Deliver). Otherwise returns the reply's size in out[0..cap) and sets *o.
  size_t ForwardOrAnswer(const uint8_t* msg, size_t len, const Query& q, uint32_t view_key, const ReplyTo& to,
                         uint8_t* out, size_t cap, Outcome* o);
  // Answers every query in flight SERVFAIL (shutdown) and cancels the timers.
  void FailAll();
  // Re-reads resolv.conf now if it changed (the periodic check calls this).
  void MaybeReloadResolvConf();

  // Copies the quota's refusals and the cache size for AppendMetrics (loop thread).
  void PublishStats() EXCLUDES(mu_);
  // Any thread.
  std::vector<Endpoint> upstreams() const EXCLUDES(mu_);
  void AppendMetrics(std::string* s) const EXCLUDES(mu_);  // the forwarding block of privcast_dns_* lines

 private:
  struct Upstream;
  struct Pending {
    bool used = false;
    uint32_t gen = 0;
    uint16_t client_id = 0;
    int upstream = 0;
    int tries = 0;
    ReplyTo to;
    std::vector<uint8_t> query;  // with our id
    size_t question_end = 0;
    uint32_t view = 0;  // ForwardQuota / NegativeCache key of the client's view
  };
  struct Deadline {
    MonoTime at;
    uint16_t id;
    uint32_t gen;
  };

  bool FromResolvConf() const { return opts_.forward && opts_.upstreams.empty(); }
  std::vector<Endpoint> ReadResolvConf();
  Status SetUpstreams(const std::vector<Endpoint>& up) EXCLUDES(mu_);
  bool Start(const uint8_t* msg, size_t len, const Query& q, const ReplyTo& to, uint32_t view);
  bool SendToUpstream(uint16_t id);
  void OnUpstream(int ui);
  void OnDeadlines();
  void ArmDeadlineTimer();
  void ScheduleResolvCheck();
  // Answers a pending forward SERVFAIL; `remember`: every upstream failed for it (the
  // negative cache keeps that), as opposed to a reload or shutdown.
  void FailPending(uint16_t id, bool remember);
  void Finish(Pending& p);
  uint64_t Rand();

  const ServerOptions& opts_;
  loop::EventLoop* loop_;
  Clock* clock_;
  Deliver deliver_;
  std::vector<std::unique_ptr<Upstream>> ups_;
  std::vector<Endpoint> own_;
  std::vector<Pending> pending_ = std::vector<Pending>(65536);
  size_t npending_ = 0;
  std::deque<Deadline> deadlines_;  // FIFO: every try gets the same timeout
  loop::EventLoop::TimerId deadline_timer_ = 0;
  loop::EventLoop::TimerId resolv_timer_ = 0;
  uint32_t gen_counter_ = 0;
  uint64_t rng_ = 0;
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(kMaxMessage + 2);
  struct FileId {
    uint64_t dev = 0, ino = 0;
    int64_t mtime_ns = 0, size = -1;
    bool operator==(const FileId&) const = default;
  };
  FileId resolv_id_;
  ForwardQuota quota_;
  NegativeCache cache_;
  uint64_t refusals_published_ = 0;

  Counter forwarded_, failures_, timeouts_, refused_, cache_hits_;
  std::atomic<uint64_t> cache_entries_{0};
  mutable Mutex mu_;
  std::vector<ForwardQuota::Refusals> refusals_public_ GUARDED_BY(mu_);
  std::vector<Endpoint> ups_public_ GUARDED_BY(mu_);
};

}  // namespace privcast::dns
