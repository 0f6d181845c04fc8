// loop::Poster: somewhere a closure can be sent to run on another thread (an EventLoop, a
// test's queue). Post() is thread-safe and returns at once; the closure runs later, once, on
// the receiver's thread, in the order posted.
#pragma once

#include <functional>

namespace privcast::loop {

class Poster {
 public:
  virtual ~Poster() = default;
  virtual void Post(std::function<void()> fn) = 0;
};

}  // namespace privcast::loop
