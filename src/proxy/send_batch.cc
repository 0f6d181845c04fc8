#include "proxy/send_batch.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "proxy/transport.h"  // SendV2: the direct path's one-or-two-buffer send

namespace privcast::proxy {

SendBatch::~SendBatch() { PC_CHECK(!ring_ok_); }  // the owning thread calls Shutdown()

Status SendBatch::Init(unsigned entries) {
  PC_CHECK(!ring_ok_);
  // Made and used by one thread (the loop's): SINGLE_ISSUER + DEFER_TASKRUN, so io_uring never
  // queues task work that would interrupt a thread (TIF_NOTIFY_SIGNAL turns a blocking call into
  // EINTR); COOP_TASKRUN where DEFER_TASKRUN is unknown (< 6.1). No SQPOLL (a kernel thread
  // spinning on a core the apps need), no IOPOLL (sockets).
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int r = io_uring_queue_init_params(entries, &ring_, &p);
  if (r == -EINVAL) {
    p = io_uring_params{};
    p.flags = IORING_SETUP_COOP_TASKRUN;
    r = io_uring_queue_init_params(entries, &ring_, &p);
  }
  if (r < 0) return ErrnoStatus("io_uring_queue_init", -r);
  ring_ok_ = true;
  entries_ = p.sq_entries;
  inflight_.reserve(entries_);
  results_.reserve(entries_);
  msgs_.resize(entries_);
  iovs_.resize(2 * size_t{entries_});
  return Status::Ok();
}

void SendBatch::Shutdown() {
  if (!ring_ok_) return;
  Flush();
  io_uring_queue_exit(&ring_);
  ring_ok_ = false;
}

// A turn with one write has nothing to batch: a plain send() is cheaper than preparing an SQE,
// entering and reaping, and it is the latency path (one connection at a time).
size_t SendBatch::FlushOne() {
  BatchedWriter* w = nullptr;
  for (BatchedWriter* q : queue_)
    if (q) w = q;
  queue_.clear();
  live_ = 0;
  w->where_ = BatchedWriter::Where::kNone;
  w->slot_ = -1;
  int fd = -1, flags = 0;
  iovec iov[2] = {};
  if (!w->Prepare(&fd, iov, &flags)) return 0;
  ssize_t n = SendV2(fd, static_cast<const char*>(iov[0].iov_base), iov[0].iov_len,
                     static_cast<const char*>(iov[1].iov_base), iov[1].iov_len, flags);
  w->Done(n >= 0 ? n : -errno);
  return 1;
}

void SendBatch::Queue(BatchedWriter* w) {
  switch (w->where_) {
    case BatchedWriter::Where::kQueued:
    case BatchedWriter::Where::kFlushing:  // will be prepared by the running Flush
      return;
    case BatchedWriter::Where::kInFlight:
      w->again_ = true;
      return;
    case BatchedWriter::Where::kNone:
      break;
  }
  w->where_ = BatchedWriter::Where::kQueued;
  w->slot_ = static_cast<int>(queue_.size());
  queue_.push_back(w);
  ++live_;
}

void SendBatch::Cancel(BatchedWriter* w) {
  switch (w->where_) {
    case BatchedWriter::Where::kNone:
      break;
    case BatchedWriter::Where::kQueued:
      queue_[w->slot_] = nullptr;
      --live_;
      break;
    case BatchedWriter::Where::kFlushing:
      flushing_[w->slot_] = nullptr;
      break;
    case BatchedWriter::Where::kInFlight:
      inflight_[w->slot_] = nullptr;
      break;
  }
  w->where_ = BatchedWriter::Where::kNone;
  w->again_ = false;
  w->slot_ = -1;
}

size_t SendBatch::Flush() {
  if (live_ == 0) return 0;
  PC_CHECK(ring_ok_ && flushing_.empty() && inflight_.empty());
  if (live_ == 1) return FlushOne();
  flushing_.swap(queue_);
  live_ = 0;
  for (BatchedWriter* w : flushing_)
    if (w) w->where_ = BatchedWriter::Where::kFlushing;
  size_t issued = 0;
  size_t next = 0;
  while (next < flushing_.size()) {
    // One chunk: prepare up to entries_ writers, submit them with one io_uring_enter.
    for (; next < flushing_.size() && inflight_.size() < entries_; ++next) {
      BatchedWriter* w = flushing_[next];
      if (!w) continue;
      flushing_[next] = nullptr;
      size_t k = inflight_.size();
      int fd = -1, extra = 0;
      iovec* iov = &iovs_[2 * k];
      iov[0] = iov[1] = iovec{};
      if (!w->Prepare(&fd, iov, &extra)) {
        w->where_ = BatchedWriter::Where::kNone;
        continue;
      }
      io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      PC_CHECK(sqe != nullptr);  // at most entries_ per submit
      // MSG_DONTWAIT: a full socket completes with -EAGAIN now instead of waiting in the ring,
      // so every result is delivered inside this Flush (and no buffer is used after it).
      const int flags = MSG_NOSIGNAL | MSG_DONTWAIT | extra;
      if (iov[0].iov_len == 0 || iov[1].iov_len == 0) {
        const iovec& one = iov[0].iov_len ? iov[0] : iov[1];
        io_uring_prep_send(sqe, fd, one.iov_base, one.iov_len, flags);
      } else {
        msghdr& mh = msgs_[k];
        mh = msghdr{};
        mh.msg_iov = iov;
        mh.msg_iovlen = 2;
        io_uring_prep_sendmsg(sqe, fd, &mh, flags);
      }
      io_uring_sqe_set_data64(sqe, k);
      w->where_ = BatchedWriter::Where::kInFlight;
      w->slot_ = static_cast<int>(k);
      inflight_.push_back(w);
    }
    if (inflight_.empty()) break;
    int submitted = io_uring_submit(&ring_);
    PC_CHECK_MSG(submitted == static_cast<int>(inflight_.size()),
                 "io_uring_submit: " + std::to_string(submitted) + " of " + std::to_string(inflight_.size()));
    issued += inflight_.size();
    // Reap every result before any callback runs: a callback may queue, cancel or close.
    std::vector<std::pair<size_t, int>>& results = results_;
    results.clear();
    while (results.size() < inflight_.size()) {
      io_uring_cqe* cqe = nullptr;
      // With MSG_DONTWAIT the results are already posted; wait_cqe only guards the impossible.
      int r = io_uring_peek_cqe(&ring_, &cqe);
      if (r == -EAGAIN) r = io_uring_wait_cqe(&ring_, &cqe);
      if (r == -EINTR) continue;
      PC_CHECK_MSG(r == 0, std::string("io_uring_wait_cqe: ") + std::strerror(-r));
      results.emplace_back(static_cast<size_t>(io_uring_cqe_get_data64(cqe)), cqe->res);
      io_uring_cqe_seen(&ring_, cqe);
    }
    for (auto [k, res] : results) {
      BatchedWriter* w = inflight_[k];
      if (!w) continue;  // cancelled by an earlier callback
      inflight_[k] = nullptr;
      bool again = w->again_;
      w->again_ = false;
      w->where_ = BatchedWriter::Where::kNone;
      w->slot_ = -1;
      w->Done(res);
      if (again && w->where_ == BatchedWriter::Where::kNone) Queue(w);
    }
    inflight_.clear();
  }
  flushing_.clear();
  return issued;
}

}  // namespace privcast::proxy
