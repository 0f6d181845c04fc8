// The sessions' side of fly-replay (proxy/replay.h): HttpSession and H2Stream keep the request
// they sent (head + body up to kReplayBodyLimit) until the response head; when that head carries
// `fly-replay` they come here instead of answering the client. Kept apart from the sessions'
// own files so that the replay logic reads in one place.
#include <cstdio>

#include "proxy/h2_stream.h"
#include "proxy/http_session.h"
#include "proxy/replay.h"

namespace privcast::proxy {

// The app's answer is dropped (its connection reset: the rest of that response is not wanted),
// the answering machine's lease released, and the kept bytes (with fly-replay-src) go out again
// to wherever routing picks for the directive.
bool HttpSession::Replay(std::string_view value) {
  Lease& L = WantsReqLease() ? up_lease_ : conn_lease_;
  std::string v(value);  // points into uin_, dropped below
  std::shared_ptr<MachineState> answered = L.st;
  bool kept = replay_keep_;
  replay_keep_ = false;
  DropUpstream(false);  // the rest of the app's answer is not wanted
  w->Release(L, rs->snap->apps[app_index].name);
  std::string src;
  ReplayFailure f = kept ? PrepareReplay(this, v, answered.get(), &src)
                         : ReplayFailure{502, "request too large to replay"};
  if (f.status) {
    w->http_502.fetch_add(1, std::memory_order_relaxed);
    char extra[96];
    std::snprintf(extra, sizeof extra, "Privcast-Replay-Error: %s\r\n", f.reason);
    SendError(f.status, extra);
    return false;
  }
  w->replays.fetch_add(1, std::memory_order_relaxed);
  std::string bytes = WithReplaySource(uout_.view(), src);
  uout_.Consume(uout_.size());
  uout_.Append(w->pool(), bytes);
  uout_written_ = 0;
  replay_keep_ = true;
  resp_started_ = resp_head_done_ = resp_done_ = false;
  resp_parser_.Reset();
  attempts_ = 0;
  phase_ = Phase::kRouting;
  w->Route(this);
  return false;
}

// fly-replay (proxy/replay.h): the kept request (head_: head + body sent) goes out again, routed
// to the directive's target; the answering app's response is dropped.
bool H2Stream::Replay(std::string_view value) {
  std::string v(value);  // points into uin_, dropped below
  std::shared_ptr<MachineState> answered = lease_.st;
  bool kept = replay_keep_;
  DropUp(false);
  ReleaseLease();
  resp_parser_.Reset();
  std::string src;
  ReplayFailure f = kept ? PrepareReplay(this, v, answered.get(), &src)
                         : ReplayFailure{502, "request too large to replay"};
  if (!f.status && svc->h2_backend) f = {502, "replay to an h2_backend service"};
  if (f.status) {
    w->http_502.fetch_add(1, std::memory_order_relaxed);
    SendError(f.status);
    return false;
  }
  w->replays.fetch_add(1, std::memory_order_relaxed);
  head_.assign(WithReplaySource(head_, src));
  head_written_ = 0;
  resp_started_ = false;
  attempts_ = 0;
  phase_ = Phase::kRouting;
  w->Route(this);
  return false;
}

void H2Stream::KeepForReplay(size_t n) {
  if (head_.size() + n > kReplayBodyLimit + 64 * 1024) {
    replay_keep_ = false;  // too large to replay
    return;
  }
  head_.append(uout_.data(), n);
  head_written_ += n;
}

}  // namespace privcast::proxy
