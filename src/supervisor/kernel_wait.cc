#include "supervisor/kernel_wait.h"

#include <algorithm>
#include <cstdint>
#include <thread>

namespace privcast::supervisor {

std::optional<int> KernelDeadline::NextPollMs() const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end_ - RealClock::Get()->Now());
  if (left.count() <= 0) return std::nullopt;
  // The cast rounded down: never wake just before the end. Capped to what poll() takes.
  return static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX - 1)) + 1;
}

bool Backoff::Next() {
  if (RealClock::Get()->Now() >= end_) return false;
  if (n_++ < 50) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(step_);
    if (step_ < std::chrono::milliseconds(5)) step_ *= 2;
  }
  return true;
}

}  // namespace privcast::supervisor
