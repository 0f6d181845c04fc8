// api::Client: a blocking HTTP/1.1 client for privcastd's Unix socket (used by the CLI and
// the API tests). One connection, reused while the server keeps it alive.
//
// File descriptors can ride along with a request (SCM_RIGHTS on its first bytes): that is
// how `machine run --shell` hands the CLI's stdin/stdout/stderr to the daemon.
//
// Not thread-safe: one Client per thread.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "common/fd.h"
#include "common/result.h"

namespace privcast::api {

class Client {
 public:
  explicit Client(std::string socket_path) : path_(std::move(socket_path)) {}

  struct Response {
    int status = 0;
    std::string body;
  };

  // One request, the whole response. Transport failures are kUnavailable with a message
  // "cannot reach privcastd at unix:<path> (...)" or kIo mid-exchange.
  Result<Response> Call(std::string_view method, std::string_view target, std::string_view body = {},
                        const std::vector<int>& fds = {});

  // One request whose response body is handed to on_data piece by piece as it arrives (chunked
  // streams: logs -f, machine run --shell). on_data returning false stops reading and closes
  // the connection. Returns the status code.
  Result<int> Stream(std::string_view method, std::string_view target, std::string_view body,
                     const std::function<bool(std::string_view)>& on_data, const std::vector<int>& fds = {});

  const std::string& socket_path() const { return path_; }

 private:
  Status Connect();
  Status Send(std::string_view method, std::string_view target, std::string_view body, const std::vector<int>& fds);
  Result<http::ResponseHead> ReadHead();
  Status ReadMore();  // appends to buf_; kIo on error, kUnavailable on EOF

  std::string path_;
  UniqueFd fd_;
  bool peer_closed_ = false;  // the last Send failed because privcastd had closed the connection
  std::string buf_;
};

// Sends all of `data` on a Unix stream socket, attaching `fds` (SCM_RIGHTS) to the first
// bytes. Returns 0 or an errno.
int SendWithFds(int sock, std::string_view data, const std::vector<int>& fds);

}  // namespace privcast::api
