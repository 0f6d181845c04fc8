// The attached session of cli/attach.h; the terminal side is cli/terminal.h.
#include "cli/attach.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <vector>

#include "cli/extend.h"
#include "cli/terminal.h"

namespace privcast::cli {

using nlohmann::json;

int RunAttachedStream(api::Client& client, const std::string& target, json body, const std::string& app) {
  // On a terminal the process gets a pty of its own that the daemon relays to ours, which
  // is raw meanwhile (RawTerminal); otherwise our fds (pipes, files) go to it as they are.
  bool tty = ::isatty(0) && ::isatty(1);
  body["tty"] = tty;
  std::optional<RawTerminal> raw;
  std::vector<int> fds = {0, 1, 2};
  if (tty) {
    raw.emplace();  // before reading the size: a resize from now on reaches the pipe
    fds.push_back(raw->resize_fd());
    struct winsize ws {};
    if (::ioctl(1, TIOCGWINSZ, &ws) == 0) {
      body["rows"] = ws.ws_row;
      body["cols"] = ws.ws_col;
    }
    if (const char* term = std::getenv("TERM"); term && *term && !body["env"].contains("TERM"))
      body["env"]["TERM"] = term;
  }
  int exit_code = -1;
  std::string error, pending;
  auto on_data = [&](std::string_view d) {
    pending.append(d);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      json ev = json::parse(pending.substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      if (!ev.is_object()) continue;
      std::string e = ev.value("event", "");
      if (e == "exit" && ev.contains("exit_code") && ev["exit_code"].is_number_integer())
        exit_code = ev["exit_code"].get<int>();
      if (e == "error") error = ev.value("error", std::string("unknown error"));
    }
    return true;
  };
  auto st = client.Stream("POST", target, body.dump(-1, ' ', false, json::error_handler_t::replace), on_data, fds);
  if (!st.ok()) throw CommandFailure(st.status().message());
  if (*st != 200) {
    json j = json::parse(pending, nullptr, false);
    throw CommandFailure(ErrorOf(*st, j.is_discarded() ? json() : j));
  }
  if (!error.empty()) throw CommandFailure(error);
  if (exit_code < 0)
    throw CommandFailure("privcastd ended the session without an exit code: see privcast logs -a " + app);
  return exit_code;
}

}  // namespace privcast::cli
