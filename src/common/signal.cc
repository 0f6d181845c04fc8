#include "common/signal.h"

#include <string>

#include "common/strings.h"

namespace privcast {
namespace {

struct Entry {
  const char* name;
  int signo;
};
// The set Fly documents for kill_signal, plus SIGHUP which init systems commonly use.
constexpr Entry kSignals[] = {
    {"SIGINT", SIGINT},   {"SIGTERM", SIGTERM}, {"SIGQUIT", SIGQUIT}, {"SIGUSR1", SIGUSR1},
    {"SIGUSR2", SIGUSR2}, {"SIGKILL", SIGKILL}, {"SIGSTOP", SIGSTOP}, {"SIGHUP", SIGHUP},
};

}  // namespace

std::optional<KillSignal> KillSignal::FromName(std::string_view name) {
  std::string up = Upper(name);
  if (up.rfind("SIG", 0) != 0) up = "SIG" + up;
  for (const auto& e : kSignals)
    if (up == e.name) return KillSignal(e.signo);
  return std::nullopt;
}

std::optional<KillSignal> KillSignal::FromNumber(int signo) {
  for (const auto& e : kSignals)
    if (e.signo == signo) return KillSignal(signo);
  return std::nullopt;
}

const char* KillSignal::name() const {
  for (const auto& e : kSignals)
    if (e.signo == signo_) return e.name;
  return "SIGINT";  // unreachable: every constructed value is in the table
}

}  // namespace privcast
