// AppEvents: the per-app event log shown by `privcast logs` next to machine output —
// proxy events ("Starting machine 3d8d…", "machine 3d8d… started in 412 ms",
// "stopping 3d8d… (idle 300s)"), lifecycle transitions and deploy warnings.
//
// One append-only file per app (<data-dir>/apps/<app>/events.log), one line per event:
//   2026-11-22T03:10:00.123Z proxy Starting machine 3d8d9e1b4f2e89
// Thread-safe (a mutex around the append; each line is one write).
#pragma once

#include <string>

#include "common/clock.h"
#include "common/mutex.h"

namespace privcast::daemon {

class AppEvents {
 public:
  AppEvents(std::string apps_dir, const Clock* clock) : apps_dir_(std::move(apps_dir)), clock_(clock) {}
  // source: "proxy", "machine <id>", "deploy"...
  void Append(const std::string& app, const std::string& source, const std::string& text);
  std::string PathFor(const std::string& app) const { return apps_dir_ + "/" + app + "/events.log"; }
  int64_t NowMs() const { return clock_->WallUnixMillis(); }  // the events' clock

  static std::string IsoTime(int64_t unix_ms);

 private:
  std::string apps_dir_;
  const Clock* clock_;
  Mutex mu_;
};

}  // namespace privcast::daemon
