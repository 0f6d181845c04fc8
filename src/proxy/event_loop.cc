#include "proxy/event_loop.h"

#include "common/log.h"

namespace privcast::proxy {

void EventLoop::OnRunStart() {
  if (!batch_sends_) return;
  // The ring belongs to this thread (SendBatch is single-issuer).
  Status st = sends_.Init();
  if (!st.ok())
    log::Warn("proxy", "io_uring unavailable: writes go out one send() at a time", {{"error", st.ToString()}});
}

}  // namespace privcast::proxy
