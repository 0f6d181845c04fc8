#include "store/model.h"

namespace privcast::store {

const char* MachineStateName(MachineState s) {
  switch (s) {
    case MachineState::kCreated:
      return "created";
    case MachineState::kStarting:
      return "starting";
    case MachineState::kStarted:
      return "started";
    case MachineState::kStopping:
      return "stopping";
    case MachineState::kStopped:
      return "stopped";
    case MachineState::kSuspending:
      return "suspending";
    case MachineState::kSuspended:
      return "suspended";
    case MachineState::kDestroying:
      return "destroying";
    case MachineState::kDestroyed:
      return "destroyed";
    case MachineState::kFailed:
      return "failed";
  }
  return "unknown";
}

std::optional<MachineState> ParseMachineState(std::string_view s) {
  for (int i = 0; i <= static_cast<int>(MachineState::kFailed); ++i) {
    auto st = static_cast<MachineState>(i);
    if (s == MachineStateName(st)) return st;
  }
  return std::nullopt;
}

// Fly's machine state machine (docs/store.md). Transitional states are intent written by the
// API or the proxy; the supervisor answers with the resting state (failed when a start fails,
// stopped when the process exits on its own).
bool IsLegalTransition(MachineState from, MachineState to) {
  using S = MachineState;
  switch (from) {
    case S::kCreated:
      return to == S::kStarting || to == S::kDestroying;
    case S::kStarting:
      return to == S::kStarted || to == S::kStopped || to == S::kStopping || to == S::kDestroying || to == S::kFailed;
    case S::kStarted:
      return to == S::kStopping || to == S::kSuspending || to == S::kDestroying || to == S::kStopped;
    case S::kStopping:
      return to == S::kStopped || to == S::kDestroying;
    case S::kStopped:
      return to == S::kStarting || to == S::kDestroying;
    case S::kSuspending:
      return to == S::kSuspended || to == S::kStopped || to == S::kDestroying;
    case S::kSuspended:
      return to == S::kStarting || to == S::kStopping || to == S::kDestroying;
    case S::kDestroying:
      return to == S::kDestroyed;
    case S::kDestroyed:
      return false;
    case S::kFailed:
      return to == S::kStarting || to == S::kDestroying;
  }
  return false;
}

}  // namespace privcast::store
