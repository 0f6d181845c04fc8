// Restart policy ([[restart]] in fly.toml): when a machine's main process exits without
// anyone asking it to, should the supervisor start it again, and after how long?
//
// Pure functions of their inputs (no clock, no state): the supervisor feeds in the attempt
// counter and how long the process ran (measured with common/clock.h), and tests drive it
// with FakeClock durations. Thread-safe (values only).
//
// Rules (docs/supervisor.md#restart-policy):
//   never       never restart.
//   on-failure  restart when the exit was a failure (non-zero code, killed by a signal, or
//               unknown, which is what an adopted process reports), at most max_retries
//               times in a row.
//   always      restart after any exit (also code 0); max_retries also bounds it.
//   An exit caused by a stop request (Stop/Destroy) is never restarted.
//   Back-off before attempt n (0-based): min(max_backoff, initial_backoff * 2^n).
//   A run that lasted at least reset_after counts as healthy: the attempt counter restarts
//   at 0, so a machine that crashes once a day is not given up on after max_retries days.
#pragma once

#include <chrono>

#include "common/clock.h"

namespace privcast::supervisor {

enum class RestartMode { kNever, kOnFailure, kAlways };

struct RestartPolicy {
  RestartMode mode = RestartMode::kOnFailure;
  int max_retries = 10;
  Duration initial_backoff = std::chrono::milliseconds(500);
  Duration max_backoff = std::chrono::seconds(30);
  Duration reset_after = std::chrono::seconds(60);
};

// How a main process ended. known == false when the exit status could not be read (an
// adopted process is not our child: waitid() on its pidfd fails with ECHILD).
struct ExitInfo {
  bool known = false;
  int code = -1;   // exit code when exited normally, else -1
  int signal = 0;  // terminating signal, else 0

  bool success() const { return known && code == 0 && signal == 0; }
};

struct RestartDecision {
  bool restart = false;
  Duration delay{0};
  int attempt = 0;         // the attempt number this restart is (1-based) when restart is true
  int attempts_after = 0;  // the counter value to keep for the next exit
};

// Back-off before restart attempt `attempt` (0-based). Saturates at max_backoff and never
// overflows, whatever attempt is.
Duration BackoffDelay(const RestartPolicy& p, int attempt);

// attempts: restarts already done in the current streak. ran_for: how long the process that
// just exited ran. stop_requested: the exit follows Stop/Destroy.
RestartDecision DecideRestart(const RestartPolicy& p, const ExitInfo& exit, bool stop_requested, int attempts,
                              Duration ran_for);

}  // namespace privcast::supervisor
