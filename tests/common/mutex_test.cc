// Mutex/MutexLock/CondVar: the annotated wrappers behave like the std types they wrap.
#include "common/mutex.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace privcast {
namespace {

class Counter {
 public:
  void Add() EXCLUDES(mu_) {
    MutexLock l(&mu_);
    ++n_;
    cv_.NotifyAll();
  }
  // Waits until n reaches `want`; false when `timeout` passed first.
  bool WaitFor(int want, std::chrono::milliseconds timeout) EXCLUDES(mu_) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    MutexLock l(&mu_);
    while (n_ < want)
      if (!cv_.WaitUntil(&mu_, deadline)) return n_ >= want;
    return true;
  }
  bool TryAdd() EXCLUDES(mu_) {
    if (!mu_.TryLock()) return false;
    ++n_;
    mu_.Unlock();
    return true;
  }
  Mutex& mu() RETURN_CAPABILITY(mu_) { return mu_; }

 private:
  Mutex mu_;
  CondVar cv_;
  int n_ GUARDED_BY(mu_) = 0;
};

TEST(MutexTest, WaitersSeeEveryAdd) {
  Counter c;
  std::thread t([&] {
    for (int i = 0; i < 100; ++i) c.Add();
  });
  EXPECT_TRUE(c.WaitFor(100, std::chrono::seconds(30)));
  t.join();
}

TEST(MutexTest, WaitUntilReturnsFalseAtTheDeadline) {
  Counter c;
  EXPECT_FALSE(c.WaitFor(1, std::chrono::milliseconds(1)));
}

TEST(MutexTest, TryLockFailsWhileHeld) {
  Counter c;
  {
    MutexLock l(&c.mu());
    std::thread t([&] { EXPECT_FALSE(c.TryAdd()); });
    t.join();
  }
  EXPECT_TRUE(c.TryAdd());
}

}  // namespace
}  // namespace privcast
