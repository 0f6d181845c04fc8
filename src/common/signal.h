// KillSignal: the signal a machine's main process is asked to stop with (fly.toml kill_signal),
// as a type from the config through the daemon to the supervisor.
//
// Only the set Fly documents (SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGKILL, SIGSTOP) plus
// SIGHUP can be made: an unknown name or number does not construct, so every value of this
// type is valid and nothing downstream re-checks or falls back. Default: SIGINT, Fly's.
//
// Thread-safety: a value type; the functions are pure.
#pragma once

#include <csignal>
#include <optional>
#include <string_view>

namespace privcast {

class KillSignal {
 public:
  constexpr KillSignal() = default;  // SIGINT
  // "SIGTERM", "term", "sigterm" (the SIG prefix optional, case-insensitive).
  [[nodiscard]] static std::optional<KillSignal> FromName(std::string_view name);
  [[nodiscard]] static std::optional<KillSignal> FromNumber(int signo);
  static constexpr KillSignal Interrupt() { return KillSignal(); }
  static KillSignal Terminate() { return *FromNumber(SIGTERM); }

  constexpr int number() const { return signo_; }
  const char* name() const;  // "SIGINT"
  friend constexpr bool operator==(KillSignal a, KillSignal b) { return a.signo_ == b.signo_; }

 private:
  constexpr explicit KillSignal(int signo) : signo_(signo) {}
  int signo_ = SIGINT;
};

}  // namespace privcast
