// api::Server: privcast's control-plane API — HTTP/1.1 + JSON on a Unix socket (mode 0600),
// shaped like Fly's Machines API. Routes and payloads: docs/api.md.
//
// Ownership: the Server borrows the Registry and the Backend (both must outlive it) and owns
// its listening socket, the socket file and one thread per connection (control plane: long
// streams such as `logs -f` and `machine run --shell` hold their thread).
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
  std::string socket_path;                 // e.g. api::kDefaultSocketPath (api/endpoint.h)
  size_t max_header_bytes = 16 * 1024;     // request line + headers; over → 431
  size_t max_body_bytes = 1024 * 1024;     // over → 413
  int max_connections = 256;               // more → 503 and close
  Duration idle_timeout = std::chrono::seconds(120);   // keep-alive idle, and mid-request stall
  Duration max_wait = std::chrono::seconds(300);       // cap for ?timeout= of the wait route
  std::string version = "0.1.0";          // reported by GET /v1/version
};

class Server {
 public:
  Server(store::Registry* registry, Backend* backend, ServerOptions opts);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status Start();
  void Stop();
  const std::string& socket_path() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace privcast::api
