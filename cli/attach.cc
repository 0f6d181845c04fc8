#include "cli/attach.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "cli/extend.h"
#include "common/fd.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

// machine run --shell on a terminal: the terminal is in raw mode for the session (every
// key, Ctrl-C and Ctrl-D included, goes to the machine's pty, whose line discipline gives
// them their meaning), and its modes are restored whatever happens: destructor (normal
// return, Failure), and SIGTERM/SIGHUP/SIGINT/SIGQUIT, whose handlers restore, then
// re-raise with the default action. SIGWINCH writes a byte to a pipe whose read end goes
// to the daemon, which then copies this terminal's size to the machine's pty.
// One at a time (signal handlers reach it through these globals).
struct termios g_saved_termios;
volatile sig_atomic_t g_raw_active = 0;
volatile sig_atomic_t g_winch_fd = -1;

extern "C" void RestoreAndReraise(int sig) {
  if (g_raw_active) ::tcsetattr(0, TCSANOW, &g_saved_termios);
  ::signal(sig, SIG_DFL);
  ::raise(sig);  // blocked while we run: delivered, with the default action, on return
}

extern "C" void PokeResize(int) {
  int saved = errno;
  char c = 0;
  if (g_winch_fd >= 0) (void)!::write(g_winch_fd, &c, 1);  // non-blocking: a full pipe already says it
  errno = saved;
}

class RawTerminal {
 public:
  static constexpr int kSignals[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGWINCH};

  RawTerminal() {
    if (::tcgetattr(0, &g_saved_termios) != 0)
      throw CommandFailure(std::string("cannot read the terminal's modes: ") + std::strerror(errno));
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw CommandFailure(std::string("cannot create a pipe: ") + std::strerror(errno));
    resize_rd_.reset(p[0]);
    resize_wr_.reset(p[1]);
    ::fcntl(p[1], F_SETFL, ::fcntl(p[1], F_GETFL) | O_NONBLOCK);
    g_winch_fd = p[1];
    for (size_t i = 0; i < std::size(kSignals); ++i) {
      struct sigaction sa {};
      sigfillset(&sa.sa_mask);
      if (kSignals[i] == SIGWINCH) {
        sa.sa_handler = PokeResize;
        sa.sa_flags = SA_RESTART;
      } else {
        sa.sa_handler = RestoreAndReraise;
      }
      ::sigaction(kSignals[i], &sa, &old_[i]);
    }
    struct termios raw = g_saved_termios;
    ::cfmakeraw(&raw);
    g_raw_active = 1;
    if (::tcsetattr(0, TCSANOW, &raw) != 0) {
      int err = errno;
      Restore();
      throw CommandFailure(std::string("cannot put the terminal in raw mode: ") + std::strerror(err));
    }
  }
  ~RawTerminal() { Restore(); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  int resize_fd() const { return resize_rd_.get(); }

 private:
  void Restore() {
    if (g_raw_active) ::tcsetattr(0, TCSANOW, &g_saved_termios);
    g_raw_active = 0;
    for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &old_[i], nullptr);
    g_winch_fd = -1;
  }

  struct sigaction old_[std::size(kSignals)] = {};
  UniqueFd resize_rd_, resize_wr_;
};

}  // namespace

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
    if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string())
      throw CommandFailure(j["error"].get<std::string>());
    throw CommandFailure("privcastd answered HTTP " + std::to_string(*st));
  }
  if (!error.empty()) throw CommandFailure(error);
  if (exit_code < 0) throw CommandFailure("privcastd ended the session without an exit code: see privcast logs -a " + app);
  return exit_code;
}

}  // namespace privcast::cli
