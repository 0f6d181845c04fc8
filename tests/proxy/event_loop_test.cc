// proxy::EventLoop: what it adds to loop::EventLoop (posting, timers, fd events and the thread
// check are the common loop's, tested in tests/loop/event_loop_test.cc): the io_uring write
// batch, open on the loop thread while Run runs, and flushed at the end of the turn that queued
// a write. Real sockets, real io_uring; skipped only where the kernel refuses io_uring.
#include "proxy/event_loop.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace privcast::proxy {
namespace {

// One write of `data` on `fd`, through the loop's batch.
struct OneWrite final : BatchedWriter {
  int fd = -1;
  std::string data;
  std::promise<ssize_t> done;
  bool Prepare(int* f, iovec iov[2], int* /*flags*/) override {
    if (data.empty()) return false;
    *f = fd;
    iov[0] = {nullptr, 0};
    iov[1] = {data.data(), data.size()};
    return true;
  }
  void Done(ssize_t r) override {
    data.clear();
    done.set_value(r);
  }
};

TEST(ProxyEventLoop, TheBatchIsOpenOnlyWhileRunning) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init(/*batch_sends=*/true).ok());
  EXPECT_FALSE(loop.sends().enabled());  // before Run: writers send() directly
  std::promise<bool> inside;
  std::thread t([&] { loop.Run(); });
  loop.Post([&] { inside.set_value(loop.sends().enabled()); });
  bool enabled = inside.get_future().get();
  loop.Stop();
  t.join();
  EXPECT_FALSE(loop.sends().enabled());  // closed when Run returned
  if (!enabled) GTEST_SKIP() << "io_uring not available here";
}

TEST(ProxyEventLoop, WithoutBatchSendsTheBatchStaysClosed) {
  EventLoop loop;
  ASSERT_TRUE(loop.Init(/*batch_sends=*/false).ok());
  std::promise<bool> inside;
  std::thread t([&] { loop.Run(); });
  loop.Post([&] { inside.set_value(loop.sends().enabled()); });
  EXPECT_FALSE(inside.get_future().get());
  loop.Stop();
  t.join();
}

TEST(ProxyEventLoop, AWriteQueuedInATurnGoesOutAtTheEndOfThatTurn) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  EventLoop loop;
  ASSERT_TRUE(loop.Init(/*batch_sends=*/true).ok());
  OneWrite w;
  w.fd = sv[0];
  w.data = "hello";
  std::promise<bool> queued;
  std::thread t([&] { loop.Run(); });
  loop.Post([&] {
    bool on = loop.sends().enabled();
    if (on) loop.sends().Queue(&w);
    queued.set_value(on);
  });
  bool on = queued.get_future().get();
  // The loop stays running: only its own end-of-turn flush can send the write (a bounded wait).
  auto sent = w.done.get_future();
  bool flushed = on && sent.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  loop.Stop();
  t.join();
  if (on) {
    ASSERT_TRUE(flushed);
    EXPECT_EQ(sent.get(), 5);
    char buf[16];
    EXPECT_EQ(::recv(sv[1], buf, sizeof buf, 0), 5);
  }
  ::close(sv[0]);
  ::close(sv[1]);
  if (!on) GTEST_SKIP() << "io_uring not available here";
}

}  // namespace
}  // namespace privcast::proxy
