// The machine routes' handlers (list, show, create and run — attached with --shell —,
// start/stop/suspend, destroy, wait); the table in routes.cc routes to them.
#include <algorithm>

#include "api/machine_wait.h"
#include "api/route_base.h"
#include "api/volume_routes.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "common/strings.h"
#include "common/thread_annotations.h"
#include "config/app_config.h"

namespace privcast::api {
namespace {

using nlohmann::json;
using store::MachineState;

bool In(MachineState s, std::initializer_list<MachineState> set) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

class MachineRoutes : public RouteBase {
 public:
  using RouteBase::RouteBase;

  void ListMachines(const std::string& app) {
    if (!App(app)) return;
    auto r = reg_->ListMachines(app);
    if (!r.ok()) return Fail(ex_, r.status());
    Reply(ex_, 200, List(*r));
  }

  void GetMachine(const std::string& app, const std::string& id) {
    if (!App(app)) return;
    auto m = MachineOf(app, id);
    if (!m) return;
    Reply(ex_, 200, ToJson(*m));
  }

  store::MachineSpec SpecFrom(const store::App& a, const MachineRequest& q, bool adhoc) {
    store::MachineSpec spec;
    spec.app = a.name;
    spec.region = q.region;
    spec.process_group = q.process_group;
    spec.release_version = (adhoc || !q.cmd.empty()) ? 0 : a.current_release;
    spec.cmd = q.cmd;
    spec.env = q.env;
    spec.auto_destroy = q.rm || q.shell;
    spec.carries_services = q.services && !spec.auto_destroy;  // a throwaway machine is a client
    spec.org = q.org;
    spec.network = q.network;
    return spec;
  }

  void CreateMachine(const std::string& app, bool run) {
    auto a = App(app);
    if (!a) return;
    auto q = DecodeMachine(req_.body, run);
    if (!q.ok()) return Fail(ex_, q.status());
    if (!q->region.empty() && !ids::IsRegionCode(q->region))
      return Fail(ex_, 400, "field 'region': '" + q->region + "' is not a region code (3 lowercase letters, e.g. ams)");
    if (!run && q->cmd.empty() && q->image.empty() && a->current_release == 0)
      return Fail(ex_, 400, "app '" + app + "' has no release yet: deploy it first, or give field 'cmd'");
    auto spec = SpecFrom(*a, *q, run);
    if (!q->volume.empty()) {
      if (std::string why = config::CheckMountDestination(q->volume_path); !why.empty())
        return Fail(ex_, 400, "field 'mounts': path '" + q->volume_path + "': destination " + why);
      auto vol = ResolveMachineVolume(reg_, app, q->volume);
      if (!vol.ok()) return Fail(ex_, vol.status());
      spec.volume_id = *vol;
      spec.volume_path = q->volume_path;
    }
    if (!q->image.empty()) {
      auto img = backend_->EnsureImage(q->image);
      if (!img.ok()) return Fail(ex_, img.status());
      spec.image = img->ref.empty() ? img->id : img->ref;
      spec.image_id = img->id;
    }
    if (!q->shell) {
      if (!ex_.TakeFds().empty())
        return Fail(ex_, 400, "file descriptors are taken only with \"shell\": true (machine run --shell)");
      auto m = backend_->RunMachine(spec);
      if (!m.ok()) return Fail(ex_, m.status());
      return Reply(ex_, 201, ToJson(*m));
    }
    RunAttached(spec, *q);
  }

  void RunAttached(const store::MachineSpec& spec, const MachineRequest& q) {
    auto fds = ex_.TakeFds();
    if (fds.size() != 3 && !(fds.size() == 4 && q.tty))
      return Fail(ex_, 400,
                  "field 'shell': the request must carry stdin, stdout and stderr (3 file descriptors by "
                  "SCM_RIGHTS, and with 'tty' optionally a 4th: the read end of a window-resize pipe), got " +
                      std::to_string(fds.size()) + (fds.size() == 4 ? " without 'tty'" : ""));
    AttachedStdio io;
    io.in = std::move(fds[0]);
    io.out = std::move(fds[1]);
    io.err = std::move(fds[2]);
    if (fds.size() == 4) io.resize = std::move(fds[3]);
    io.tty = q.tty;
    io.rows = q.rows;
    io.cols = q.cols;
    // on_started may run on another thread (the daemon's) while RunAttached blocks this one:
    // the stream's start is under a lock (GUARDED_BY needs a member, hence the struct).
    struct {
      Mutex mu;
      bool streaming GUARDED_BY(mu) = false;
    } out;
    auto on_started = [&](const store::Machine& m) {
      MutexLock l(&out.mu);
      if (out.streaming) return;
      out.streaming = ex_.BeginStream(200, "application/x-ndjson");
      if (out.streaming) ex_.WriteChunk(Dump(json{{"event", "started"}, {"machine", ToJson(m)}}) + "\n");
    };
    auto r = backend_->RunAttached(spec, std::move(io), ex_.watch(), on_started);
    MutexLock l(&out.mu);
    if (!out.streaming) {
      if (!r.ok()) return Fail(ex_, r.status());
      out.streaming = ex_.BeginStream(200, "application/x-ndjson");
    }
    if (r.ok()) {
      ex_.WriteChunk(Dump(json{{"event", "exit"}, {"exit_code", *r}}) + "\n");
    } else {
      ex_.WriteChunk(
          Dump(
              json{{"event", "error"}, {"status", HttpStatusFor(r.status().code())}, {"error", r.status().message()}}) +
          "\n");
    }
    ex_.EndStream();
  }

  void Lifecycle(const std::string& app, const std::string& id, const std::string& verb) {
    if (!App(app)) return;
    auto m = MachineOf(app, id);
    if (!m) return;
    MachineState to;
    std::string event;
    if (verb == "start") {
      if (In(m->state, {MachineState::kStarted, MachineState::kStarting})) return Reply(ex_, 200, ToJson(*m));
      to = MachineState::kStarting;
      event = "start requested";
    } else if (verb == "stop") {
      if (In(m->state, {MachineState::kStopped, MachineState::kStopping})) return Reply(ex_, 200, ToJson(*m));
      to = MachineState::kStopping;
      event = "stop requested";
    } else {
      if (In(m->state, {MachineState::kSuspended, MachineState::kSuspending})) return Reply(ex_, 200, ToJson(*m));
      if (m->state != MachineState::kStarted)
        return Fail(ex_, 409,
                    "machine " + id + " is " + store::MachineStateName(m->state) +
                        ": only a started machine can be suspended (start it first)");
      to = MachineState::kSuspending;
      event = "suspend requested";
    }
    if (In(m->state, {MachineState::kDestroying, MachineState::kDestroyed}))
      return Fail(ex_, 409, "machine " + id + " is " + store::MachineStateName(m->state) + ": cannot " + verb + " it");
    auto t = reg_->TransitionMachine(id, {m->state}, to, event);
    if (!t.ok()) return Fail(ex_, t.status());
    Reply(ex_, 200, ToJson(*t));
  }

  void DestroyMachine(const std::string& app, const std::string& id) {
    if (!App(app)) return;
    auto m = MachineOf(app, id);
    if (!m) return;
    bool force = Truthy(req_.Query("force"));
    if (In(m->state, {MachineState::kDestroying, MachineState::kDestroyed})) return Reply(ex_, 200, ToJson(*m));
    if (!force && !In(m->state, {MachineState::kStopped, MachineState::kCreated, MachineState::kSuspended,
                                 MachineState::kFailed}))
      return Fail(ex_, 409,
                  "machine " + id + " is " + store::MachineStateName(m->state) +
                      ": stop it first, or destroy with force (privcast machine destroy --force)");
    auto t = reg_->TransitionMachine(id, {m->state}, MachineState::kDestroying,
                                     force ? "destroy requested (force)" : "destroy requested");
    if (!t.ok()) return Fail(ex_, t.status());
    Reply(ex_, 200, ToJson(*t));
  }

  void Wait(const std::string& app, const std::string& id) {
    if (!App(app)) return;
    std::string state = "started";
    if (auto* s = req_.Query("state")) state = *s;
    auto target = store::ParseMachineState(state);
    if (!target) return Fail(ex_, 400, "query 'state': unknown machine state '" + state + "'");
    std::optional<store::Machine> m;
    if (*target == MachineState::kDestroyed) {
      // A destroyed machine's record may already be gone: that is the state reached. Use this
      // one read (a second lookup could race with the daemon deleting the record).
      auto g = reg_->GetMachine(id);
      if (!g.ok() && g.status().code() == Code::kNotFound)
        return Reply(ex_, 200, {{"id", id}, {"app", app}, {"state", "destroyed"}});
      if (g.ok() && g->app == app) m = *g;
    }
    if (!m) m = MachineOf(app, id);
    if (!m) return;
    int64_t secs = 60;
    if (auto* t = req_.Query("timeout")) {
      auto n = ParseDecimal<int64_t>(*t);
      if (!n || *n < 0) return Fail(ex_, 400, "query 'timeout': expected whole seconds, got '" + *t + "'");
      secs = *n;
    }
    Duration timeout = std::min<Duration>(std::chrono::seconds(secs), opts_->max_wait);
    // Waiting for `started` ends at `failed` too: the start failed and nothing will retry it.
    std::vector<MachineState> states = {*target};
    if (*target == MachineState::kStarted) states.push_back(MachineState::kFailed);
    auto r = WaitForMachineState(reg_, id, states, timeout, ex_.watch(), *opts_->clock);
    if (r.ok()) return Reply(ex_, 200, ToJson(*r));
    if (r.status().code() == Code::kNotFound && *target == MachineState::kDestroyed) {
      json j = ToJson(*m);
      j["state"] = "destroyed";
      return Reply(ex_, 200, j);
    }
    if (r.status().code() == Code::kUnavailable) return Fail(ex_, 408, r.status().message());
    Fail(ex_, r.status());
  }
};

}  // namespace

void ListMachinesRoute(RouteCall& c) { MachineRoutes(c).ListMachines(c.params[0]); }
void GetMachineRoute(RouteCall& c) { MachineRoutes(c).GetMachine(c.params[0], c.params[1]); }
void CreateMachineRoute(RouteCall& c) { MachineRoutes(c).CreateMachine(c.params[0], false); }
void RunMachineRoute(RouteCall& c) { MachineRoutes(c).CreateMachine(c.params[0], true); }
void StartMachineRoute(RouteCall& c) { MachineRoutes(c).Lifecycle(c.params[0], c.params[1], "start"); }
void StopMachineRoute(RouteCall& c) { MachineRoutes(c).Lifecycle(c.params[0], c.params[1], "stop"); }
void SuspendMachineRoute(RouteCall& c) { MachineRoutes(c).Lifecycle(c.params[0], c.params[1], "suspend"); }
void DestroyMachineRoute(RouteCall& c) { MachineRoutes(c).DestroyMachine(c.params[0], c.params[1]); }
void WaitMachineRoute(RouteCall& c) { MachineRoutes(c).Wait(c.params[0], c.params[1]); }

}  // namespace privcast::api
