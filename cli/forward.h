// `privcast proxy`: a local TCP forwarder. Listens on BIND:LOCAL on the host and relays each
// accepted connection to TARGET:REMOTE (by default the app's flycast address, so the
// connection goes through privcast's proxy and wakes stopped machines). One thread per
// connection, both directions, half-close honoured.
//
// Thread-safety: Start/Stop from one thread; the relay threads are internal.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/fd.h"
#include "common/mutex.h"
#include "common/result.h"

namespace privcast::cli {

struct PortPair {
  uint16_t local = 0;
  uint16_t remote = 0;
};
// "LOCAL[:REMOTE]" → ports (REMOTE defaults to LOCAL). LOCAL may be 0 (any free port).
Result<PortPair> ParsePortPair(std::string_view spec);

class Forwarder {
 public:
  Forwarder() = default;
  ~Forwarder() { Stop(); }

  // Binds bind_host:local_port (numeric IPv4/IPv6 or "localhost"); target_host is a numeric
  // address. Starts accepting on a background thread.
  Status Start(const std::string& bind_host, uint16_t local_port, const std::string& target_host, uint16_t remote_port);
  uint16_t local_port() const { return local_port_; }
  void Stop();

 private:
  void AcceptLoop();
  static void Relay(UniqueFd a, UniqueFd b, const std::atomic<bool>* stop);

  UniqueFd listen_fd_;
  UniqueFd wake_fd_;
  std::string target_host_;
  uint16_t remote_port_ = 0;
  uint16_t local_port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  Mutex mu_;
  std::vector<std::thread> relays_ GUARDED_BY(mu_);
};

}  // namespace privcast::cli
