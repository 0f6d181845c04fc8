// Fly-Replay (docs/proxy.md "Fly-Replay", docs/adr/0017-fly-replay.md): an app answers a
// request with a `fly-replay` response header and the proxy, instead of returning that response,
// sends the same request again where the header says — another region, a given machine, another
// app of the same org, or any machine but the one that answered — with a `fly-replay-src` field
// telling the new target where it came from.
//
// This file is the pure part: parsing the header, the fly-replay-src value, the head with that
// field, and applying a directive to a Session's routing context (hints, tried machines, app /
// service). The sessions (HttpSession, H2Stream) keep the request bytes (head + body up to
// kReplayBodyLimit) until the response head arrives and call ApplyReplay when it carries
// `fly-replay`; the worker routes the session again as for any request.
//
// Header grammar (Fly's): `key=value` fields separated by `;` (whitespace around fields and `=`
// ignored, values optionally double-quoted). Keys: region (a comma list, tried in order; `any` =
// any region, the earlier ones preferred), instance, prefer_instance, app, elsewhere (true/false),
// state (copied into fly-replay-src). Unknown keys (Fly's timeout, fallback, ...) are ignored.
// A header naming no target at all (no region/instance/prefer_instance/app/elsewhere) is an error.
//
// Isolation: `app=` resolves only to an app of the *same org* as the app that answered; an app of
// another org is answered exactly like a name that does not exist (no probing across orgs).
//
// Thread-safety: pure functions; ApplyReplay mutates only the session it is given (loop thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/snapshot.h"

namespace privcast::proxy {

class Session;
struct MachineState;

// Fly replays requests whose body fits in 1 MB; larger ones are answered with an error.
inline constexpr size_t kReplayBodyLimit = 1024 * 1024;
// A request replayed this many times that is answered with fly-replay again is a loop: error.
inline constexpr int kMaxReplays = 5;
// The name of the response field (lowercase) and of the request field added on a replay.
inline constexpr std::string_view kFlyReplay = "fly-replay";
inline constexpr std::string_view kFlyReplaySrc = "fly-replay-src";

struct ReplayDirective {
  std::string region;           // as given: comma list
  std::string instance;         // force this machine id
  std::string prefer_instance;  // prefer this machine id
  std::string app;              // another app of the same org
  std::string state;            // opaque, echoed in fly-replay-src
  bool elsewhere = false;       // any machine but the one that answered
};

// Parses a fly-replay value. false (with *error set) when malformed or naming no target.
[[nodiscard]] bool ParseReplay(std::string_view value, ReplayDirective* out, std::string* error);

// "instance=<id>;region=<region>;t=<unix µs>[;state=<state>]" (Fly's fly-replay-src).
[[nodiscard]] std::string ReplaySource(std::string_view instance, std::string_view region, int64_t t_us,
                                       std::string_view state);

// `bytes` starts with an HTTP/1 request head (ending in CRLF CRLF) possibly followed by body
// bytes: returns the same bytes with any fly-replay-src field of the head removed and
// "fly-replay-src: <src>" added as the head's last field.
[[nodiscard]] std::string WithReplaySource(std::string_view bytes, std::string_view src);

// Why a replay is not done (the client gets `status` and a Privcast-Replay-Error: <reason>).
struct ReplayFailure {
  int status = 0;  // 0: no failure
  const char* reason = "";
};

// Points the session at the directive's target, in the session's own RoutingState: `app=`
// (same org only) changes app_index/svc/port (the service serving the dialled port, else the
// app's first http service) and drops a per-service scope; region/instance/prefer_instance
// replace the request's routing hints; elsewhere adds `answered` to the tried machines. Bumps
// the session's replay count. The caller has released the answering machine's lease and routes
// the session again when this returns {0}.
[[nodiscard]] ReplayFailure ApplyReplay(Session* s, const ReplayDirective& d, const MachineState* answered);

// The whole decision for a session whose machine `answered` with `fly-replay: <value>`: parse,
// the fly-replay-src value for the replayed request (*src), ApplyReplay. The caller has
// released the answering machine's lease (and still holds `answered` alive).
[[nodiscard]] ReplayFailure PrepareReplay(Session* s, std::string_view value, const MachineState* answered,
                                          std::string* src);

// The target app of `app=` seen from `from`: same org only (nullptr for an unknown name and for
// an app of another org alike).
[[nodiscard]] const AppView* ResolveReplayApp(const Snapshot& snap, const AppView& from, std::string_view name);

}  // namespace privcast::proxy
