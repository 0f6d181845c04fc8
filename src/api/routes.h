// The API's routes: one HTTP request in, one response (or one chunked stream) out, through
// the Registry and the Backend. Transport-free so the server owns sockets and threads and
// this file owns meaning. Routing (which handler, 404, 405 with Allow) is the table of
// api/route_table.h; routes and payloads are in docs/api.md.
//
// Thread-safety: Handle() may run on many connection threads at once; Routes holds no
// mutable state of its own.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/backend.h"
#include "api/http.h"
#include "api/server.h"
#include "common/fd.h"
#include "common/result.h"
#include "store/registry.h"

namespace privcast::api {

// Whether a request line ("POST /v1/apps/web/machines/run HTTP/1.1") names the one route
// that takes file descriptors (machine run --shell). The server refuses descriptors on
// every other request before routing it.
bool RouteTakesFds(std::string_view request_line);

// The one place privcast::Code becomes an HTTP status.
int HttpStatusFor(Code code);

// One request/response on a connection, as the routes see it.
class Exchange {
 public:
  virtual ~Exchange() = default;
  // `extra`: headers beyond Content-Type/Length (a 405's Allow).
  virtual void Respond(int status, std::string_view content_type, std::string_view body,
                       const http::Headers& extra) = 0;
  void Respond(int status, std::string_view content_type, std::string_view body) {
    Respond(status, content_type, body, {});
  }
  // A chunked response: BeginStream once, WriteChunk (false when the client is gone), EndStream.
  virtual bool BeginStream(int status, std::string_view content_type) = 0;
  virtual bool WriteChunk(std::string_view data) = 0;
  virtual void EndStream() = 0;
  // File descriptors that arrived (SCM_RIGHTS) with this request; the caller owns them.
  virtual std::vector<UniqueFd> TakeFds() = 0;
  virtual const ClientWatch& watch() const = 0;
  // The caller's uid (SO_PEERCRED), -1 when unknown (releases record who deployed).
  virtual int64_t peer_uid() const { return -1; }
};

class Routes {
 public:
  Routes(store::Registry* registry, Backend* backend, const ServerOptions* opts)
      : registry_(registry), backend_(backend), opts_(opts) {}

  void Handle(const http::Request& req, Exchange& ex);

 private:
  store::Registry* registry_;
  Backend* backend_;
  const ServerOptions* opts_;
};

}  // namespace privcast::api
