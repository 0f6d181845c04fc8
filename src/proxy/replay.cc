#include "proxy/replay.h"

#include <algorithm>
#include <chrono>

#include "common/strings.h"
#include "proxy/balancer.h"
#include "proxy/codec/http1.h"
#include "proxy/state.h"
#include "proxy/worker.h"

namespace privcast::proxy {
namespace {

using codec::EqualsIgnoreCase;

// A value must stay one header field: no control characters (CR/LF would split the head).
bool PlainValue(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Does `app` have a machine in `region` that serves `svc` (any state: a stopped one is woken)?
bool HasMachineIn(const Snapshot& snap, const AppView& app, const ServiceSpec& svc, std::string_view region) {
  for (uint32_t i : app.machines) {
    const MachineView& m = snap.machines[i];
    if (m.region == region && ServesService(m, svc)) return true;
  }
  return false;
}

// The service of `app` that a replay lands on: the one serving the dialled port, else the first
// service with an http handler on some port.
bool PickService(const AppView& app, uint16_t lport, const ServiceSpec** svc, const PortSpec** port) {
  for (const ServiceSpec& s : app.services)
    for (const PortSpec& p : s.ports)
      if (lport >= p.start_port && lport <= p.end_port) {
        *svc = &s;
        *port = &p;
        return true;
      }
  for (const ServiceSpec& s : app.services)
    for (const PortSpec& p : s.ports)
      if (p.http) {
        *svc = &s;
        *port = &p;
        return true;
      }
  return false;
}

}  // namespace

bool ParseReplay(std::string_view value, ReplayDirective* out, std::string* error) {
  *out = ReplayDirective{};
  bool any_target = false;
  while (!value.empty()) {
    size_t semi = value.find(';');
    std::string_view field = Trim(value.substr(0, semi));
    value = semi == std::string_view::npos ? std::string_view{} : value.substr(semi + 1);
    if (field.empty()) continue;
    size_t eq = field.find('=');
    if (eq == std::string_view::npos) {
      *error = "field without '=': " + std::string(field);
      return false;
    }
    std::string_view key = Trim(field.substr(0, eq));
    std::string_view v = Trim(field.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (!PlainValue(v)) {
      *error = "control character in " + std::string(key);
      return false;
    }
    if (EqualsIgnoreCase(key, "region")) {
      out->region.assign(v);
      any_target |= !v.empty();
    } else if (EqualsIgnoreCase(key, "instance")) {
      out->instance.assign(v);
      any_target |= !v.empty();
    } else if (EqualsIgnoreCase(key, "prefer_instance")) {
      out->prefer_instance.assign(v);
      any_target |= !v.empty();
    } else if (EqualsIgnoreCase(key, "app")) {
      out->app.assign(v);
      any_target |= !v.empty();
    } else if (EqualsIgnoreCase(key, "state")) {
      out->state.assign(v);
    } else if (EqualsIgnoreCase(key, "elsewhere")) {
      if (EqualsIgnoreCase(v, "true")) out->elsewhere = true;
      else if (!EqualsIgnoreCase(v, "false")) {
        *error = "elsewhere must be true or false";
        return false;
      }
      any_target |= out->elsewhere;
    }
    // Other keys (Fly's timeout, fallback, ...) are not implemented and ignored.
  }
  if (!any_target) {
    *error = "no region, instance, prefer_instance, app or elsewhere";
    return false;
  }
  return true;
}

std::string ReplaySource(std::string_view instance, std::string_view region, int64_t t_us, std::string_view state) {
  std::string s;
  s.reserve(48 + instance.size() + region.size() + state.size());
  s.append("instance=").append(instance).append(";region=").append(region).append(";t=").append(std::to_string(t_us));
  if (!state.empty()) s.append(";state=").append(state);
  return s;
}

std::string WithReplaySource(std::string_view bytes, std::string_view src) {
  size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) return std::string(bytes);  // not a head: unchanged
  std::string out;
  out.reserve(bytes.size() + src.size() + 24);
  // Copy the head line by line (CRLF kept), without an earlier fly-replay-src.
  size_t pos = 0;
  while (pos < end + 2) {
    size_t eol = bytes.find("\r\n", pos);
    std::string_view line = bytes.substr(pos, eol + 2 - pos);
    size_t colon = line.find(':');
    bool drop = pos > 0 && colon != std::string_view::npos &&
                EqualsIgnoreCase(Trim(line.substr(0, colon)), kFlyReplaySrc);
    if (!drop) out.append(line);
    pos = eol + 2;
  }
  out.append("fly-replay-src: ").append(src).append("\r\n\r\n");
  out.append(bytes.substr(end + 4));
  return out;
}

const AppView* ResolveReplayApp(const Snapshot& snap, const AppView& from, std::string_view name) {
  const AppView* a = snap.FindApp(name);
  if (!a || a->org != from.org) return nullptr;
  return a;
}

ReplayFailure PrepareReplay(Session* s, std::string_view value, const MachineState* answered, std::string* src) {
  ReplayDirective d;
  std::string error;
  if (!ParseReplay(value, &d, &error)) return {502, "malformed fly-replay"};
  const Snapshot& snap = *s->rs->snap;
  std::string_view id = answered ? std::string_view(answered->id) : std::string_view();
  std::string_view region = snap.local_region;
  if (auto it = snap.machine_by_id.find(std::string(id)); answered && it != snap.machine_by_id.end())
    region = snap.machines[it->second].region;
  int64_t t_us = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  *src = ReplaySource(id, region, t_us, d.state);
  return ApplyReplay(s, d, answered);
}

ReplayFailure ApplyReplay(Session* s, const ReplayDirective& d, const MachineState* answered) {
  if (s->replays >= kMaxReplays) return {502, "too many replays"};
  const Snapshot& snap = *s->rs->snap;
  const AppView* app = &snap.apps[s->app_index];
  if (!d.app.empty() && d.app != app->name) {
    const AppView* target = ResolveReplayApp(snap, *app, d.app);
    const ServiceSpec* svc = nullptr;
    const PortSpec* port = nullptr;
    if (!target) return {502, "unknown app"};
    if (!PickService(*target, PortOf(s->local), &svc, &port)) return {502, "app has no http service"};
    s->app_index = target->index;
    s->svc = svc;
    s->port = port;
    s->svc_state = nullptr;  // a per-service scope belongs to the first app
    s->tried.clear();        // machines of the first app
    app = target;
  }
  ++s->replays;
  // The replay's target replaces the client's own fly-* routing hints.
  for (auto* h : {&s->hints.prefer_region, &s->hints.force_region, &s->hints.prefer_instance, &s->hints.force_instance})
    *h = {};
  auto set = [s](int slot, std::string_view v, std::string_view* hint) {
    s->hint_storage[slot].assign(v);
    *hint = s->hint_storage[slot];
  };
  if (!d.region.empty()) {
    std::string_view list = d.region, first, chosen;
    bool any = false;
    while (!list.empty()) {
      size_t c = list.find(',');
      std::string_view r = Trim(list.substr(0, c));
      list = c == std::string_view::npos ? std::string_view{} : list.substr(c + 1);
      if (r.empty()) continue;
      if (r == "any") {
        any = true;
        break;
      }
      if (first.empty()) first = r;
      if (chosen.empty() && HasMachineIn(snap, *app, *s->svc, r)) chosen = r;
    }
    if (!chosen.empty()) set(1, chosen, &s->hints.force_region);             // the first listed region that has one
    else if (any && !first.empty()) set(0, first, &s->hints.prefer_region);  // else anywhere
    else if (!first.empty()) set(1, first, &s->hints.force_region);          // none: routing answers 503
  }
  if (!d.instance.empty()) set(3, d.instance, &s->hints.force_instance);
  if (!d.prefer_instance.empty()) set(2, d.prefer_instance, &s->hints.prefer_instance);
  if (d.elsewhere && answered) s->tried.push_back(answered);
  return {};
}

}  // namespace privcast::proxy
