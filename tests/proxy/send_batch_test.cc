// SendBatch: queued writers' sends go out together at Flush (a lone writer by plain send()),
// results reach Done, a full socket completes at once with -EAGAIN (never parks in the ring),
// cancel means no send and no Done, writers queued from Done go to the next Flush. Real sockets (AF_UNIX stream pairs), real
// io_uring; skipped only where the kernel refuses io_uring.
#include "proxy/send_batch.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace privcast::proxy {
namespace {

struct Pair {
  int a = -1, b = -1;  // write a, read b
  Pair() {
    int sv[2];
    PC_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    a = sv[0];
    b = sv[1];
  }
  ~Pair() {
    ::close(a);
    ::close(b);
  }
  std::string Drain() const {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(b, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }
};

struct Writer final : BatchedWriter {
  int fd = -1;
  std::string first, second;  // what Prepare hands out
  std::vector<ssize_t> results;
  std::function<void()> on_done;
  int flags = 0;  // added to the send's
  bool Prepare(int* f, iovec iov[2], int* extra) override {
    if (first.empty() && second.empty()) return false;
    *f = fd;
    *extra = flags;
    iov[0] = {first.data(), first.size()};
    iov[1] = {second.data(), second.size()};
    return true;
  }
  void Done(ssize_t r) override {
    results.push_back(r);
    if (on_done) on_done();
  }
};

class SendBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status st = batch_.Init(8);
    if (!st.ok()) GTEST_SKIP() << "io_uring not available here: " << st.ToString();
  }
  void TearDown() override { batch_.Shutdown(); }
  SendBatch batch_;
};

TEST_F(SendBatchTest, QueuedWritersGoOutTogetherAtFlush) {
  Pair p1, p2;
  Writer w1, w2;
  w1.fd = p1.a;
  w1.first = "hello ";
  w1.second = "world";  // two buffers: sendmsg
  w2.fd = p2.a;
  w2.second = "one buffer";
  batch_.Queue(&w1);
  batch_.Queue(&w2);
  batch_.Queue(&w1);  // idempotent
  EXPECT_FALSE(batch_.empty());
  EXPECT_EQ(p1.Drain(), "");  // nothing before Flush
  EXPECT_EQ(batch_.Flush(), 2u);
  EXPECT_TRUE(batch_.empty());
  EXPECT_EQ(p1.Drain(), "hello world");
  EXPECT_EQ(p2.Drain(), "one buffer");
  EXPECT_EQ(w1.results, (std::vector<ssize_t>{11}));
  EXPECT_EQ(w2.results, (std::vector<ssize_t>{10}));
}

// The flags a writer adds reach the send, in the ring and alone. MSG_OOB is the one an AF_UNIX
// stream shows (the last byte becomes out-of-band, Linux 5.15+); the proxy adds MSG_MORE.
TEST_F(SendBatchTest, WriterFlagsReachTheSend) {
  auto oob = [](const Pair& p) {
    char c = 0;
    return ::recv(p.b, &c, 1, MSG_OOB) == 1 ? std::string(1, c) : std::string();
  };
  {
    Pair probe;
    if (::send(probe.a, "x", 1, MSG_OOB) < 0) GTEST_SKIP() << "no MSG_OOB on AF_UNIX here: " << std::strerror(errno);
  }
  Pair p1, p2, p3;
  Writer w1, w2, w3;
  w1.fd = p1.a;
  w1.first = "head ";
  w1.second = "tail!";  // sendmsg in the ring
  w1.flags = MSG_OOB;
  w2.fd = p2.a;
  w2.second = "plain.";  // no flags
  batch_.Queue(&w1);
  batch_.Queue(&w2);
  EXPECT_EQ(batch_.Flush(), 2u);
  EXPECT_EQ(oob(p1), "!");
  EXPECT_EQ(oob(p2), "");
  w3.fd = p3.a;
  w3.second = "alone?";  // a lone writer: plain send()
  w3.flags = MSG_OOB;
  batch_.Queue(&w3);
  EXPECT_EQ(batch_.Flush(), 1u);
  EXPECT_EQ(oob(p3), "?");
}

TEST_F(SendBatchTest, PrepareReadsTheStateAtFlushTime) {
  Pair p;
  Writer w;
  w.fd = p.a;
  w.first = "old";
  batch_.Queue(&w);
  w.first = "new, longer";  // the buffer moved and grew after Queue
  batch_.Flush();
  EXPECT_EQ(p.Drain(), "new, longer");
  Writer idle;  // nothing to send by Flush time: no send, no Done
  idle.fd = p.a;
  batch_.Queue(&idle);
  EXPECT_EQ(batch_.Flush(), 0u);
  EXPECT_TRUE(idle.results.empty());
}

TEST_F(SendBatchTest, AFullSocketCompletesAtOnceWithEagainOrAShortCount) {
  Pair p;
  int small = 4096;
  ::setsockopt(p.a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::string block(65536, 'x');
  while (::send(p.a, block.data(), block.size(), MSG_NOSIGNAL) > 0) {
  }
  ASSERT_EQ(errno, EAGAIN);
  // Each case twice: alone (a lone writer is a plain send()) and beside another writer (the
  // ring, where MSG_DONTWAIT must keep the send from parking until the reader drains).
  Pair other;
  for (bool alone : {true, false}) {
    SCOPED_TRACE(alone ? "alone" : "in the ring");
    Writer w, o;
    w.fd = p.a;
    w.first = block;
    o.fd = other.a;
    o.first = "o";
    batch_.Queue(&w);
    if (!alone) batch_.Queue(&o);
    EXPECT_EQ(batch_.Flush(), alone ? 1u : 2u);  // must not wait for the reader
    ASSERT_EQ(w.results.size(), 1u);
    EXPECT_EQ(w.results[0], -EAGAIN);
    EXPECT_EQ(o.results.size(), alone ? 0u : 1u);
  }
  EXPECT_EQ(other.Drain(), "o");
  // A closed peer is an error result, not a signal.
  ::close(p.b);
  p.b = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (bool alone : {true, false}) {
    SCOPED_TRACE(alone ? "alone" : "in the ring");
    Writer w, o;
    w.fd = p.a;
    w.first = "x";
    o.fd = other.a;
    o.first = "o";
    batch_.Queue(&w);
    if (!alone) batch_.Queue(&o);
    batch_.Flush();
    ASSERT_EQ(w.results.size(), 1u);
    EXPECT_EQ(w.results[0], -EPIPE);
  }
}

TEST_F(SendBatchTest, CancelledWritersSendNothingAndHearNothing) {
  Pair p;
  Writer w1, w2;
  w1.fd = w2.fd = p.a;
  w1.first = "dropped";
  w2.first = "kept";
  batch_.Queue(&w1);
  batch_.Queue(&w2);
  batch_.Cancel(&w1);
  batch_.Cancel(&w1);  // twice is fine
  EXPECT_EQ(batch_.Flush(), 1u);
  EXPECT_EQ(p.Drain(), "kept");
  EXPECT_TRUE(w1.results.empty());
  // A writer cancelled by an earlier writer's Done (a session closing another) hears nothing.
  Pair q;
  Writer a, b;
  a.fd = b.fd = q.a;
  a.first = "a";
  b.first = "b";
  a.on_done = [&] { batch_.Cancel(&b); };
  batch_.Queue(&a);
  batch_.Queue(&b);
  batch_.Flush();
  EXPECT_EQ(a.results.size(), 1u);
  EXPECT_TRUE(b.results.empty());
}

TEST_F(SendBatchTest, WritersQueuedByDoneGoToTheNextFlush) {
  Pair p;
  Writer w;
  w.fd = p.a;
  w.first = "1";
  int turns = 0;
  w.on_done = [&] {
    if (++turns < 3) {
      w.first = std::to_string(turns + 1);
      batch_.Queue(&w);
    }
  };
  batch_.Queue(&w);
  EXPECT_EQ(batch_.Flush(), 1u);
  EXPECT_FALSE(batch_.empty());
  EXPECT_EQ(batch_.Flush(), 1u);
  EXPECT_EQ(batch_.Flush(), 1u);
  EXPECT_TRUE(batch_.empty());
  EXPECT_EQ(p.Drain(), "123");
}

TEST_F(SendBatchTest, MoreWritersThanRingEntriesGoOutInChunks) {
  std::vector<std::unique_ptr<Pair>> pairs;
  std::vector<std::unique_ptr<Writer>> ws;
  for (int i = 0; i < 50; ++i) {  // the ring has 8 entries
    pairs.push_back(std::make_unique<Pair>());
    ws.push_back(std::make_unique<Writer>());
    ws.back()->fd = pairs.back()->a;
    ws.back()->first = "w" + std::to_string(i);
    batch_.Queue(ws.back().get());
  }
  EXPECT_EQ(batch_.Flush(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(pairs[i]->Drain(), "w" + std::to_string(i));
    EXPECT_EQ(ws[i]->results.size(), 1u);
  }
}

TEST(SendBatch, DisabledWithoutInit) {
  SendBatch b;
  EXPECT_FALSE(b.enabled());
  EXPECT_TRUE(b.empty());
  b.Shutdown();  // harmless
}

}  // namespace
}  // namespace privcast::proxy
