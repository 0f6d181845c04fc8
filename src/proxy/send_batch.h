// SendBatch: the writes of one event-loop turn, issued together by one io_uring_enter
// (docs/adr/0006-batched-writes.md).
//
// Why: the proxy shares its core with the apps it forwards to. Each send() that wakes an app
// on the same core is a syscall exit at which the kernel may switch to that app, serve one
// request, and switch back; with every write of a turn in one io_uring_enter the app wakes once
// per turn and reads its requests in one go. In the keep-alive benchmark this halves the
// proxy's context switches and is most of the distance between a readiness loop and the floor.
//
// Model: a writer (one direction of one session) calls Queue(); at the end of the turn the loop
// calls Flush(), which asks every queued writer what to send *now* (Prepare: the fd and up to
// two buffers, read from the session's state at that moment, so buffers may move or grow between
// Queue and Flush), submits all of them, and hands each result to Done() (bytes written, or
// -errno). Sends carry MSG_DONTWAIT: a full socket completes at once with -EAGAIN (or a short
// count) exactly like a non-blocking send(), and the writer waits for its EPOLLOUT edge as
// before; nothing ever completes later, so no buffer is referenced after Flush returns.
// Writers queued by Done() callbacks go into the next Flush.
//
// Writers' sockets are non-blocking (every proxy socket is): a lone writer is sent directly.
// Ownership: writers are not owned; a writer that dies must Cancel() first (after Cancel its
// Done is never called). Thread-safety: one thread only, from Init to Shutdown (the ring is
// SINGLE_ISSUER); outside that window enabled() is false and writers send() directly.
// Without io_uring (old kernel, io_uring_disabled, seccomp) Init fails and callers send()
// directly; enabled() tells which.
#pragma once

#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "common/result.h"

namespace privcast::proxy {

class BatchedWriter {
 public:
  virtual ~BatchedWriter() = default;
  // The bytes to send now: the fd, up to two buffers (iov[0] may be empty) and send flags to
  // add (*flags starts at 0; MSG_MORE, say). False = nothing to send any more (the writer
  // drained, closed or lost its socket since Queue).
  virtual bool Prepare(int* fd, iovec iov[2], int* flags) = 0;
  // The send's result: bytes written (maybe short) or -errno (-EAGAIN: the socket is full).
  virtual void Done(ssize_t result) = 0;

 private:
  friend class SendBatch;
  enum class Where : unsigned char { kNone, kQueued, kFlushing, kInFlight };
  Where where_ = Where::kNone;
  bool again_ = false;  // queued while in flight: queue again after Done
  int slot_ = -1;       // index in the list `where_` names
};

class SendBatch {
 public:
  SendBatch() = default;
  ~SendBatch();
  SendBatch(const SendBatch&) = delete;
  SendBatch& operator=(const SendBatch&) = delete;

  // Sets up the ring, on the thread that will use it. An error means io_uring is not usable
  // here; the batch stays disabled.
  Status Init(unsigned entries = 256);
  // Flushes what is queued and closes the ring, on the same thread; enabled() is false after.
  void Shutdown();
  bool enabled() const { return ring_ok_; }

  void Queue(BatchedWriter* w);   // idempotent while queued
  void Cancel(BatchedWriter* w);  // no-op when not queued or in flight
  bool empty() const { return live_ == 0; }

  // Issues every queued writer's send (one io_uring_enter per `entries` writers; a lone
  // writer gets a plain send()) and delivers the results. Returns the number of sends issued.
  size_t Flush();

 private:
  size_t FlushOne();
  io_uring ring_{};
  bool ring_ok_ = false;
  unsigned entries_ = 0;
  std::vector<BatchedWriter*> queue_;            // for the next Flush; null = cancelled
  size_t live_ = 0;                              // non-null entries in queue_
  std::vector<BatchedWriter*> flushing_;         // taken by the running Flush, not prepared yet
  std::vector<BatchedWriter*> inflight_;         // submitted, result not delivered yet
  std::vector<msghdr> msgs_;                     // per inflight slot (two-buffer sends)
  std::vector<iovec> iovs_;                      // 2 per inflight slot
  std::vector<std::pair<size_t, int>> results_;  // (inflight slot, cqe res) of one chunk
};

}  // namespace privcast::proxy
