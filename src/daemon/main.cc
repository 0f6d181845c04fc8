// privcastd: foreground daemon. Logs to stderr. SIGTERM drains and exits 0; SIGINT exits fast.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>

#include "common/log.h"
#include "daemon/daemon.h"
#include "daemon/migrate.h"
#include "daemon/options.h"
#include "daemon/uninstall.h"

int main(int argc, char** argv) {
  using namespace privcast;
  int code = 0;
  if (argc > 1 && std::strcmp(argv[1], "migrate") == 0) return daemon::RunMigrate(argc - 1, argv + 1);
  auto opts = daemon::ParseDaemonArgs(argc, argv, &code);
  if (!opts) return code;
  if (opts->log_level == "debug") log::SetMinLevel(log::Level::kDebug);
  else if (opts->log_level == "warn") log::SetMinLevel(log::Level::kWarn);
  else if (opts->log_level == "error") log::SetMinLevel(log::Level::kError);

  // Machines hold file descriptors here (pidfds, probe sockets): allow what the host allows.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &nofile);
  }

  // Every thread inherits this mask; only main receives the signals, through sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (opts->uninstall) {
    auto done = daemon::Uninstall(opts->data_dir);
    if (!done.ok()) {
      std::fprintf(stderr, "Error: %s\n", done.status().message().c_str());
      return 1;
    }
    std::fprintf(stderr, "privcastd: %s\n", done->c_str());
    return 0;
  }

  auto d = daemon::Daemon::Create(*opts);
  if (!d.ok()) {
    std::fprintf(stderr, "Error: %s\n", d.status().message().c_str());
    return 1;
  }
  auto st = (*d)->Start();
  if (!st.ok()) {
    log::Error("daemon", "cannot start", {{"error", st.message()}});
    std::fprintf(stderr, "Error: %s\n", st.message().c_str());
    (*d)->Stop(false);
    return 1;
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) continue;
    log::Info("daemon", "signal", {{"signal", strsignal(sig)}});
    (*d)->Stop(/*drain=*/sig == SIGTERM);
    return 0;
  }
}
