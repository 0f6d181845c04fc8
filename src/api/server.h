// api::Server: privcast's control-plane API — HTTP/1.1 + JSON on a Unix socket (mode 0600),
// shaped like Fly's Machines API. Routes and payloads: docs/api.md.
//
// Ownership: the Server borrows the Registry and the Backend (both must outlive it) and owns
// its listening socket, the socket file and one thread per connection (control plane: long
// streams such as `logs -f` and `machine run --shell` hold their thread).
//
// One local client cannot pin it: a request must arrive whole within
// request_timeout; descriptors passed by SCM_RIGHTS are accepted only on the first bytes of
// a `machines/run` request, at most 4, and any other is closed at once with a 400;
// connections are limited per uid with slots reserved for root and the daemon's uid, and
// waiting connections give way to new ones (ServerOptions).
//
// Lifecycle: construct, Start() (binds; a stale socket file nobody listens on is replaced, a
// live one is refused), Stop() (closes the listener, removes the socket file, lets in-flight
// requests finish, cancels long streams through ClientWatch, joins every thread). The
// destructor calls Stop(). Start/Stop are not thread-safe against each other; everything
// else is internal.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "api/backend.h"
#include "common/clock.h"
#include "common/result.h"
#include "store/registry.h"

namespace privcast::api {

struct ServerOptions {
  std::string socket_path;              // e.g. api::kDefaultSocketPath (api/endpoint.h)
  size_t max_header_bytes = 16 * 1024;  // request line + headers; over → 431
  size_t max_body_bytes = 1024 * 1024;  // over → 413
  // Connection limits (docs/api.md "Limits"): every uid (SO_PEERCRED) may hold at most
  // max_connections_per_uid, all of them together max_connections, of which
  // reserved_connections only root and the daemon's own uid may use. At a limit, the
  // longest-waiting connection (no request being handled) of the same uid — for root and
  // the daemon's uid, of any uid — is closed to make room; only when every one is busy is
  // the new connection refused (503, "too many API connections from uid N ...").
  int max_connections = 256;
  int max_connections_per_uid = 32;  // uids other than root and the daemon's own
  int reserved_connections = 16;
  Duration idle_timeout = std::chrono::seconds(120);    // keep-alive idle (no byte of a request yet)
  Duration request_timeout = std::chrono::seconds(10);  // a whole request, head and body, from its first byte → 408
  Duration max_wait = std::chrono::seconds(300);        // cap for ?timeout= of the wait route
  std::string version = "0.1.0";                        // reported by GET /v1/version
  // The deadlines' time (requests, idle connections, the wait route); watched, so a FakeClock
  // that moves wakes connections waiting for bytes.
  Clock* clock = RealClock::Get();
};

class Server {
 public:
  Server(store::Registry* registry, Backend* backend, ServerOptions opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status Start();
  void Stop();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace privcast::api
