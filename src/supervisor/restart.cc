#include "supervisor/restart.h"

namespace privcast::supervisor {

Duration BackoffDelay(const RestartPolicy& p, int attempt) {
  if (attempt < 0) attempt = 0;
  Duration d = p.initial_backoff;
  if (d <= Duration::zero()) return Duration::zero();
  for (int i = 0; i < attempt; ++i) {
    if (d >= p.max_backoff / 2) return p.max_backoff;  // doubling would pass the cap
    d *= 2;
  }
  return d < p.max_backoff ? d : p.max_backoff;
}

RestartDecision DecideRestart(const RestartPolicy& p, const ExitInfo& exit, bool stop_requested, int attempts,
                              Duration ran_for) {
  RestartDecision d;
  if (ran_for >= p.reset_after) attempts = 0;
  d.attempts_after = attempts;
  if (stop_requested) return d;
  switch (p.mode) {
    case RestartMode::kNever:
      return d;
    case RestartMode::kOnFailure:
      if (exit.success()) return d;
      break;
    case RestartMode::kAlways:
      break;
  }
  if (attempts >= p.max_retries) return d;
  d.restart = true;
  d.delay = BackoffDelay(p, attempts);
  d.attempt = attempts + 1;
  d.attempts_after = attempts + 1;
  return d;
}

}  // namespace privcast::supervisor
