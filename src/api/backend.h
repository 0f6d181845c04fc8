// api::Backend: everything the control-plane API needs from the daemon that the Registry
// alone cannot give it. The daemon (src/daemon) implements it; tests use a fake.
//
// What the API does by itself, through the Registry: orgs, networks, apps, IP assignments,
// storing releases, recording lifecycle intent (TransitionMachine to starting / stopping /
// suspending / destroying) and waiting for a machine to reach a state (it watches the
// Store's revisions). What goes through this interface: acting on a deploy (reconcile the
// app's machines to a release), scaling, running ad-hoc machines (detached, or attached to
// the CLI's stdio), streaming logs, per-machine live data (load, checks) and metrics text.
//
// Threading: the API server calls every method from its per-connection threads, possibly
// concurrently; implementations must be thread-safe. Blocking methods (RunAttached,
// StreamLogs with follow) block only the calling connection thread and must return soon
// after `client.Gone()` turns true or Server::Stop() is called (client.Gone() turns true
// then too). No exceptions: errors are Status values whose Code the API maps to HTTP.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/result.h"
#include "store/model.h"
#include "store/registry.h"

namespace privcast::api {

// Tells a long-running backend call whether the API client is still there. Gone() is cheap
// (a non-blocking poll of the connection) and thread-safe; fd() may be added to a poll set
// (POLLIN|POLLRDHUP: readable/hang-up means the client went away or the server is stopping).
class ClientWatch {
 public:
  virtual ~ClientWatch() = default;
  virtual bool Gone() const = 0;
  virtual int fd() const = 0;
};

struct DeployOptions {
  bool ha = true;        // 2 machines per process group with services; false: 1
  bool flycast = false;  // the API has already made sure a flycast address exists
  // deploy --region: the machines per process group are in each of these regions (placed on
  // their hosts); empty: the daemon's region, as before.
  std::vector<std::string> regions;
};

struct DeployResult {
  std::vector<std::string> warnings;     // appended to the config's own warnings
  std::vector<store::Machine> machines;  // the app's machines after reconciling
  // Machines that could not start (state `failed`) and each distinct reason once, naming its
  // machines. Any failure fails the deploy (like flyctl): the API answers 422.
  int failed = 0;
  std::vector<std::string> errors;
};

// The stdio of an attached machine (machine run --shell), received from the CLI by
// SCM_RIGHTS. tty=false: pipes (or files), handed to the machine's process as its
// stdin/stdout/stderr as they are. tty=true: they are the user's terminal, which the CLI
// put in raw mode; the machine gets a pty of its own, rows×cols, relayed to them, and
// `resize` (optional: the read end of a pipe the CLI writes a byte to on SIGWINCH) says
// when to copy the terminal's new size to the pty (docs/api.md, docs/cli.md).
struct AttachedStdio {
  UniqueFd in, out, err;
  UniqueFd resize;
  bool tty = false;
  uint16_t rows = 0, cols = 0;
};

// One health check of a machine, as the proxy's checker last saw it.
struct MachineCheck {
  std::string name;    // servicecheck-00-tcp-8080
  std::string status;  // passing | critical | pending (no result yet) | not running
};

// Live, non-stored facts about a machine (for `status`).
struct MachineLive {
  int64_t load = 0;  // open connections or in-flight requests
  // "no checks" (its services have none, or it carries no services), "2 total, 1 passing,
  // 1 critical", "1 total, not running"; empty: unknown.
  std::string checks;
  std::vector<MachineCheck> check_list;
};

struct LogOptions {
  bool follow = false;
  std::string machine_id;  // empty: every machine of the app and the proxy's events
  std::string region;      // non-empty: only machines of this region (no proxy events)
  int64_t tail = 100;      // lines of history before following (0 = none)
};

// An image of the local store (docs/images.md), as the API shows it.
struct ImageView {
  std::string id;                 // "sha256:<config digest>"
  std::vector<std::string> refs;  // canonical references naming it
  uint64_t size = 0;              // bytes of its layers as fetched
  size_t layers = 0;
  int64_t created_at = 0;  // unix seconds of its first pull
  std::vector<uint16_t> exposed_tcp_ports;
  bool in_use = false;          // a machine was created from it
  std::string ref;              // Pull/Ensure: the canonical form of the reference asked for
  std::string manifest_digest;  // "sha256:..." of the manifest it was pulled as
};

class Backend {
 public:
  virtual ~Backend() = default;

  // The image store. Pull always fetches; Ensure fetches only what the store lacks (both
  // block for as long as the transfer takes). Remove untags, or removes an image no
  // machine uses; Prune removes every image no machine uses.
  virtual Result<ImageView> PullImage(const std::string&) { return FailedPrecondition("no image store"); }
  virtual Result<ImageView> EnsureImage(const std::string&) { return FailedPrecondition("no image store"); }
  // Deploys: the image the reference names now at its source (a tag that moved is fetched;
  // a digest reference is Ensured). See images::ImageStore::Resolve.
  virtual Result<ImageView> ResolveImage(const std::string& ref) { return EnsureImage(ref); }
  virtual Result<std::vector<ImageView>> ListImages() { return std::vector<ImageView>{}; }
  virtual Status RemoveImage(const std::string&) { return FailedPrecondition("no image store"); }
  virtual Result<std::vector<ImageView>> PruneImages() { return std::vector<ImageView>{}; }

  // A release was stored and became the app's current one: create/update/replace the app's
  // machines to match it (2 per process group with services, 1 without ha). May block until
  // the machines are created (not necessarily started). Returns extra warnings (e.g. an app
  // listening only on its 6PN address) and the machines after reconciling.
  virtual Result<DeployResult> Deploy(const store::App& app, const store::Release& release,
                                      const DeployOptions& opts) = 0;

  // Before a validated config is stored as a release: can this host run it at all? (Every
  // process group's command must exist inside a machine.) An error refuses the deploy with
  // that message and nothing changes. Default: nothing to check.
  virtual Status CheckConfig(const store::App& app, const std::string& config_json) {
    (void)app;
    (void)config_json;
    return Status::Ok();
  }

  // App secrets (ADR 0012): the value sealed under the daemon's key, with its digest. The
  // API stores only what this returns. Default: this daemon keeps no secrets key.
  virtual Result<store::Secret> SealSecret(const std::string& app, const std::string& name, const std::string& value) {
    (void)app;
    (void)name;
    (void)value;
    return FailedPrecondition("this privcastd keeps no secrets key");
  }

  // ssh console: run `cmd` inside the running machine `m` (its namespaces, cgroups and
  // sandbox; no server in the image), with `stdio` as for RunAttached (tty: a pty relayed to
  // the user's terminal), `env` on top of the machine's environment. Blocks until the program
  // exits (or client.Gone(): then kills it) and returns its status (0..255; 128+signal).
  // FailedPrecondition when the machine is not running.
  virtual Result<int> Console(const store::Machine& m, const std::vector<std::string>& cmd,
                              const std::vector<std::pair<std::string, std::string>>& env, AttachedStdio stdio,
                              const ClientWatch& client) {
    (void)m;
    (void)cmd;
    (void)env;
    (void)stdio;
    (void)client;
    return FailedPrecondition("this privcastd cannot enter machines");
  }

  // apps destroy: tear the app down — its machines first (each marked destroying, then
  // waited for until destroyed, within 60 s all together; a client that leaves ends the
  // wait), then the app's record. Blocks meanwhile. Unavailable ("... still being destroyed
  // ...; try again") when a machine is not gone by then: the app stays, retrying is safe.
  virtual Status DestroyApp(const store::App& app, const ClientWatch& client) = 0;

  // Make the app have `count` machines (per process group of its current release); with
  // `regions`, `count` in each of them (placed on their hosts), other regions untouched.
  virtual Result<std::vector<store::Machine>> Scale(const store::App& app, int count,
                                                    const std::vector<std::string>& regions) = 0;

  // Create and start an ad-hoc machine (machine run without --shell). Returns it created.
  virtual Result<store::Machine> RunMachine(const store::MachineSpec& spec) = 0;

  // machine run --shell: create a machine with spec (auto_destroy set), attach `stdio`,
  // start it, call `on_started` once it runs, block until it exits (or client.Gone(): then
  // kill it), destroy it, and return its exit status (0..255; 128+signal when killed).
  virtual Result<int> RunAttached(const store::MachineSpec& spec, AttachedStdio stdio, const ClientWatch& client,
                                  const std::function<void(const store::Machine&)>& on_started) = 0;

  // Write log lines (each without its trailing newline, formatted for people:
  // "<ISO time> <machine id|proxy> <text>") to `sink` until history is exhausted, or, with
  // follow, until client.Gone() or `sink` returns false. Unknown app → NotFound.
  virtual Status StreamLogs(const store::App& app, const LogOptions& opts, const ClientWatch& client,
                            const std::function<bool(std::string_view line)>& sink) = 0;

  // Live facts for the app's machines, keyed by machine id (missing ids: zero load, no checks).
  virtual std::map<std::string, MachineLive> Live(const store::App& app) = 0;

  // Prometheus text exposition format for GET /metrics.
  virtual std::string MetricsText() = 0;
};

}  // namespace privcast::api
